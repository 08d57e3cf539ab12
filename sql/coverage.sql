-- coverage: every statement of the cancellation, tombstone, request, retention
-- and anonymization functions (test/coverage/functions.txt) ran during the
-- suites before this one, or is listed with the reason it cannot run in
-- test/coverage/allow.tsv (function, the statement's line, the line of the
-- statement it is part of, reason).  Read from
-- plpgsql_check's profiler, which make test preloads and turns on for this run
-- (make test only); the whole report is written to coverage.txt beside the
-- results, and make coverage prints it.
\set VERBOSITY terse
CREATE EXTENSION plpgsql_check;
\getenv abs_srcdir PG_ABS_SRCDIR
\getenv abs_builddir PG_ABS_BUILDDIR
CREATE TEMP TABLE wanted (name text);
\set cmd 'grep -v -e "^#" -e "^$" ' :abs_srcdir '/test/coverage/functions.txt'
COPY wanted FROM PROGRAM :'cmd';
CREATE TEMP TABLE allow (fn text, source text, parent text, reason text);
\set cmd 'grep -v "^#" ' :abs_srcdir '/test/coverage/allow.tsv' ' || true'
COPY allow FROM PROGRAM :'cmd';
SELECT fn, source FROM allow WHERE coalesce(reason, '') = '';
-- every listed name is a PL/pgSQL function of the extension
SELECT w.name FROM wanted w
 WHERE NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                    WHERE p.pronamespace = 'privacy'::regnamespace AND p.proname = w.name AND l.lanname = 'plpgsql');
-- polymorphic functions cannot be listed by the profiler (it compiles them
-- without their argument types): named here, covered by their suites' own cases
SELECT p.oid::regprocedure AS not_measured FROM pg_proc p JOIN wanted w ON w.name = p.proname
 WHERE p.pronamespace = 'privacy'::regnamespace
   AND EXISTS (SELECT 1 FROM unnest(p.proargtypes) t JOIN pg_type y ON y.oid = t WHERE y.typtype = 'p')
 ORDER BY 1;
CREATE TEMP TABLE stmt AS
WITH s AS (
    SELECT p.oid::regprocedure::text AS fn, s.stmtid, s.parent_stmtid, s.lineno, s.stmtname, s.exec_stmts,
           btrim(l.source) AS source
      FROM pg_proc p
      JOIN pg_language g ON g.oid = p.prolang AND g.lanname = 'plpgsql'
      JOIN wanted w ON w.name = p.proname
     CROSS JOIN LATERAL plpgsql_profiler_function_statements_tb(p.oid) s
      LEFT JOIN LATERAL (SELECT f.source FROM plpgsql_profiler_function_tb(p.oid) f WHERE f.lineno = s.lineno) l ON true
     WHERE p.pronamespace = 'privacy'::regnamespace
       AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes) t JOIN pg_type y ON y.oid = t WHERE y.typtype = 'p'))
SELECT s.fn, s.stmtid, s.lineno, s.stmtname, s.exec_stmts, s.source, coalesce(ps.source, '') AS parent
  FROM s LEFT JOIN s ps ON ps.fn = s.fn AND ps.stmtid = s.parent_stmtid;
-- the report: per function, statements run and not run
\set f :abs_builddir '/coverage.txt'
COPY (SELECT fn, count(*) FILTER (WHERE exec_stmts > 0) AS run, count(*) FILTER (WHERE exec_stmts = 0) AS not_run, count(*) FILTER (WHERE exec_stmts = 0 AND EXISTS (SELECT 1 FROM allow a WHERE a.fn = stmt.fn AND a.source = stmt.source AND a.parent = stmt.parent)) AS allowed, string_agg(CASE WHEN exec_stmts = 0 THEN lineno || ' ' || stmtname || ': ' || source END, E'\n' ORDER BY stmtid) AS not_run_lines FROM stmt GROUP BY fn ORDER BY fn) TO :'f' WITH (FORMAT csv, HEADER);
-- profiled at all
SELECT count(DISTINCT fn) > 30 AS functions, sum(exec_stmts) > 0 AS profiled FROM stmt;
-- statements that never ran and are not allowed: none
SELECT fn, lineno, stmtname, source, parent FROM stmt s
 WHERE s.exec_stmts = 0
   AND NOT EXISTS (SELECT 1 FROM allow a WHERE a.fn = s.fn AND a.source = s.source AND a.parent = s.parent)
 ORDER BY fn, stmtid;
-- allowed statements that ran after all, or are gone: none (take them off the list)
SELECT a.fn, a.source, a.parent FROM allow a
 WHERE NOT EXISTS (SELECT 1 FROM stmt s WHERE s.fn = a.fn AND s.source = a.source AND s.parent = a.parent AND s.exec_stmts = 0)
 ORDER BY 1, 2;
DROP EXTENSION plpgsql_check;
