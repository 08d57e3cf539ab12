#!/usr/bin/env bash
# test/coverage/report.sh FILE: print the coverage report the suite coverage
# wrote (CSV: function, statements run, not run, not run but allowed, the lines
# not run) as a table, and the totals.
set -euo pipefail
file=${1:-coverage.txt}
[ -f "$file" ] || { echo "no coverage report ($file): run make coverage" >&2; exit 1; }
/usr/bin/python3 - "$file" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
w = max(len(r['fn']) for r in rows)
print(f"{'function':<{w}}  run  not run  allowed")
for r in rows:
    print(f"{r['fn']:<{w}}  {r['run']:>3}  {r['not_run']:>7}  {r['allowed']:>7}")
    for line in (r['not_run_lines'] or '').splitlines():
        print(f"    not run: {line}")
run = sum(int(r['run']) for r in rows); nr = sum(int(r['not_run']) for r in rows)
al = sum(int(r['allowed']) for r in rows)
print(f"total: {len(rows)} functions, {run + nr} statements, {run} run ({100.0 * run / (run + nr):.1f}%), {nr} not run ({al} allowed with a reason)")
PY
