#!/usr/bin/env bash
# test/run-tests.sh: build, install, and run every suite on scratch clusters:
# pg_regress (sql/ + expected/) with plpgsql_check's profiler on, then the
# same suites again with the server's clock moved (libfaketime), isolation
# (test/isolation), the generated-schema test of cancellation (test/generated),
# the fuzz corpus replayed under ASan/UBSan (test/fuzz), TAP
# (test/tap).
# Called by `make test` with REGRESS, REGRESS_LOGGED and ISOLATION set from the
# Makefile (REGRESS_LOGGED: suites that only make test runs, last, in the
# logged run: plpgsql_check, coverage, leaks).
# Prints regression.diffs on failure; exits non-zero when anything fails.
set -uo pipefail

. "$(dirname "$0")/lib.sh"

: "${REGRESS:?REGRESS is set by make test}"
: "${REGRESS_LOGGED?REGRESS_LOGGED is set by make test}"
: "${ISOLATION:?ISOLATION is set by make test}"
# STAGES: which stages run (make coverage runs regress only): frozen (the
# frozen scripts of released versions unchanged, src/sql/check-frozen.sh),
# regress, upgrade (test/upgrade: each release updated to this version equals
# a fresh install and keeps its data; the suites on an updated database),
# generated (the generated-schema test of cancellation: 300 schemas of seed 1;
# the failure classes of test/generated/expected_failures.txt, open defects on
# schemas with a cycle of foreign keys or a composite key, are reported and
# pass, any other fails; doc/testing.md), clock, isolation, fuzz, tap
STAGES=${STAGES:-frozen,regress,upgrade,generated,clock,isolation,fuzz,tap}
stage() { case ",$STAGES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

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

# every failure is also written to $work/failures, printed again last of all,
# where a CI log that keeps only its tail still shows what failed and how
failure() {	# failure STAGE TEXT...
	local stage=$1
	shift
	printf '%s: %s\n' "$stage" "$*" | cut -c1-200 >>"$work/failures"
}
failures_of() {	# failures_of STAGE LOG: its FAILED lines, or that it failed
	local stage=$1 log=$2 lines
	lines=$(grep -E '\.\.\. FAILED|^FAILED|^not ok|^Failed test|exited with exit code|terminated by signal' "$log" 2>/dev/null | sed 's/^ *//')
	if [ -n "$lines" ]; then
		printf '%s\n' "$lines" | while IFS= read -r l; do failure "$stage" "$l"; done
	else
		failure "$stage" "exited non-zero with no line saying what failed (see $log)"
	fi
}

# run_suite NAME DRIVER INPUTDIR DBNAME TESTS...: one pg_regress-style suite on
# its own temporary instance (CONF: its settings, default test/privacy.conf;
# CLOCK: a libfaketime moment the server starts at); prints its diffs when it
# fails; returns its status
run_suite() {
	local name=$1 driver=$2 inputdir=$3 dbname=$4 status
	shift 4
	echo "== $name${CLOCK:+ (clock moved to ${CLOCK#@} UTC)}: $*"
	as_pg env ${CLOCK:+LD_PRELOAD="$FAKETIME_LIB" FAKETIME="$CLOCK" FAKETIME_DONT_RESET=1 \
		FAKETIME_DONT_FAKE_MONOTONIC=1 NO_FAKE_STAT=1} "$driver" \
		--temp-instance="$work/tmp_$name" \
		--temp-config="${CONF:-$work/test/privacy.conf}" \
		--bindir="$PG_BINDIR" \
		--inputdir="$inputdir" --outputdir="$work/$name" \
		--dbname="${dbname}" \
		"$@" 2>&1 | tee "$work/$name.log"
	status=${PIPESTATUS[0]}
	count "$work/$name.log"
	if [ "$status" -ne 0 ]; then
		failures_of "$name" "$work/$name.log"
		if [ -f "$work/$name/regression.diffs" ]; then
			cat "$work/$name/regression.diffs"
			cp "$work/$name/regression.diffs" "$ROOT/regression.diffs"
			# the first changed lines, for the end of the log
			grep -E '^[-+][^-+]' "$work/$name/regression.diffs" | head -6 |
				while IFS= read -r l; do failure "$name" "  $l"; done
		fi
		[ "$failed" -eq 0 ] && failed=1
	fi
	return "$status"
}

# The moments the suites run at again, with the server's clock moved: the day
# before a US daylight-saving change in the suites' PST8PDT, the end of a leap
# day and the end of a year (the run crosses both).  PostgreSQL's timeouts do
# not fire under a moved clock, so suites that rely on them (isolation, TAP)
# run at the real time only.
MOVED_CLOCKS=${MOVED_CLOCKS-"2027-03-13 18:00:00|2027-11-06 17:00:00|2028-02-29 23:59:30|2030-12-31 23:59:50"}
FAKETIME_LIB=${FAKETIME_LIB:-/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1}

# the first run is logged, statements and errors, for the suite leaks (last),
# which reads the log and looks for key material in it; and it preloads
# plpgsql_check with its profiler on, for the suites plpgsql_check and coverage
cp "$work/test/privacy.conf" "$work/test/privacy_clock.conf"
cat >>"$work/test/privacy.conf" <<'CONF'
log_statement = 'all'
logging_collector = on
log_directory = 'log'
log_filename = 'postgresql.log'
shared_preload_libraries = 'plpgsql, plpgsql_check, privacy'
plpgsql_check.profiler = on
CONF

status_frozen=0
if stage frozen; then
	echo "== frozen: src/sql/release"
	"$ROOT/src/sql/check-frozen.sh" 2>&1 | tee "$work/frozen.log"
	status_frozen=${PIPESTATUS[0]}
	passed=$((passed + $(grep -c '^ok: frozen' "$work/frozen.log" || true)))
	failed=$((failed + $(grep -c '^FAILED: frozen' "$work/frozen.log" || true)))
	[ "$status_frozen" -ne 0 ] && [ "$(grep -c '^FAILED: frozen' "$work/frozen.log" || true)" -eq 0 ] && failed=$((failed + 1))
	[ "$status_frozen" -ne 0 ] && failures_of frozen "$work/frozen.log"
fi

status_regress=0
if stage regress; then
	# shellcheck disable=SC2086 # the suite lists are word lists
	run_suite regress "$PGXS_DIR/test/regress/pg_regress" "$work" contrib_regression $REGRESS $REGRESS_LOGGED
	status_regress=$?
	[ -f "$work/regress/coverage.txt" ] && cp "$work/regress/coverage.txt" "$ROOT/coverage.txt"
fi

# the upgrade test (test/upgrade): every release before this version,
# updated with ALTER EXTENSION privacy UPDATE, equals a fresh install
# (fingerprint) and keeps and answers its data; then the suites of this
# version (UPGRADE_REGRESS, default all of REGRESS) pass on a database whose
# extension was installed as the last release and updated (setup's CREATE
# EXTENSION made that, in the suite and in its expected output alike)
status_upgrade=0
if stage upgrade; then
	releases=$(cd "$ROOT/src/sql/release" && ls privacy--*.sql 2>/dev/null | grep -v -- '--.*--' | sed 's/^privacy--\(.*\)\.sql$/\1/')
	for from in $releases; do
		echo "== upgrade: test/upgrade from $from"
		"$ROOT/test/upgrade/run.sh" "$work" "$from" 2>&1 | tee "$work/upgrade_$from.log"
		st=${PIPESTATUS[0]}
		passed=$((passed + $(grep -c '^ok: upgrade' "$work/upgrade_$from.log" || true)))
		failed=$((failed + $(grep -c '^FAILED: upgrade' "$work/upgrade_$from.log" || true)))
		if [ "$st" -ne 0 ]; then
			status_upgrade=1
			[ "$(grep -c '^FAILED: upgrade' "$work/upgrade_$from.log" || true)" -eq 0 ] && failed=$((failed + 1))
			failures_of "upgrade_$from" "$work/upgrade_$from.log"
		fi
	done
	last=$(printf '%s\n' $releases | sort -V | tail -1)
	if [ -n "$last" ]; then
		suites="$work/upgrade_suites"
		as_pg mkdir -p "$suites"
		as_pg cp -r "$work/sql" "$work/expected" "$suites/"
		as_pg ln -s "$work/test" "$work/doc" "$work/Makefile" "$suites/"
		as_pg sed -i "0,/^CREATE EXTENSION privacy;\$/s//CREATE EXTENSION privacy VERSION '$last';\nALTER EXTENSION privacy UPDATE;/" \
			"$suites/sql/setup.sql" "$suites/expected/setup.out"
		# shellcheck disable=SC2086
		CONF="$work/test/privacy_clock.conf" run_suite "regress_updated_from_$last" "$PGXS_DIR/test/regress/pg_regress" \
			"$suites" contrib_regression ${UPGRADE_REGRESS:-$REGRESS} || status_upgrade=1
	fi
fi

# generated schemas: cancellation on random schemas against the contract's
# invariants, a fixed seed (GEN_EXAMPLES schemas, about a minute and a half on
# two cores; make check-cancel runs more)
status_gen=0
if stage generated; then
	echo "== generated schemas: test/generated (${GEN_EXAMPLES:-300} schemas, seed 1)"
	SKIP_BUILD=1 "$ROOT/test/generated/run.sh" "${GEN_EXAMPLES:-300}" 1 "${GEN_JOBS:-1}" 2>&1 | tee "$work/generated.log"
	status_gen=${PIPESTATUS[0]}
	passed=$((passed + $(grep -c '^ok: generated schemas' "$work/generated.log" || true)))
	failed=$((failed + $(grep -c '^FAILED: generated schemas' "$work/generated.log" || true)))
	[ "$status_gen" -ne 0 ] && [ "$(grep -c '^FAILED: generated' "$work/generated.log" || true)" -eq 0 ] && failed=$((failed + 1))
	[ "$status_gen" -ne 0 ] && failures_of generated "$work/generated.log"
fi

# the same suites with the clock moved: nothing in them may depend on the date,
# the time of day or the time zone's rules
status_clock=0
moments=()
stage clock && IFS='|' read -r -a moments <<<"$MOVED_CLOCKS"
for m in "${moments[@]}"; do
	[ -n "$m" ] || continue
	if [ ! -f "$FAKETIME_LIB" ]; then
		echo "FAILED: moved-clock runs need libfaketime ($FAKETIME_LIB)"
		failure clock "moved-clock runs need libfaketime ($FAKETIME_LIB)"
		failed=$((failed + 1))
		status_clock=1
		break
	fi
	name="regress_at_$(echo "$m" | tr -c '0-9\n' '_' | sed 's/_*$//')"
	# shellcheck disable=SC2086
	CLOCK="@$m" CONF="$work/test/privacy_clock.conf" \
		run_suite "$name" "$PGXS_DIR/test/regress/pg_regress" "$work" contrib_regression $REGRESS || status_clock=1
done
status_iso=0
if stage isolation; then
	# shellcheck disable=SC2086
	run_suite isolation "$PGXS_DIR/test/isolation/pg_isolation_regress" "$work/test/isolation" \
		isolation_regression $ISOLATION
	status_iso=$?
fi

status_fuzz=0
if stage fuzz; then
	echo "== fuzz corpus: test/fuzz (gcc ASan + UBSan)"
	FUZZ_BUILD="$work/fuzz" "$ROOT/test/fuzz/run.sh" replay 2>&1 | tee "$work/fuzz.log"
	status_fuzz=${PIPESTATUS[0]}
	passed=$((passed + $(grep -c '^ok: fuzz corpus' "$work/fuzz.log" || true)))
	failed=$((failed + $(grep -c '^FAILED: fuzz corpus' "$work/fuzz.log" || true)))
	[ "$status_fuzz" -ne 0 ] && [ "$(grep -c '^FAILED' "$work/fuzz.log" || true)" -eq 0 ] && failed=$((failed + 1))
	[ "$status_fuzz" -ne 0 ] && failures_of fuzz "$work/fuzz.log"
fi

status_tap=0
stage tap && {
echo "== TAP: test/tap"
# Citus for 014_citus, built from ../shared when it is missing (as the user
# running make test, who may install; the suite skips itself without it)
citus_build="$ROOT/../shared/citus/build.sh"
if [ -x "$citus_build" ] && ! PG_CONFIG="$PG_CONFIG" "$citus_build" --check; then
	PG_CONFIG="$PG_CONFIG" "$citus_build" >"$work/citus-build.log" 2>&1 ||
		echo "citus build failed (see $work/citus-build.log): 014_citus will skip"
fi
mkdir -p "$work/tap"
[ "$(id -u)" -eq 0 ] && chown "$PG_RUN_USER" "$work/tap"
(cd "$work/test/tap" && as_pg env \
	TESTDIR="$work/tap" \
	PRIVACY_SOURCE="$ROOT" \
	PG_CONFIG="$PG_CONFIG" \
	PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" \
	PRIVACY_ROOT="$work" \
	prove -I "$PGXS_DIR/test/perl" -I . ${TAP_TESTS:-./*.pl}) 2>&1 | tee "$work/tap.log"
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
	failures_of tap "$work/tap.log"
fi
}

echo
if [ -s "$work/failures" ]; then
	echo "what failed ($(wc -l <"$work/failures") lines; the whole log above):"
	head -12 "$work/failures" | sed 's/^/  /'
fi
echo "summary: $passed passed, $failed failed"
if [ "$status_frozen" -ne 0 ] || [ "$status_upgrade" -ne 0 ] || [ "$status_regress" -ne 0 ] || [ "$status_gen" -ne 0 ] || [ "$status_clock" -ne 0 ] || [ "$status_iso" -ne 0 ] || [ "$status_fuzz" -ne 0 ] || [ "$status_tap" -ne 0 ]; then
	keep=1
	echo "scratch directory kept for inspection: $work"
	exit 1
fi
exit 0
