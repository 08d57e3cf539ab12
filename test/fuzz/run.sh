#!/usr/bin/env bash
# test/fuzz/run.sh: the fuzz harness of privacy's C parsers and encoders.
#   run.sh fuzz    (make fuzz) each target under libFuzzer with ASan and UBSan
#                  (clang) for FUZZ_SECONDS (default 60) seconds, then the
#                  corpus and what the run found under valgrind
#   run.sh replay  (make test) the kept corpus and regression inputs once,
#                  built with gcc's ASan and UBSan: no clang needed
# Targets: label (the label grammar), journal (tombstone journal lines), masks,
# validators, ff1, ciphertext (the GCM and SIV formats).  Seeds and inputs the fuzzer found worth keeping are in
# test/fuzz/corpus/<target>/; inputs that once crashed, in test/fuzz/regressions/<target>/.
set -euo pipefail

mode=${1:-fuzz}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD:-$root/test/fuzz/build}
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"label journal masks validators ff1 ciphertext"}

inc=(-I"$root/src" -I"$here" -I"$(pg_config --includedir-server)" -D_GNU_SOURCE)
pgport="$(pg_config --pkglibdir)/libpgport.a"

sources() {
	case $1 in
		label) echo "$root/src/label_parse.c" ;;
		journal) echo "$root/src/journal.c" ;;
		masks) echo "$root/src/masks.c $root/src/validators.c" ;;
		validators) echo "$root/src/validators.c" ;;
		ff1) echo "$root/src/ff1.c" ;;
		ciphertext) echo "$root/src/crypto.c" ;;
		*) echo "unknown fuzz target: $1" >&2; exit 2 ;;
	esac
}

mkdir -p "$build"
status=0

if [ "$mode" = replay ]; then
	for t in $targets; do
		# shellcheck disable=SC2046
		gcc -std=gnu11 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
			-Wall -Werror -Wno-unused-parameter "${inc[@]}" \
			-o "$build/replay_$t" "$here/driver.c" "$here/fuzz_$t.c" "$here/stubs.c" $(sources "$t") "$pgport" -lcrypto
		dirs=("$here/corpus/$t")
		[ -d "$here/regressions/$t" ] && dirs+=("$here/regressions/$t")
		if out=$(ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$build/replay_$t" "${dirs[@]}" 2>&1); then
			echo "ok: fuzz corpus $t: $out"
		else
			echo "FAILED: fuzz corpus $t"; echo "$out" | tail -40; status=1
		fi
	done
	exit $status
fi

bash "$root/test/deps.sh" fuzz
for t in $targets; do
	echo "== $t: libFuzzer, ASan, UBSan, $seconds s"
	# shellcheck disable=SC2046
	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
		-Wno-unused-command-line-argument -Wno-ignored-attributes "${inc[@]}" \
		-o "$build/fuzz_$t" "$here/fuzz_$t.c" "$here/stubs.c" $(sources "$t") "$pgport" -lcrypto
	mkdir -p "$build/found_$t"
	dirs=("$build/found_$t" "$here/corpus/$t")
	[ -d "$here/regressions/$t" ] && dirs+=("$here/regressions/$t")
	if ! "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/crash_${t}_" "${dirs[@]}" > "$build/fuzz_$t.log" 2>&1; then
		echo "FAILED: $t crashed; the input is $(ls "$build"/crash_"${t}"_* 2>/dev/null | head -1)"
		grep -E "ERROR|property failed|SUMMARY" "$build/fuzz_$t.log" | head -5
		echo "Fix it, then keep the input in test/fuzz/regressions/$t/."
		status=1
		continue
	fi
	grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$build/fuzz_$t.log" | tr '\n' ' '
	echo
	echo "== $t: valgrind over the corpus and what this run found"
	# shellcheck disable=SC2046
	gcc -std=gnu11 -g -O1 -Wall -Werror -Wno-unused-parameter "${inc[@]}" \
		-o "$build/valgrind_$t" "$here/driver.c" "$here/fuzz_$t.c" "$here/stubs.c" $(sources "$t") "$pgport" -lcrypto
	if valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
		"$build/valgrind_$t" "${dirs[@]}"; then
		:
	else
		echo "FAILED: valgrind found errors in $t"; status=1
	fi
done
echo "new inputs are in $build/found_<target>; keep the useful ones in test/fuzz/corpus/<target>/"
exit $status
