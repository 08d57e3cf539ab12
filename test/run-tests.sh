#!/usr/bin/env bash
# test/run-tests.sh: build, install, and run every suite on scratch clusters:
# pg_regress (sql/ + expected/), isolation (test/isolation), TAP (test/tap).
# Called by `make test` with REGRESS and ISOLATION set from the Makefile.
# Prints regression.diffs on failure; exits non-zero when anything fails.
set -uo pipefail

. "$(dirname "$0")/lib.sh"

: "${REGRESS:?REGRESS is set by make test}"
: "${ISOLATION:?ISOLATION is set by make test}"

build_install || { echo "build or install failed" >&2; exit 1; }
work=$(make_workdir)
keep=${KEEP_WORKDIR:-}
cleanup() { [ -n "$keep" ] || rm -rf "$work"; }
trap cleanup EXIT

passed=0
failed=0
count() {	# count "ok" / "FAILED" lines of a pg_regress-style log
	local log=$1 ok bad
	ok=$(grep -c -E '^(ok|test|    |     ).*\.\.\. ok' "$log" || true)
	bad=$(grep -c -E '\.\.\. FAILED' "$log" || true)
	passed=$((passed + ok))
	failed=$((failed + bad))
}

echo "== pg_regress: $REGRESS"
as_pg "$PGXS_DIR/test/regress/pg_regress" \
	--temp-instance="$work/tmp_regress" \
	--temp-config="$work/test/privacy.conf" \
	--bindir="$PG_BINDIR" \
	--inputdir="$work" --outputdir="$work/regress" \
	--dbname=contrib_regression \
	$REGRESS 2>&1 | tee "$work/regress.log"
status_regress=${PIPESTATUS[0]}
count "$work/regress.log"
if [ "$status_regress" -ne 0 ]; then
	[ -f "$work/regress/regression.diffs" ] && cat "$work/regress/regression.diffs"
	[ -f "$work/regress/regression.diffs" ] && cp "$work/regress/regression.diffs" "$ROOT/regression.diffs"
	[ "$failed" -eq 0 ] && failed=1
fi

echo "== isolation: $ISOLATION"
as_pg "$PGXS_DIR/test/isolation/pg_isolation_regress" \
	--temp-instance="$work/tmp_isolation" \
	--temp-config="$work/test/privacy.conf" \
	--bindir="$PG_BINDIR" \
	--inputdir="$work/test/isolation" --outputdir="$work/isolation" \
	--dbname=isolation_regression \
	$ISOLATION 2>&1 | tee "$work/isolation.log"
status_iso=${PIPESTATUS[0]}
count "$work/isolation.log"
if [ "$status_iso" -ne 0 ]; then
	[ -f "$work/isolation/regression.diffs" ] && cat "$work/isolation/regression.diffs"
	[ "$failed" -eq 0 ] && failed=1
fi

echo "== TAP: test/tap"
mkdir -p "$work/tap"
[ "$(id -u)" -eq 0 ] && chown "$PG_RUN_USER" "$work/tap"
(cd "$work/test/tap" && as_pg env \
	TESTDIR="$work/tap" \
	PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" \
	PRIVACY_ROOT="$work" \
	prove -I "$PGXS_DIR/test/perl" -I . ./*.pl) 2>&1 | tee "$work/tap.log"
status_tap=${PIPESTATUS[0]}
tap_tests=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$work/tap.log" | tail -1)
tap_failed=$(grep -o -E 'Failed [0-9]+/' "$work/tap.log" | awk -F'[ /]' '{s += $2} END {print s + 0}')
passed=$((passed + ${tap_tests:-0} - tap_failed))
failed=$((failed + tap_failed))
if [ "$status_tap" -ne 0 ]; then
	for f in "$work"/tap/tmp_check/log/regress_log_*; do
		[ -f "$f" ] && { echo "---- $f (last 60 lines)"; tail -60 "$f"; }
	done
	[ "$tap_failed" -eq 0 ] && failed=$((failed + 1))
fi

echo
echo "summary: $passed passed, $failed failed"
if [ "$status_regress" -ne 0 ] || [ "$status_iso" -ne 0 ] || [ "$status_tap" -ne 0 ]; then
	keep=1
	echo "scratch directory kept for inspection: $work"
	exit 1
fi
exit 0
