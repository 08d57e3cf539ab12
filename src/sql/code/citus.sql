-- src/sql/code/citus.sql: the guard of what only a Citus cluster's coordinator may do (doc/citus.md)

CREATE FUNCTION privacy.require_coordinator(what text) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_require_coordinator_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.require_coordinator(text) IS
    'internal: raise an error (naming the function what) unless this is the Citus coordinator''s own backend: on a worker node, or in a task Citus pushed down to one, the keys, the consent ledger and the tombstones are not there; without Citus it does nothing';
-- Internal: called by the extension's own SECURITY DEFINER functions.
REVOKE ALL ON FUNCTION privacy.require_coordinator(text) FROM PUBLIC;
