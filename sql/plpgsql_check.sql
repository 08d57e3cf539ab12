-- plpgsql_check: every PL/pgSQL function, procedure, trigger function (against
-- each table it is attached to) and event trigger function of the extension,
-- checked with all warnings on; a finding fails unless the reviewed allow-list
-- (test/plpgsql_check/allow.tsv: function, level, message, detail, reason) has it.
-- Run by make test only: it needs the plpgsql_check extension (Debian
-- postgresql-15-plpgsql-check, installed by test/deps.sh).
\set VERBOSITY terse
CREATE EXTENSION plpgsql_check;
CREATE TEMP TABLE allow (fn text, level text, message text, detail text, reason text);
\getenv abs_srcdir PG_ABS_SRCDIR
\set cmd 'grep -v "^#" ' :abs_srcdir '/test/plpgsql_check/allow.tsv' ' || true'
COPY allow FROM PROGRAM :'cmd';
-- every allowed entry gives its reason
SELECT fn, level, message FROM allow WHERE coalesce(reason, '') = '';
CREATE TEMP TABLE target AS
WITH fns AS (
    SELECT p.oid, p.prorettype
      FROM pg_proc p
      JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
      JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                      AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'privacy'))
-- a trigger function against each table it is attached to; the others once
SELECT f.oid, 0::oid AS relid FROM fns f WHERE f.prorettype <> 'trigger'::regtype
UNION ALL
SELECT f.oid, t.tgrelid FROM fns f JOIN pg_trigger t ON t.tgfoid = f.oid
 WHERE f.prorettype = 'trigger'::regtype;
-- every PL/pgSQL function of the extension is checked, every trigger function
-- against a table
SELECT (SELECT count(DISTINCT oid) FROM target) =
       (SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
         WHERE p.pronamespace = 'privacy'::regnamespace) AS all_checked,
       (SELECT count(*) FROM target t JOIN pg_proc p ON p.oid = t.oid WHERE p.prorettype = 'trigger'::regtype
           AND t.relid = 0) AS trigger_functions_without_a_table;
CREATE TEMP TABLE finding AS
SELECT t.oid::regprocedure::text AS fn, t.relid::regclass::text AS tbl, r.lineno, r.level, r.message,
       coalesce(r.detail, '') AS detail
  FROM target t
 CROSS JOIN LATERAL plpgsql_check_function_tb(t.oid, t.relid, all_warnings => true) r;
SELECT count(*) FILTER (WHERE level = 'error') AS errors FROM finding;
-- the findings nobody reviewed: none
SELECT f.fn, f.tbl, f.lineno, f.level, f.message, f.detail
  FROM finding f
 WHERE NOT EXISTS (SELECT 1 FROM allow a
                    WHERE a.fn IN (f.fn, '*') AND a.level = f.level AND a.message = f.message AND a.detail = f.detail)
 ORDER BY 1, 2, 3, 4, 5;
-- allowed entries that no longer occur: none (remove them from the list)
SELECT a.fn, a.level, a.message, a.detail
  FROM allow a
 WHERE NOT EXISTS (SELECT 1 FROM finding f
                    WHERE a.fn IN (f.fn, '*') AND a.level = f.level AND a.message = f.message AND a.detail = f.detail)
 ORDER BY 1, 2, 3, 4;
DROP EXTENSION plpgsql_check;
