#!/usr/bin/env bash
# test/upgrade/run.sh WORK FROM: the upgrade test of one release (stage
# upgrade of test/run-tests.sh, doc/upgrading.md "What the tests show").  On a
# scratch cluster in WORK/upgrade_FROM (WORK is run-tests.sh's scratch
# directory: its test/privacy_clock.conf, master key and subject key
# directory):
#   1. fingerprint: a fresh install of this version, and version FROM
#      installed and updated with ALTER EXTENSION privacy UPDATE, have the same
#      catalog fingerprint (test/fingerprint/fingerprint.sql, seed rows
#      included);
#   2. data: version FROM filled as a user would (fill.sql) shows the same
#      before and after the update (observe.sql), and its fingerprint without
#      the rows equals the fresh install's;
#   3. after: the updated database goes on working (after.sql).
# Prints "ok: upgrade ..." or "FAILED: upgrade ..." per check (diffs kept in
# WORK/upgrade_FROM); exits 1 on any failure.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"

work=$1
from=$2
dir="$work/upgrade_$from"
as_pg mkdir -p "$dir/test" "$dir/out"
as_pg cp "$work/test/privacy_clock.conf" "$dir/test/privacy.conf"
port=5432
trap 'stop_cluster "$dir"' EXIT
start_cluster "$dir" "$port" || { echo "FAILED: upgrade from $from: the cluster did not start"; exit 1; }
out="$dir/out"
status=0
ok() { echo "ok: upgrade from $from: $*"; }
bad() { echo "FAILED: upgrade from $from: $*"; status=1; }
psql_in() {
	local db=$1
	shift
	as_pg psql -X -q -h "$dir" -p "$port" -d "$db" -v ON_ERROR_STOP=1 "$@"
}
fingerprint() {	# fingerprint DB FILE [fp_rows]
	psql_in "$1" -v fp_rows="${3:-on}" -f "$ROOT/test/fingerprint/fingerprint.sql" -o "$2"
}
version_of() {
	psql_in "$1" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'privacy'"
}

for db in fresh empty filled; do
	as_pg createdb -h "$dir" -p "$port" "$db"
done
psql_in fresh -c 'CREATE EXTENSION privacy' >/dev/null
to=$(version_of fresh)
fingerprint fresh "$out/fresh.txt"
fingerprint fresh "$out/fresh_norows.txt" off

# 1. an install of FROM with nothing in it, updated
if psql_in empty -c "CREATE EXTENSION privacy VERSION '$from'" -c 'ALTER EXTENSION privacy UPDATE' >"$out/empty.log" 2>&1 &&
	[ "$(version_of empty)" = "$to" ]; then
	fingerprint empty "$out/empty.txt"
	if diff -u "$out/fresh.txt" "$out/empty.txt" >"$out/empty.diff"; then
		ok "the catalog fingerprint of $from updated to $to equals a fresh install of $to ($(wc -l <"$out/fresh.txt") lines)"
	else
		head -100 "$out/empty.diff"
		bad "the catalog fingerprint of $from updated to $to differs from a fresh install (above; $out/empty.diff)"
	fi
else
	cat "$out/empty.log"
	bad "ALTER EXTENSION privacy UPDATE from $from to $to failed"
fi

# 2. FROM with a user's data, updated
if psql_in filled -c "CREATE EXTENSION privacy VERSION '$from'" >/dev/null 2>"$out/fill.log" &&
	psql_in filled -f "$here/fill.sql" >>"$out/fill.log" 2>&1 &&
	psql_in filled -f "$here/observe.sql" >"$out/before.txt" 2>&1; then
	if psql_in filled -c 'ALTER EXTENSION privacy UPDATE' >"$out/update.log" 2>&1 && [ "$(version_of filled)" = "$to" ]; then
		ok "ALTER EXTENSION privacy UPDATE of a database with a user's data, from $from to $to"
		psql_in filled -f "$here/observe.sql" >"$out/after.txt" 2>&1
		if diff -u "$out/before.txt" "$out/after.txt" >"$out/data.diff"; then
			ok "every datum kept and answering the same (rows of every table, decryption, pseudonyms, consents at past moments, audit chain, labels, inventory, tombstones; $(wc -l <"$out/before.txt") lines)"
		else
			head -100 "$out/data.diff"
			bad "the data or its answers changed in the update (above; $out/data.diff)"
		fi
		fingerprint filled "$out/filled_norows.txt" off
		if diff -u "$out/fresh_norows.txt" "$out/filled_norows.txt" >"$out/filled.diff"; then
			ok "the catalog fingerprint of the updated database with data (rows left out) equals a fresh install's"
		else
			head -100 "$out/filled.diff"
			bad "the catalog fingerprint of the updated database with data differs from a fresh install (above; $out/filled.diff)"
		fi
		if psql_in filled -f "$here/after.sql" >"$out/after.log" 2>&1; then
			ok "the updated database goes on: consents, key rotation, cancellation, audit chain"
		else
			cat "$out/after.log"
			bad "the updated database does not go on working (above)"
		fi
	else
		cat "$out/update.log"
		bad "ALTER EXTENSION privacy UPDATE of a database with a user's data failed (above)"
	fi
else
	cat "$out/fill.log" "$out/before.txt" 2>/dev/null | tail -30
	bad "filling version $from failed (above)"
fi
exit $status
