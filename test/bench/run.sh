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
