-- setup: install the extension; roles used by the other suites
-- (roles outlive the database: drop those a previous installcheck left)
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_owner;
DROP ROLE IF EXISTS regress_app;
DROP ROLE IF EXISTS regress_privacy_admin;
DROP ROLE IF EXISTS regress_marketer;
DROP ROLE IF EXISTS regress_view_admin;
DROP ROLE IF EXISTS regress_shop_owner;
DROP ROLE IF EXISTS regress_dpo;
DROP ROLE IF EXISTS regress_anonymizer;
DROP ROLE IF EXISTS regress_retention_admin;
RESET client_min_messages;
CREATE EXTENSION privacy;
SELECT extname, extversion, extrelocatable, nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'privacy';
-- preloaded (make test's profiled run preloads plpgsql_check too)
SELECT 'privacy' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) AS preloaded;
-- a second CREATE EXTENSION fails rather than adopting anything
CREATE EXTENSION privacy;
CREATE ROLE regress_owner LOGIN;     -- owns and labels application tables
CREATE ROLE regress_app LOGIN;       -- application role with no grants
-- EXECUTE granted once, here, to roles the suites grant: a GRANT on a function
-- changes its catalog row, and plpgsql_check's profiler (make test) keys its
-- counts by that row, so a later GRANT would lose what the function ran so far
CREATE ROLE regress_anonymizer;
GRANT EXECUTE ON FUNCTION privacy.anonymize_start(regclass, integer, text), privacy.anonymize_batch(bigint),
                          privacy.anonymize_finish(bigint) TO regress_anonymizer;
GRANT EXECUTE ON PROCEDURE privacy.anonymize_table(regclass, integer, text),
                           privacy.anonymize_database(name[], integer, text) TO regress_anonymizer;
CREATE ROLE regress_retention_admin;
GRANT EXECUTE ON FUNCTION privacy.enable_category_retention(regclass, name) TO regress_retention_admin;
CREATE ROLE regress_dpo;            -- the DPO: asks which holds keep a table's rows
GRANT EXECUTE ON FUNCTION privacy.table_holds(regclass) TO regress_dpo;
GRANT CREATE ON SCHEMA public TO regress_owner;
-- try(stmt): run a statement and show its SQLSTATE, message, detail and hint
CREATE FUNCTION public.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg
        || COALESCE(E'\nDETAIL: ' || NULLIF(det, ''), '')
        || COALESCE(E'\nHINT: ' || NULLIF(hnt, ''), '');
END
$$;
