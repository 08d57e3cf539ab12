-- catalog: what the install script promises about every object of the extension,
-- read from the catalogs (so a new function that breaks a rule fails here)
\set VERBOSITY terse
CREATE TEMP VIEW ext_functions AS
SELECT p.oid, p.oid::regprocedure AS fn, p.prosecdef, p.proconfig, l.lanname, p.prorettype::regtype AS rettype
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'privacy'
  JOIN pg_language l ON l.oid = p.prolang;

-- every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp
SELECT fn, proconfig FROM ext_functions
 WHERE prosecdef AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (proconfig), false);
SELECT count(*) AS security_definer_functions FROM ext_functions WHERE prosecdef;

-- SECURITY DEFINER functions PUBLIC may execute: only trigger functions, which
-- cannot be called directly, and functions granted to PUBLIC on purpose
SELECT fn, rettype FROM ext_functions
 WHERE prosecdef AND has_function_privilege('public', oid, 'EXECUTE')
 ORDER BY fn::text;
SELECT try($$SELECT privacy.category_audit()$$);
SELECT try($$SELECT privacy.subject_guard_ddl()$$);

-- the functions that run with the caller's search_path: each qualifies every
-- name and operator (SQL and PL/pgSQL bodies), or pins the path in its body
-- because it commits (procedures cannot have a SET clause and COMMIT)
SELECT fn, lanname FROM ext_functions
 WHERE lanname IN ('sql', 'plpgsql') AND proconfig IS NULL
 ORDER BY fn::text;
SELECT fn FROM ext_functions f JOIN pg_proc p ON p.oid = f.oid
 WHERE f.lanname = 'plpgsql' AND f.proconfig IS NULL AND p.prokind = 'p'
 ORDER BY fn::text;

-- C functions PUBLIC may execute: masks, validators, triggers, and functions
-- that check their caller or read only what the caller may read
SELECT fn FROM ext_functions
 WHERE lanname = 'c' AND has_function_privilege('public', oid, 'EXECUTE')
 ORDER BY fn::text;
-- (refuse_cancelled: a partition's owner clones its trigger; called directly, it fails)
SELECT try($$SELECT privacy.refuse_cancelled()$$);

-- no table or sequence of the extension is writable by PUBLIC
SELECT c.oid::regclass AS rel, c.relkind
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'privacy'
 WHERE (c.relkind IN ('r', 'p', 'v') AND has_table_privilege('public', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'))
    OR (c.relkind = 'S' AND has_sequence_privilege('public', c.oid, 'USAGE, UPDATE'));
-- and what PUBLIC may read of them
SELECT c.oid::regclass AS readable_by_public
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'privacy'
 WHERE c.relkind IN ('r', 'p', 'v') AND has_table_privilege('public', c.oid, 'SELECT')
 ORDER BY c.oid::regclass::text;
