#!/usr/bin/env bash
# test/run-tests.sh: build, install, and run every suite on scratch clusters:
# pg_regress (sql/ + expected/), isolation (test/isolation), the fuzz corpus
# replayed under ASan/UBSan (test/fuzz), TAP (test/tap).
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

# run_suite NAME DRIVER INPUTDIR DBNAME TESTS...: one pg_regress-style suite on
# its own temporary instance; prints its diffs when it fails; returns its status
run_suite() {
	local name=$1 driver=$2 inputdir=$3 dbname=$4 status
	shift 4
	echo "== $name: $*"
	as_pg "$driver" \
		--temp-instance="$work/tmp_$name" \
		--temp-config="$work/test/privacy.conf" \
		--bindir="$PG_BINDIR" \
		--inputdir="$inputdir" --outputdir="$work/$name" \
		--dbname="${dbname}" \
		"$@" 2>&1 | tee "$work/$name.log"
	status=${PIPESTATUS[0]}
	count "$work/$name.log"
	if [ "$status" -ne 0 ]; then
		if [ -f "$work/$name/regression.diffs" ]; then
			cat "$work/$name/regression.diffs"
			cp "$work/$name/regression.diffs" "$ROOT/regression.diffs"
		fi
		[ "$failed" -eq 0 ] && failed=1
	fi
	return "$status"
}

# the whole run is logged, statements and errors, for the suite leaks (last),
# which reads the log and looks for key material in it
cat >>"$work/test/privacy.conf" <<'CONF'
log_statement = 'all'
logging_collector = on
log_directory = 'log'
log_filename = 'postgresql.log'
CONF

# shellcheck disable=SC2086 # the suite lists are word lists
run_suite regress "$PGXS_DIR/test/regress/pg_regress" "$work" contrib_regression $REGRESS
status_regress=$?
# shellcheck disable=SC2086
run_suite isolation "$PGXS_DIR/test/isolation/pg_isolation_regress" "$work/test/isolation" \
	isolation_regression $ISOLATION
status_iso=$?

echo "== fuzz corpus: test/fuzz (gcc ASan + UBSan)"
FUZZ_BUILD="$work/fuzz" "$ROOT/test/fuzz/run.sh" replay 2>&1 | tee "$work/fuzz.log"
status_fuzz=${PIPESTATUS[0]}
passed=$((passed + $(grep -c '^ok: fuzz corpus' "$work/fuzz.log" || true)))
failed=$((failed + $(grep -c '^FAILED: fuzz corpus' "$work/fuzz.log" || true)))
[ "$status_fuzz" -ne 0 ] && [ "$(grep -c '^FAILED' "$work/fuzz.log" || true)" -eq 0 ] && failed=$((failed + 1))

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
if [ "$status_regress" -ne 0 ] || [ "$status_iso" -ne 0 ] || [ "$status_fuzz" -ne 0 ] || [ "$status_tap" -ne 0 ]; then
	keep=1
	echo "scratch directory kept for inspection: $work"
	exit 1
fi
exit 0
