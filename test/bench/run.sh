#!/usr/bin/env bash
# test/bench/run.sh: `make bench`. Starts its own scratch cluster, runs every
# case of test/bench/bench.sql several times in one warm backend, and prints
# the median of each case and its ratio against a baseline measured in the same
# run. Benchmarks report; they never fail on a figure.
set -euo pipefail

. "$(dirname "$0")/../lib.sh"

build_install
work=$(make_workdir)
port=${BENCH_PORT:-5432}
stop() {
	stop_cluster "$work"
	rm -rf "$work"
}
trap stop EXIT

echo "== scratch cluster in $work/data"
start_cluster "$work" "$port"
echo "== $(nproc) cores; PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}'); $(openssl version 2>/dev/null || echo OpenSSL)"
as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
	-f "$work/test/bench/bench.sql"

echo
echo "== grant_consent / withdraw_consent from one client (pgbench, 10 s)"
cat >"$work/consent.pgbench" <<'PGB'
\set s random(1, 1000000)
SELECT privacy.grant_consent(:s::text, 'analytics');
SELECT privacy.withdraw_consent(:s::text, 'analytics');
PGB
chmod 644 "$work/consent.pgbench"
consent_tps() {	# $1: extra server options for the pgbench sessions
	as_pg env PGOPTIONS="$1" pgbench -n -h "$work" -p "$port" -U postgres -c 1 -T 10 \
		-f "$work/consent.pgbench" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
durable=$(consent_tps "")
fast=$(consent_tps "-c synchronous_commit=off")
awk -v d="$durable" -v f="$fast" 'BEGIN {
	printf "every statement its own transaction, one grant and one withdrawal per pgbench transaction\n"
	printf "  synchronous_commit = on  (each commit waits for the WAL flush): %d calls per second\n", d * 2
	printf "  synchronous_commit = off (the functions themselves):            %d calls per second\n", f * 2
	printf "goal at least 5000 calls per second (functions themselves): %s\n", (f * 2 >= 5000 ? "yes" : "NO")
}'
