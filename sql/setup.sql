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
RESET client_min_messages;
CREATE EXTENSION privacy;
SELECT extname, extversion, extrelocatable, nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'privacy';
SHOW shared_preload_libraries;
-- a second CREATE EXTENSION fails rather than adopting anything
CREATE EXTENSION privacy;
CREATE ROLE regress_owner LOGIN;     -- owns and labels application tables
CREATE ROLE regress_app LOGIN;       -- application role with no grants
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
