#!/bin/bash
# test/fingerprint/compare.sh OLD_SCRIPT NEW_SCRIPT: show that two install
# scripts of the extension make the same extension (test/fingerprint/README.md).
#
# On a scratch cluster (test/lib.sh), each script is installed as its own
# extension version (privacy--fp_old.sql, privacy--fp_new.sql, copied into
# the server's extension directory for the run and removed after it), in its
# own database.  Then:
#   1. the fingerprints (fingerprint.sql) of the two databases, diffed;
#   2. the parse trees (debug_print_parse) of every SQL function body, parsed
#      by its validator under the function's own settings, and of every
#      static statement of every PL/pgSQL function, prepared by
#      plpgsql_check_function, compared function by function, source
#      positions left out and the extension's OIDs read as names;
#   3. plpgsql_check's findings, diffed;
#   4. every operator OPERATOR(pg_catalog.X) of an old body that is plain X in
#      the new one and sits inside a string literal (dynamic SQL, which the
#      parse trees do not cover), listed for review.
# Exits 1 on any difference.  KEEP_WORKDIR=1 keeps the scratch directory.
set -euo pipefail

if [ $# -ne 2 ] || [ ! -r "$1" ] || [ ! -r "$2" ]; then
	echo "usage: $0 OLD_SCRIPT NEW_SCRIPT" >&2
	exit 2
fi
old_script=$(realpath "$1")
new_script=$(realpath "$2")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"

extdir="$("$PG_CONFIG" --sharedir)/extension"
if [ ! -e "$extdir/plpgsql_check.control" ]; then
	echo "plpgsql_check is not installed: apt-get install -y postgresql-15-plpgsql-check" >&2
	exit 2
fi
# the scripts are copied into the server's extension directory for the run
sudo_if() {
	if [ -w "$extdir" ]; then "$@"; else sudo "$@"; fi
}
for v in old new; do
	if [ -e "$extdir/privacy--fp_$v.sql" ]; then
		echo "$extdir/privacy--fp_$v.sql exists: is another comparison running?" >&2
		exit 2
	fi
done

copied=()
work=$(make_workdir)
port=5432
cleanup() {
	stop_cluster "$work"
	for f in "${copied[@]}"; do
		sudo_if rm -f "$f"
	done
	if [ "${KEEP_WORKDIR:-}" = 1 ]; then
		echo "== kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# the log, with the application name of each line
# (debug_pretty_print off: each tree on one line, never wrapped inside a token)
cat >>"$work/test/privacy.conf" <<'CONF'
log_line_prefix = '%m [%p] %a: '
log_error_verbosity = default
debug_pretty_print = off
CONF
start_cluster "$work" "$port"

for v in old new; do
	script=$old_script
	[ "$v" = new ] && script=$new_script
	copied+=("$extdir/privacy--fp_$v.sql")
	sudo_if install -m 644 "$script" "$extdir/privacy--fp_$v.sql"
done

psql_as() {
	local db=$1
	shift
	as_pg psql -X -q -h "$work" -p "$port" -d "$db" -v ON_ERROR_STOP=1 "$@"
}

out="$work/out"
as_pg mkdir "$out"
status=0
for v in old new; do
	as_pg createdb -h "$work" -p "$port" "fp_$v"
	psql_as "fp_$v" -c "CREATE EXTENSION privacy VERSION 'fp_$v'"
	psql_as "fp_$v" -f "$here/fingerprint.sql" -o "$out/fingerprint_$v.txt"

	# the OIDs of the extension's objects, which differ between the two
	psql_as "fp_$v" -At -F $'\t' -o "$out/oids_$v.tsv" <<'SQL'
WITH m AS (SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
            WHERE e.extname = 'privacy' AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'),
rel AS (SELECT c.* FROM pg_class c WHERE c.oid IN (SELECT objid FROM m WHERE classid = 'pg_class'::regclass)
           OR c.oid IN (SELECT t.typrelid FROM pg_type t JOIN m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid)),
typ AS (SELECT t.oid, t.typarray FROM pg_type t
         WHERE t.oid IN (SELECT objid FROM m WHERE classid = 'pg_type'::regclass) OR t.oid IN (SELECT reltype FROM rel))
SELECT p.oid, 'function ' || p.oid::regprocedure FROM pg_proc p JOIN m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
UNION ALL SELECT oid, 'relation ' || oid::regclass FROM rel
UNION ALL SELECT x.indexrelid, 'index ' || x.indexrelid::regclass FROM pg_index x WHERE x.indrelid IN (SELECT oid FROM rel)
UNION ALL SELECT d.objid, 'sequence ' || d.objid::regclass FROM pg_depend d
           WHERE d.classid = 'pg_class'::regclass AND d.refobjid IN (SELECT oid FROM rel) AND d.deptype IN ('a', 'i')
             AND d.objid IN (SELECT oid FROM pg_class WHERE relkind = 'S')
UNION ALL SELECT oid, 'type ' || oid::regtype FROM typ
UNION ALL SELECT typarray, 'type ' || typarray::regtype FROM typ WHERE typarray <> 0
UNION ALL SELECT k.oid, 'constraint ' || k.conname || ' on ' || k.conrelid::regclass FROM pg_constraint k WHERE k.conrelid IN (SELECT oid FROM rel)
UNION ALL SELECT g.oid, 'trigger ' || g.tgname || ' on ' || g.tgrelid::regclass FROM pg_trigger g WHERE g.tgrelid IN (SELECT oid FROM rel)
UNION ALL SELECT r.oid, 'rule ' || r.rulename || ' on ' || r.ev_class::regclass FROM pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM rel)
UNION ALL SELECT a.oid, 'default of ' || a.adrelid::regclass || ' column ' || a.adnum FROM pg_attrdef a WHERE a.adrelid IN (SELECT oid FROM rel)
UNION ALL SELECT t.oid, 'event trigger ' || t.evtname FROM pg_event_trigger t JOIN m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = t.oid
UNION ALL SELECT e.extnamespace, 'schema privacy' FROM pg_extension e WHERE e.extname = 'privacy'
UNION ALL SELECT e.oid, 'extension privacy' FROM pg_extension e WHERE e.extname = 'privacy';
SQL

	# the function bodies, for the string literals
	psql_as "fp_$v" -At -F $'\x1f' -R $'\x1e' -o "$out/bodies_$v.txt" <<'SQL'
SELECT p.oid::regprocedure::text, p.prosrc
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'privacy'
 ORDER BY 1;
SQL

	# every SQL and PL/pgSQL function is parsed in a session named after it:
	# a SQL body by its validator, under the function's own settings (as
	# CREATE FUNCTION does; CREATE EXTENSION runs its script with
	# check_function_bodies off, so nothing is parsed there); a PL/pgSQL body
	# by plpgsql_check, which prepares every static statement (a trigger
	# function is checked on the first table whose trigger calls it)
	psql_as "fp_$v" -c 'CREATE EXTENSION plpgsql_check SCHEMA public'
	psql_as "fp_$v" -At -F $'\t' -o "$out/checked_$v.tsv" <<'SQL'
SELECT row_number() OVER (ORDER BY p.oid::regprocedure::text), p.oid::regprocedure::text
  FROM pg_proc p
  JOIN pg_language l ON l.oid = p.prolang AND l.lanname IN ('sql', 'plpgsql')
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'privacy'
 ORDER BY 1;
SQL
	psql_as "fp_$v" -At -v side="$v" -o "$out/check_$v.sql" <<'SQL'
SELECT format(E'BEGIN;\nSET LOCAL application_name = %L;\n\\o /dev/null\n%s\\o\nSET LOCAL debug_print_parse = on;\n%s\nCOMMIT;',
              'fp_check_' || :'side' || ':' || row_number() OVER (ORDER BY p.oid::regprocedure::text),
              (SELECT string_agg(format(E'SELECT pg_catalog.set_config(%L, %L, true);\n',
                                        split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)), '')
                 FROM unnest(p.proconfig) c),
              CASE l.lanname
                   WHEN 'sql' THEN format(E'\\o /dev/null\nSELECT pg_catalog.fmgr_sql_validator(%s);\n\\o', p.oid)
                   ELSE format('SELECT %L AS function, c.lineno, c.statement, c.sqlstate, c.level, c.message, c.detail, c.hint'
                               ' FROM public.plpgsql_check_function_tb(%s::regprocedure, %s::regclass, fatal_errors => false, all_warnings => true) c;',
                               p.oid::regprocedure::text, p.oid,
                               COALESCE((SELECT g.tgrelid FROM pg_trigger g WHERE g.tgfoid = p.oid
                                          ORDER BY g.tgrelid::regclass::text LIMIT 1), 0)) END)
  FROM pg_proc p
  JOIN pg_language l ON l.oid = p.prolang AND l.lanname IN ('sql', 'plpgsql')
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'privacy'
 ORDER BY p.oid::regprocedure::text;
SQL
	psql_as "fp_$v" -At -F ' | ' -f "$out/check_$v.sql" >"$out/plpgsql_check_$v.txt"
done

echo "== fingerprint (diff old new)"
if ! diff -u "$out/fingerprint_old.txt" "$out/fingerprint_new.txt"; then
	status=1
fi
echo "fingerprint: $(wc -l <"$out/fingerprint_old.txt") lines in the old install, $(wc -l <"$out/fingerprint_new.txt") in the new"

echo "== plpgsql_check findings (diff old new)"
if ! diff -u "$out/plpgsql_check_old.txt" "$out/plpgsql_check_new.txt"; then
	status=1
fi
echo "plpgsql_check: $(wc -l <"$out/plpgsql_check_old.txt") findings in the old install, $(wc -l <"$out/plpgsql_check_new.txt") in the new"

echo "== parse trees"
stop_cluster "$work"
if ! python3 "$here/compare.py" trees "$work/server.log" "$out"; then
	status=1
fi

echo "== operators made plain inside string literals (dynamic SQL: review each)"
if ! python3 "$here/compare.py" strings "$out"; then
	status=1
fi

if [ "$status" -eq 0 ]; then
	echo "== no difference"
else
	echo "== DIFFERENCES (above)"
fi
exit "$status"
