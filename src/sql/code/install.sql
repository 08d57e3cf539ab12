-- src/sql/code/install.sql: the install-time guards (an empty schema owned by a superuser, the preloaded library), USAGE on the schema, privacy.restoring()

-- Refuse a schema somebody prepared for us: CREATE EXTENSION adopts an
-- existing schema named in the control file, so it must be empty, owned by
-- a superuser, and writable by nobody else (a schema's owner may drop what
-- is in it; CREATE on it would let objects be planted beside ours).
DO $guard$
DECLARE
    owner_name name;
    writers text;
BEGIN
    SELECT r.rolname, (SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                                                   ELSE a.grantee::pg_catalog.regrole::text END, ', ')
                         FROM pg_catalog.aclexplode(n.nspacl) a
                        WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE' AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner)
      INTO owner_name, writers
      FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'privacy';
    IF owner_name IS NOT NULL AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) owner_name) THEN
        RAISE EXCEPTION 'schema "privacy" already exists and is owned by role "%", who is not a superuser', owner_name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The owner of a schema may drop the objects in it.',
                  HINT = 'Drop or rename the existing schema "privacy" first.';
    ELSIF writers IS NOT NULL THEN
        RAISE EXCEPTION 'schema "privacy" already exists and % may create objects in it', writers
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Drop or rename the existing schema "privacy" first.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class
                WHERE relnamespace OPERATOR(pg_catalog.=) 'privacy'::pg_catalog.regnamespace)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc
                   WHERE pronamespace OPERATOR(pg_catalog.=) 'privacy'::pg_catalog.regnamespace)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_type
                   WHERE typnamespace OPERATOR(pg_catalog.=) 'privacy'::pg_catalog.regnamespace) THEN
        RAISE EXCEPTION 'schema "privacy" already contains objects'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The extension creates its objects in its own, empty schema.',
                  HINT = 'Drop or rename the existing schema "privacy" first.';
    END IF;
END
$guard$;

-- Fail early, with the fix in the hint, when the library is not preloaded.
CREATE FUNCTION privacy.check_preload() RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_check_preload'
    LANGUAGE C STRICT;
SELECT privacy.check_preload();
DROP FUNCTION privacy.check_preload();

-- end of the install-time guards: src/sql/update.py carries what follows into
-- update scripts, and nothing above

GRANT USAGE ON SCHEMA privacy TO PUBLIC;

-- Restore mode: a superuser running a pg_dump script (check_function_bodies
-- is off there) restores configuration rows that were audited when they were
-- first written; they are not audited twice.  The superuser is the role that
-- called (SET ROLE's, else the session's), never CURRENT_USER, which inside
-- the extension's SECURITY DEFINER functions is its owner: an ordinary role
-- that turns check_function_bodies off is not restoring.

CREATE FUNCTION privacy.restoring() RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_restoring'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION privacy.restoring() IS
    'true while a superuser (the calling role, not a SECURITY DEFINER function''s owner, and not inside a security-restricted operation such as a table owner''s code run by the extension) restores a dump (check_function_bodies = off): configuration rows are then not audited again';
