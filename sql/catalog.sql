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

-- SECURITY DEFINER functions PUBLIC may execute: only event trigger functions,
-- which cannot be called directly nor attached by an ordinary role,
-- table_holds, which answers only for a table the caller may read, and
-- Citus's mirror triggers, which refuse every table but the extension's own
-- (attacks suite); other row trigger functions are not: any role could
-- attach them to a table of its own
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

-- a function whose body uses a plain (unqualified) operator pins search_path
-- to pg_catalog, pg_temp: elsewhere a plain operator is looked up in the
-- caller's path, where another schema may hold a better match.  The rule, on
-- a SQL or PL/pgSQL body: take out string literals (E'...' too), quoted
-- identifiers, $$ strings and comments; then OPERATOR(...) (qualified); then
-- what looks like an operator and is not one: := and => (assignment, named
-- arguments), %TYPE and %ROWTYPE, <<label>> and #option, the * of SELECT *,
-- count(*) and t.*, the = of RAISE ... USING option = and of GET DIAGNOSTICS
-- var = item, and a minus that starts a negative number.  Any operator
-- character left (+ - * / < > = ~ ! @ # % ^ & | ` ?) is a plain operator.  An
-- UPDATE ... SET a = b counts too: it has no qualified form, and such a
-- statement belongs in a function that pins.
CREATE FUNCTION pg_temp.plain_operators(body text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE
    AS $fn$
DECLARE
    b text := body;
BEGIN
    b := regexp_replace(b, '\m[eE]''([^''\\]|\\.|'''')*''|''([^'']|'''')*''|"([^"]|"")*"|\$\$([^$]|\$[^$])*\$\$|--[^\n]*|/\*([^*]|\*+[^*/])*\*+/', ' ', 'g');
    b := regexp_replace(b, '\mOPERATOR\s*\([^)]*\)', ' ', 'gi');
    b := regexp_replace(b, ':=|=>', ' ', 'g');
    b := regexp_replace(b, '%(TYPE|ROWTYPE)\M|<<\s*\w+\s*>>|#(variable_conflict|print_strict_params)\M', ' ', 'gi');
    b := regexp_replace(b, '(\mSELECT|\mRETURNING|\mDISTINCT|\(|,|\.)\s*\*', '\1 ', 'gi');
    b := regexp_replace(b, '(\mUSING|,)\s*(ERRCODE|MESSAGE|DETAIL|HINT|COLUMN|CONSTRAINT|DATATYPE|TABLE|SCHEMA)\s*=', '\1 \2 ', 'gi');
    b := regexp_replace(b, '(\w+)\s*=\s*(ROW_COUNT|PG_ROUTINE_OID|PG_CONTEXT|RETURNED_SQLSTATE|COLUMN_NAME|CONSTRAINT_NAME|PG_DATATYPE_NAME|MESSAGE_TEXT|TABLE_NAME|SCHEMA_NAME|PG_EXCEPTION_DETAIL|PG_EXCEPTION_HINT|PG_EXCEPTION_CONTEXT)\M', '\1 \2', 'gi');
    b := regexp_replace(b, '(^|[(,=<>\s])-([0-9])', '\1\2', 'g');
    RETURN ARRAY(SELECT DISTINCT m[1] FROM regexp_matches(b, '([-+*/<>=~!@#%^&|`?]+)', 'g') m ORDER BY 1);
END
$fn$;
-- the rule on bodies written for it
SELECT pg_temp.plain_operators(v.body) AS plain, v.body
  FROM (VALUES ($$SELECT a = b$$),
               ($$x := y + 1;$$),
               ($$SELECT * FROM t WHERE a OPERATOR(pg_catalog.=) '=' -- a = b$$),
               ($$RAISE EXCEPTION '% = %', a, b USING ERRCODE = 'x', HINT = 'y'; n := pg_catalog.count(*);$$),
               ($$GET DIAGNOSTICS n = ROW_COUNT; r t%ROWTYPE; PERFORM f(a => -1);$$),
               ($$SELECT E'it\'s = ' OPERATOR(pg_catalog.||) "a-b" OPERATOR(pg_catalog.||) 'don''t < '$$),
               ($$IF n OPERATOR(pg_catalog.>) 0 AND m <> 1 THEN /* x = y */ SELECT t.* FROM t; END IF;$$),
               ($$UPDATE t SET a = 1$$)) v(body);
-- and on the extension: no body without the pinned path uses a plain operator
SELECT f.fn, pg_temp.plain_operators(p.prosrc) AS plain
  FROM ext_functions f JOIN pg_proc p ON p.oid = f.oid
 WHERE f.lanname IN ('sql', 'plpgsql')
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (f.proconfig), false)
   AND cardinality(pg_temp.plain_operators(p.prosrc)) > 0
 ORDER BY f.fn::text;
SELECT count(*) AS bodies_with_the_caller_path FROM ext_functions
 WHERE lanname IN ('sql', 'plpgsql') AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (proconfig), false);

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
