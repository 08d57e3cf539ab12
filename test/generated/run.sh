#!/usr/bin/env bash
# test/generated/run.sh: the generated-schema test of cancellation on a scratch
# cluster it starts and stops itself (doc/testing.md).
#   test/generated/run.sh [EXAMPLES [SEED [JOBS]]]
# EXAMPLES schemas in all (default 300), split over JOBS processes (default 1),
# each drawing from seed SEED + its number (default: a fixed seed, 1; "random"
# for a new one each run).  Each process works in its own series of databases.
# Set SKIP_BUILD=1 when the extension is already installed (make test does it),
# SURVEY=1 to run every example and count each failure class instead of
# stopping at the first failure and shrinking it.
# Prints "ok: generated schemas ..." or "FAILED: generated schemas ..." and
# exits non-zero on a failure.
set -uo pipefail

. "$(dirname "$0")/../lib.sh"

examples=${1:-300}
seed=${2:-1}
jobs=${3:-1}
PYTHON=${PYTHON:-/usr/bin/python3}    # Debian's, with hypothesis and psycopg2 (test/deps.sh)

if [ -z "${SKIP_BUILD:-}" ]; then
	build_install || { echo "FAILED: generated schemas: build or install failed"; exit 1; }
fi
work=$(make_workdir)
port=${GEN_PORT:-57311}
trap 'stop_cluster "$work"; [ -n "${KEEP_WORKDIR:-}" ] || rm -rf "$work"' EXIT
# a scratch cluster that need not survive a crash: no fsync
cat >>"$work/test/privacy.conf" <<'CONF'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 40
CONF
start_cluster "$work" "$port" || { echo "FAILED: generated schemas: the scratch cluster did not start"; exit 1; }
as_pg psql -X -q -h "$work" -p "$port" -d postgres -v ON_ERROR_STOP=1 \
	-c 'CREATE DATABASE gen_template' >/dev/null &&
as_pg psql -X -q -h "$work" -p "$port" -d gen_template -v ON_ERROR_STOP=1 \
	-c 'CREATE EXTENSION privacy' \
	-c "SELECT privacy.subject_pseudonym('0') IS NOT NULL" >/dev/null ||
	{ echo "FAILED: generated schemas: CREATE EXTENSION privacy failed"; exit 1; }

start=$(date +%s)
pids=()
per=$(( (examples + jobs - 1) / jobs ))
for j in $(seq 1 "$jobs"); do
	if [ "$seed" = random ]; then s=(); else s=(--seed $((seed + j - 1))); fi
	as_pg "$PYTHON" "$ROOT/test/generated/cancel_gen.py" \
		--dsn "host=$work port=$port user=postgres" --template gen_template --prefix "gen$j" \
		--examples "$per" "${s[@]}" ${SURVEY:+--survey} >"$work/gen$j.log" 2>&1 &
	pids+=($!)
done
status=0
for j in $(seq 1 "$jobs"); do
	wait "${pids[$((j - 1))]}" || status=1
	[ "$jobs" -gt 1 ] && echo "-- process $j:"
	cat "$work/gen$j.log"
done
elapsed=$(( $(date +%s) - start ))
ran=$(cat "$work"/gen*.log | sed -n 's/^generated schemas: \([0-9]*\) examples.*/\1/p' | awk '{s += $1} END {print s + 0}')
if [ "$status" -eq 0 ]; then
	echo "ok: generated schemas: $ran schemas in ${elapsed} s ($jobs process(es), seed $seed)"
else
	grep -q 'server-crashed\|terminated by signal' "$work/server.log" "$work"/gen*.log 2>/dev/null &&
		grep -E 'terminated by signal' "$work/server.log" | head -5
	echo "FAILED: generated schemas: $ran schemas in ${elapsed} s ($jobs process(es), seed $seed)"
fi
exit "$status"
