-- src/sql/code/rights.sql: statements run as a table's owner (owner_exec, owner_exec_value) and the located rows of a statement (locate_rows): the boundary of doc/security.md

CREATE FUNCTION privacy.owner_exec(rel pg_catalog.regclass, statement text, tids pg_catalog.tid[], subject text)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, pg_catalog.tid[], text) IS
    'internal: run one statement ($1 the rows'' ctids, $2 the subject) as the owner of the table, so that its triggers and defaults never run with the extension owner''s rights';
-- Runs SQL as another role: only the extension's own functions (it checks).
REVOKE ALL ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, pg_catalog.tid[], text) FROM PUBLIC;

CREATE FUNCTION privacy.locate_rows(statement text, subject text, OUT parts oid[], OUT tids pg_catalog.tid[])
    AS 'MODULE_PATHNAME', 'privacy_locate_rows'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.locate_rows(text, text) IS
    'internal: run a statement ($1 the subject) that returns (tableoid, ctid) rows, with a plan kept per backend; the rows as two arrays';
-- Runs SQL: only the extension's own functions (it checks).
REVOKE ALL ON FUNCTION privacy.locate_rows(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.owner_exec_value(rel pg_catalog.regclass, statement text, tids pg_catalog.tid[], subject text)
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, pg_catalog.tid[], text) IS
    'internal: owner_exec, returning the first column of the statement''s first row as text';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, pg_catalog.tid[], text) FROM PUBLIC;
