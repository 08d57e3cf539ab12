-- src/sql/code/rights.sql: the one place through which every statement on a user's table goes: owner_exec, owner_exec_value, owner_rows run it as the table's owner (doc/security.md)

CREATE FUNCTION privacy.owner_exec(rel pg_catalog.regclass, statement text, tids pg_catalog.tid[], subject text)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, pg_catalog.tid[], text) IS
    'internal: run one statement ($1 the rows'' ctids, $2 the subject) on a table as its owner, in a restricted security context with row_security off, so that the table''s triggers, defaults, checks, casts and operators never run with the extension owner''s rights; refuses a relation that is no longer a table and a table that forces row-level security on its owner';
-- Runs SQL as another role: only the extension's own functions (it checks).
REVOKE ALL ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, pg_catalog.tid[], text) FROM PUBLIC;

CREATE FUNCTION privacy.owner_exec(rel pg_catalog.regclass, statement text, args text[])
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, text[]) IS
    'internal: owner_exec with $1 an array of text arguments (the statement converts them)';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, text[]) FROM PUBLIC;

CREATE FUNCTION privacy.owner_exec_value(rel pg_catalog.regclass, statement text, tids pg_catalog.tid[], subject text)
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, pg_catalog.tid[], text) IS
    'internal: owner_exec, returning the first column of the statement''s first row as text';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, pg_catalog.tid[], text) FROM PUBLIC;

CREATE FUNCTION privacy.owner_exec_value(rel pg_catalog.regclass, statement text, args text[])
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, text[]) IS
    'internal: owner_exec_value with $1 an array of text arguments (the statement converts them)';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, text[]) FROM PUBLIC;

CREATE FUNCTION privacy.owner_rows(rel pg_catalog.regclass, statement text, args text[])
    RETURNS TABLE (part oid, tid pg_catalog.tid, vals text[])
    AS 'MODULE_PATHNAME', 'privacy_owner_rows'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_rows(pg_catalog.regclass, text, text[]) IS
    'internal: as owner_exec, a statement ($1 an array of text arguments) that returns (tableoid, ctid, text...) rows: its rows, the text columns as one array; values leave an owner''s statement only as text';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_rows(pg_catalog.regclass, text, text[]) FROM PUBLIC;
