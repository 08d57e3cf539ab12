#!/usr/bin/env bash
# test/bench/run.sh: `make bench`. Starts its own scratch cluster, runs every
# case of test/bench/bench.sql several times in one warm backend, and prints
# the median of each case and its ratio against a baseline measured in the same
# run. Benchmarks report; they never fail on a figure.
set -euo pipefail

. "$(dirname "$0")/../lib.sh"

scratch_session "${BENCH_PORT:-5432}"
echo "== $(nproc) cores; PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}'); $(openssl version 2>/dev/null || echo OpenSSL)"
as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
	-f "$work/test/bench/bench.sql"

echo
echo "== one subject's rows, as an application reads them (pgbench, prepared, one client, 10 s each)"
echo '\set u random(1, 100000)' >"$work/lookup_view.pgbench"
echo 'SELECT * FROM visits_marketing WHERE user_id = :u;' >>"$work/lookup_view.pgbench"
echo '\set u random(1, 100000)' >"$work/lookup_base.pgbench"
echo 'SELECT * FROM visits WHERE user_id = :u;' >>"$work/lookup_base.pgbench"
chmod 644 "$work"/lookup_*.pgbench
lookup_tps() {
	as_pg pgbench -n -M prepared -h "$work" -p "$port" -U postgres -c 1 -T 10 -f "$1" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
view_tps=$(lookup_tps "$work/lookup_view.pgbench")
base_tps=$(lookup_tps "$work/lookup_base.pgbench")
awk -v v="$view_tps" -v b="$base_tps" 'BEGIN {
	printf "  through the purpose view: %d queries per second\n", v
	printf "  base-table lookup:        %d queries per second\n", b
	printf "  time ratio %.2f; goal at most 1.5x the base-table lookup: %s\n", b / v, (b / v <= 1.5 ? "yes" : "NO")
}'

echo
echo "== grant_consent / withdraw_consent from one client (pgbench, prepared, 10 s)"
cat >"$work/consent.pgbench" <<'PGB'
\set s random(1, 1000000)
SELECT privacy.grant_consent(:s::text, 'analytics');
SELECT privacy.withdraw_consent(:s::text, 'analytics');
PGB
chmod 644 "$work/consent.pgbench"
consent_tps() {	# $1: extra server options for the pgbench sessions
	as_pg env PGOPTIONS="$1" pgbench -n -M prepared -h "$work" -p "$port" -U postgres -c 1 -T 10 \
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

# the average latency in ms of $2 transactions of script $1 (pgbench, prepared, one client)
latency() {
	as_pg pgbench -n -M prepared -h "$work" -p "$port" -U postgres -c 1 -t "$2" -f "$1" postgres 2>/dev/null |
		sed -n 's/^latency average = \([0-9.]*\) ms/\1/p'
}
# cancellation: 10 labelled tables, a subject with about 91 rows, against the same
# DELETE/UPDATE statements written by hand (test/bench/cancel.sql)
cancel_case() {	# $1: rows per table
	as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 -v rows="$1" \
		-c "SET bench.rows = $1" -f "$work/test/bench/cancel.sql" >/dev/null
	cat >"$work/cancel.pgbench" <<'PGB'
SELECT count(*) FROM privacy.cancel_subject(nextval('cb.next_cancel')::text);
PGB
	cat >"$work/by_hand_function.pgbench" <<'PGB'
SELECT cb.by_hand(nextval('cb.next_hand')::int);
PGB
	cat >"$work/by_hand.pgbench" <<'PGB'
SELECT nextval('cb.next_hand') AS s \gset
BEGIN;
SELECT 1 FROM cb.users WHERE id = :s FOR UPDATE;
SELECT count(*) FROM cb.logins WHERE user_id = :s;
DELETE FROM cb.events WHERE user_id = :s;
DELETE FROM cb.messages WHERE user_id = :s;
UPDATE cb.payments SET detail = NULL, user_id = NULL WHERE user_id = :s;
UPDATE cb.tickets SET detail = NULL, user_id = NULL WHERE user_id = :s;
DELETE FROM cb.devices WHERE user_id = :s;
DELETE FROM cb.addresses WHERE user_id = :s;
UPDATE cb.orders SET detail = NULL, user_id = NULL WHERE user_id = :s;
UPDATE cb.reviews SET detail = NULL, user_id = NULL WHERE user_id = :s;
DELETE FROM cb.users WHERE id = :s;
COMMIT;
PGB
	chmod 644 "$work"/cancel.pgbench "$work"/by_hand*.pgbench
	latency "$work/cancel.pgbench" 20 >/dev/null	# warm-up: compiles the plan
	latency "$work/by_hand.pgbench" 20 >/dev/null
	c=$(latency "$work/cancel.pgbench" 300)
	h=$(latency "$work/by_hand.pgbench" 300)
	f=$(latency "$work/by_hand_function.pgbench" 300)
	echo "$1 $c $h $f"
}
echo
echo "== cancellation: 10 labelled tables, a subject with about 91 rows (pgbench, prepared, one client, 300 cancellations)"
small=$(cancel_case 1000000)
large=$(cancel_case "${BENCH_CANCEL_LARGE_ROWS:-10000000}")
echo "$small
$large" | awk 'NR == 1 { c1 = $2 } {
	printf "  %9d rows per table: cancel_subject %.2f ms; by hand, statements in one transaction %.2f ms (ratio %.2f); by hand, one PL/pgSQL function %.2f ms (ratio %.2f)\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0), $4, ($4 > 0 ? $2 / $4 : 0)
	r[NR] = ($3 > 0 ? $2 / $3 : 99); c[NR] = $2
} END {
	ok = (c[1] > 0 && c[2] > 0)   # a case that measured nothing meets no goal
	printf "goal at most 2x the statements by hand: %s\n", (ok && r[1] <= 2 && r[2] <= 2 ? "yes" : "NO")
	printf "tables 10x larger: cancel_subject takes %.2fx the time; goal at most 1.5x: %s\n", (ok ? c[2] / c[1] : 0), (ok && c[2] / c[1] <= 1.5 ? "yes" : "NO")
}'

# cancellation with references between subjects: shared messages, a supervisor
# that other profiles name (test/bench/cancel_refs.sql)
refs_case() {	# $1: users
	as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 -v rows="$1" \
		-f "$work/test/bench/cancel_refs.sql" >/dev/null
	cat >"$work/refs_cancel.pgbench" <<'PGB'
SELECT count(*) FROM privacy.cancel_subject(nextval('cr.next_cancel')::text);
PGB
	cat >"$work/refs_hand.pgbench" <<'PGB'
SELECT nextval('cr.next_hand') AS s \gset
BEGIN;
SELECT 1 FROM cr.users WHERE id = :s FOR UPDATE;
DELETE FROM cr.messages WHERE (sender = :s AND (recipient IS NULL OR recipient = :s)) OR (recipient = :s AND sender IS NULL);
UPDATE cr.messages SET sender = NULL WHERE sender = :s;
UPDATE cr.messages SET recipient = NULL WHERE recipient = :s;
DELETE FROM cr.profiles WHERE user_id = :s;
UPDATE cr.profiles SET supervisor = NULL WHERE supervisor = :s;
DELETE FROM cr.users WHERE id = :s;
COMMIT;
PGB
	chmod 644 "$work"/refs_*.pgbench
	latency "$work/refs_cancel.pgbench" 20 >/dev/null
	latency "$work/refs_hand.pgbench" 20 >/dev/null
	c=$(latency "$work/refs_cancel.pgbench" 300)
	h=$(latency "$work/refs_hand.pgbench" 300)
	echo "$1 $c $h"
}
echo
echo "== cancellation with references between subjects: shared messages, supervisors named by other profiles (pgbench, prepared, one client, 300 cancellations)"
refs_small=$(refs_case 100000)
refs_large=$(refs_case "${BENCH_REFS_LARGE_ROWS:-1000000}")
echo "$refs_small
$refs_large" | awk '{
	printf "  %8d users: cancel_subject %.2f ms; by hand, statements in one transaction %.2f ms (ratio %.2f)\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0)
	r[NR] = ($3 > 0 ? $2 / $3 : 99); c[NR] = $2
} END {
	ok = (c[1] > 0 && c[2] > 0)
	printf "goal at most 2x the statements by hand: %s\n", (ok && r[1] <= 2 && r[2] <= 2 ? "yes" : "NO")
	printf "10x the users: cancel_subject takes %.2fx the time; goal at most 1.5x: %s\n", (ok ? c[2] / c[1] : 0), (ok && c[2] / c[1] <= 1.5 ? "yes" : "NO")
}'
psql_refs_drop() { as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q -c "DROP SCHEMA IF EXISTS cr CASCADE" >/dev/null 2>&1; }
psql_refs_drop

# export: 10 labelled tables, a subject with about 110 rows (two tables reached
# two ways, one through a chain of two keys), against the same reads written
# by hand (test/bench/export.sql); both with synchronous_commit off, since an
# export writes its audit entry and the reads by hand write nothing
async_latency() {	# as latency, with synchronous_commit off
	as_pg env PGOPTIONS="-c synchronous_commit=off" pgbench -n -M prepared -h "$work" -p "$port" -U postgres -c 1 -t "$2" -f "$1" postgres 2>/dev/null |
		sed -n 's/^latency average = \([0-9.]*\) ms/\1/p'
}
export_case() {	# $1: rows per table; prints rows, export ms, by hand ms, rows an export reads
	local active=$(($1 / 10)) e h rows
	rows=$(as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q -At -v ON_ERROR_STOP=1 -v rows="$1" \
		-c "SET bench.rows = $1" -f "$work/test/bench/export.sql" | tail -1)
	# each run the next subject, as the cancellation case does (a subject's
	# rows are beside the last one's: the reads find their pages in memory,
	# by hand and in the export alike, and the ratio is the export's work)
	cat >"$work/export.pgbench" <<PGB
SELECT length(privacy.export_subject((1 + nextval('eb.next_export') % $active)::text)::text);
PGB
	# by hand: the reads as a DBA runs them, one statement a table in one
	# transaction (as the cancellation case's by_hand.pgbench); and the same
	# reads in one SQL function (eb.by_hand), one round trip
	cat >"$work/export_hand.pgbench" <<PGB
SELECT 1 + nextval('eb.next_hand') % $active AS s \\gset
BEGIN;
SELECT jsonb_agg(to_jsonb(t)) FROM eb.users t WHERE id = :s;
SELECT jsonb_agg(to_jsonb(t)) FROM eb.events t WHERE user_id = :s;
SELECT jsonb_agg(to_jsonb(t)) FROM eb.logins t WHERE user_id = :s;
SELECT jsonb_agg(to_jsonb(t)) FROM eb.payments t WHERE user_id = :s;
SELECT jsonb_agg(to_jsonb(t)) FROM eb.devices t WHERE user_id = :s;
SELECT jsonb_agg(to_jsonb(t)) FROM eb.addresses t WHERE user_id = :s;
SELECT jsonb_agg(to_jsonb(t)) FROM eb.orders t WHERE user_id = :s;
SELECT jsonb_agg(to_jsonb(t)) FROM (SELECT * FROM eb.messages WHERE sender = :s UNION SELECT * FROM eb.messages WHERE recipient = :s) t;
SELECT jsonb_agg(to_jsonb(t)) FROM eb.order_items t WHERE order_id IN (SELECT id FROM eb.orders WHERE user_id = :s);
SELECT jsonb_agg(to_jsonb(t)) FROM (SELECT * FROM eb.reviews WHERE user_id = :s UNION SELECT * FROM eb.reviews WHERE order_id IN (SELECT id FROM eb.orders WHERE user_id = :s)) t;
SELECT jsonb_agg(to_jsonb(e)) FROM privacy.consent_event e WHERE e.subject = :s::text AND e.subject_kind = 'person';
SELECT jsonb_agg(to_jsonb(q)) FROM privacy.request q WHERE q.subject_id = privacy.subject_pseudonym(:s::text);
COMMIT;
PGB
	cat >"$work/export_hand_function.pgbench" <<PGB
SELECT length(eb.by_hand((1 + nextval('eb.next_hand') % $active)::int)::text);
PGB
	chmod 644 "$work"/export*.pgbench
	local elat=() hlat=() flat=()
	async_latency "$work/export.pgbench" 50 >/dev/null	# warm-up
	async_latency "$work/export_hand.pgbench" 50 >/dev/null
	async_latency "$work/export_hand_function.pgbench" 50 >/dev/null
	for _ in 1 2 3; do
		elat+=("$(async_latency "$work/export.pgbench" 200)")
		hlat+=("$(async_latency "$work/export_hand.pgbench" 200)")
		flat+=("$(async_latency "$work/export_hand_function.pgbench" 200)")
	done
	e=$(printf '%s\n' "${elat[@]}" | median)
	h=$(printf '%s\n' "${hlat[@]}" | median)
	f=$(printf '%s\n' "${flat[@]}" | median)
	echo "$1 $e $h ${rows%% *} $f"
}
erows=${BENCH_EXPORT_ROWS:-1000000}
echo
echo "== export: 10 labelled tables, a subject with about 110 rows, against the same reads by hand (pgbench, prepared, one client, the next subject each time; 3 rounds of 200 each way, alternately; medians)"
median() { sort -n | sed -n 2p; }
{
	export_case $((erows / 10))
	export_case "$erows"
	[ -z "${BENCH_EXPORT_LARGE_ROWS:-}" ] || export_case "$BENCH_EXPORT_LARGE_ROWS"
} | awk '{
	printf "  %9d rows per table: export_subject %.2f ms; by hand, statements in one transaction %.2f ms (ratio %.2f); by hand, one SQL function %.2f ms (ratio %.2f); %d rows exported\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0), $5, ($5 > 0 ? $2 / $5 : 0), $4
	n[NR] = $1; e[NR] = $2; r[NR] = ($3 > 0 ? $2 / $3 : 99)
} END {
	ok = (e[1] > 0 && e[2] > 0)
	printf "goal at most 2x the statements by hand at %d rows per table: %s\n", n[2], (ok && r[2] <= 2 ? "yes" : "NO")
	printf "tables 10x larger (%d against %d rows): export_subject takes %.2fx the time; goal at most 1.5x: %s\n", n[2], n[1], (ok ? e[2] / e[1] : 0), (ok && e[2] / e[1] <= 1.5 ? "yes" : "NO")
	if (NR == 3)
		printf "tables 10x larger again (%d rows): %.2fx the time; goal at most 1.5x: %s\n", n[3], (e[3] > 0 ? e[3] / e[2] : 0), (e[3] > 0 && e[3] / e[2] <= 1.5 ? "yes" : "NO")
	else
		printf "(BENCH_EXPORT_LARGE_ROWS=%d adds a run at 10x the rows, about 10 GB more to load)\n", n[2] * 10
}'
as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q -c "DROP SCHEMA IF EXISTS eb CASCADE" >/dev/null 2>&1

# retention: expiring 1,000,000 of 2,000,000 rows (test/bench/retention.sql)
echo
echo "== retention: 1,000,000 of 2,000,000 rows expired (3 runs each, alternately, tables reloaded before each; medians)"
psql_bench() { as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 "$@"; }
ms() { sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1; }
median() { sort -n | sed -n 2p; }
# the cancellation tables are done with: their autovacuum would compete with the runs
psql_bench -c "DROP SCHEMA IF EXISTS cb CASCADE" 2>/dev/null
psql_bench -f "$work/test/bench/retention.sql" >/dev/null
reload() {	# $1: a table; the tables after it filled from it in id order, vacuumed, checkpointed
	local src=$1 list
	shift
	list=$(IFS=,; echo "$*")
	local stmts=(-c "TRUNCATE $list")
	for t in "$@"; do stmts+=(-c "INSERT INTO $t SELECT * FROM $src ORDER BY id"); done
	psql_bench "${stmts[@]}" -c "VACUUM ANALYZE $list" -c "CHECKPOINT" >/dev/null
}
: >"$work/delete.ms"
: >"$work/retention.ms"
for _ in 1 2 3; do
	reload rb_full rb_visits rb_copy
	psql_bench -c '\timing on' -c "DELETE FROM rb_copy WHERE seen_at < now() - interval '100 days'" | ms >>"$work/delete.ms"
	reload rb_full rb_visits rb_copy
	psql_bench -c '\timing on' -c 'CALL privacy.run_retention()' | ms >>"$work/retention.ms"
done
delete_ms=$(median <"$work/delete.ms")
quiet_ms=$(median <"$work/retention.ms")
psql_bench -At -F ' ' -c "SELECT rows, batches, extract(epoch FROM longest_batch) * 1000 FROM privacy.retention_log
                           WHERE relation = 'public.rb_visits' ORDER BY id DESC LIMIT 1" >"$work/retention.out"
read -r rows batches longest <"$work/retention.out"
# a write load on the same table: new rows, and updates of random rows
cat >"$work/writes.pgbench" <<'PGB'
\set id random(1, 2000000)
INSERT INTO rb_visits (user_id, ip, seen_at) VALUES (:id % 100000, '10.0.0.2', now());
UPDATE rb_visits SET ip = '10.0.0.3' WHERE id = :id;
PGB
chmod 644 "$work/writes.pgbench"
# the load runs 4 s with a log of every transaction; the run starts 1 s in; the
# transactions that ended inside the run's own start and end give its throughput
reload rb_full rb_visits rb_copy
mkdir -p "$work/writes"
[ "$(id -u)" -eq 0 ] && chown "$PG_RUN_USER" "$work/writes"
as_pg pgbench -n -M prepared -h "$work" -p "$port" -U postgres -c 1 -T 4 -l --log-prefix="$work/writes/tx" \
	-f "$work/writes.pgbench" postgres >/dev/null 2>&1 &
load=$!
sleep 1
psql_bench -c '\timing on' -c 'CALL privacy.run_retention()' >"$work/run.out"
wait "$load"
run_ms=$(ms <"$work/run.out")
psql_bench -At -F ' ' -c "SELECT extract(epoch FROM r.started_at), extract(epoch FROM r.ended_at), extract(epoch FROM t.longest_batch) * 1000
                           FROM privacy.retention_run r JOIN privacy.retention_run_table t ON t.run_id = r.id
                          WHERE t.relation = 'public.rb_visits' ORDER BY r.id DESC LIMIT 1" >"$work/window.out"
read -r run_start run_end longest_loaded <"$work/window.out"
# pgbench's log: client, transaction, latency (us), script, end time (s), (us)
cat "$work"/writes/tx* | awk -v s="$run_start" -v e="$run_end" '{
	t = $5 + $6 / 1e6
	if (first == "" || t < first) first = t
	if (t > last) last = t
	if (t < s) before++; else if (t <= e) during++; else after++
} END {
	printf "%.0f %.0f %.0f\n", before / (s - first), during / (e - s), after / (last - e)
}' >"$work/tps.out"
read -r alone_tps during_tps after_tps <"$work/tps.out"
awk -v d="$delete_ms" -v q="$quiet_ms" -v r="$run_ms" -v n="$rows" -v b="$batches" -v l="$longest" -v ll="$longest_loaded" \
	-v a="$alone_tps" -v w="$during_tps" -v f="$after_tps" -v ds="$(tr '\n' ' ' <"$work/delete.ms")" -v rs="$(tr '\n' ' ' <"$work/retention.ms")" 'BEGIN {
	printf "  one plain DELETE: %.0f ms (runs: %s); CALL privacy.run_retention(): %.0f ms (runs: %s); ratio %.2f; %d rows in %d batches of 5000\n", d, ds, q, rs, q / d, n, b
	printf "  goal at most 1.5x the plain DELETE: %s\n", (q / d <= 1.5 ? "yes" : "NO")
	printf "  longest batch (its whole transaction): %.0f ms alone, %.0f ms under the write load; goal about 1 s at most: %s\n", l, ll, (l <= 1000 && ll <= 1000 ? "yes" : "NO")
	printf "  a write load on the same table (insert + update, one client, 4 s, the run starting 1 s in and taking %.0f ms): %d tps before it, %d tps during it, %d tps after it\n", r, a, w, f
}'

# memory of a long run: batches of 100 (about 10,000 of them), its backend's memory
# contexts logged every 0.3 s from another session (pg_log_backend_memory_contexts)
reload rb_full rb_visits rb_copy
psql_bench -c 'CALL privacy.run_retention(batch_size => 100)' >/dev/null &
run=$!
: >"$work/memory.samples"
while kill -0 "$run" 2>/dev/null; do
	psql_bench -At -F ' ' -c "SELECT pid, (regexp_match(application_name, '([0-9]+) rows'))[1], pg_log_backend_memory_contexts(pid)
	                          FROM pg_stat_activity WHERE application_name LIKE 'privacy retention run%'" >>"$work/memory.samples"
	sleep 0.3
done
wait "$run"
sleep 0.5
pid=$(awk 'NF { print $1; exit }' "$work/memory.samples")
# each sample's rows so far, with the grand total its backend logged, in order
grep -E "\[$pid\] LOG:  Grand total" "$work/server.log" | sed -n 's/.*Grand total: \([0-9]*\) bytes.*/\1/p' >"$work/memory.totals"
awk 'NF == 3 && $2 != "" { print $2 }' "$work/memory.samples" | paste -d ' ' - "$work/memory.totals" |
	awk 'NF == 2 { n++; r[n] = $1; b[n] = $2; if ($2 > max) max = $2; if (min == "" || $2 < min) min = $2 } END {
	if (n < 2) { print "  memory: too few samples"; exit }
	printf "  memory of a run in batches of 100, sampled %d times: %d bytes after %d rows, %d bytes after %d rows (lowest %d, highest %d)\n", n, b[1], r[1], b[n], r[n], min, max
	printf "  memory stays flat however many rows expire (highest within 10%% of the first sample): %s\n", (max <= b[1] * 1.1 ? "yes" : "NO")
}'

# anonymization: a table of 1,000,000 rows with five labelled columns, against
# one UPDATE written by hand with the same expressions (test/bench/anonymize.sql)
arows=${BENCH_ANON_ROWS:-1000000}
echo
echo "== anonymization: anonymize_table() on $arows rows, five labelled columns, against one hand-written UPDATE with the same functions (3 runs each, alternately, the table reloaded before each; medians)"
psql_bench -v rows="$arows" -f "$work/test/bench/anonymize.sql" >/dev/null 2>&1
sets=$(psql_bench -At -c "SELECT string_agg(format('%I = %s', column_name, expression), ', ') FROM privacy.anonymization_plan('ab_users')")
psql_bench -At -c "SELECT column_name || ': ' || method FROM privacy.anonymization_plan('ab_users')" | sed 's/^/  /'
: >"$work/update.ms"
: >"$work/anonymize.ms"
for _ in 1 2 3; do
	reload ab_full ab_copy
	psql_bench -c '\timing on' -c "UPDATE ab_copy t SET $sets" | ms >>"$work/update.ms"
	# no run on record, so that the table is anonymized again
	psql_bench -c "DELETE FROM privacy.anonymize_part" -c "DELETE FROM privacy.anonymize_run" >/dev/null
	reload ab_full ab_users
	psql_bench -c '\timing on' -c "CALL privacy.anonymize_table('ab_users')" | ms >>"$work/anonymize.ms"
done
update_ms=$(median <"$work/update.ms")
anon_ms=$(median <"$work/anonymize.ms")
same=$(psql_bench -At -c "SELECT count(*) FROM ab_users u JOIN ab_copy c USING (id)
                          WHERE (u.email, u.phone, u.birth, u.nick, u.address) IS NOT DISTINCT FROM (c.email, c.phone, c.birth, c.nick, c.address)")
abatches=$(psql_bench -At -c "SELECT batches FROM privacy.anonymize_log ORDER BY id DESC LIMIT 1")
psql_bench -c "DROP TABLE ab_full, ab_users, ab_copy" >/dev/null
awk -v u="$update_ms" -v a="$anon_ms" -v n="$arows" -v s="$same" -v b="$abatches" 'BEGIN {
	printf "  one UPDATE: %.0f ms; anonymize_table: %.0f ms in %d committed batches (ratio %.2f); rows identical in both: %d of %d\n", u, a, b, a / u, s, n
	printf "  goal at most 1.3x the hand-written UPDATE: %s\n", (a / u <= 1.3 ? "yes" : "NO")
}'

# inserts into a table with a SUBJECT column, whose tombstone trigger looks up
# each new subject (ids no earlier case cancelled), against the same table without the label
irows=${BENCH_INSERT_ROWS:-1000000}
echo
echo "== inserts: $irows rows into a table with a SUBJECT column (the tombstone trigger, 10,000 tombstones), against the same table unlabelled (3 runs each, alternately; medians)"
psql_bench -c "CREATE TABLE ib_plain (id bigint, email text)" -c "CREATE TABLE ib_subject (id bigint, email text)" \
	-c "SECURITY LABEL FOR privacy ON COLUMN ib_subject.id IS 'SUBJECT'" \
	-c "INSERT INTO privacy.cancelled_subject (subject_id) SELECT privacy.subject_pseudonym('ib-gone-' || g) FROM generate_series(1, 10000) g" >/dev/null
: >"$work/plain.ms"
: >"$work/subject.ms"
for _ in 1 2 3; do
	psql_bench -c "TRUNCATE ib_plain, ib_subject" -c "CHECKPOINT" >/dev/null
	psql_bench -c '\timing on' -c "INSERT INTO ib_plain SELECT 1000000000 + g, 'user' || g || '@example.com' FROM generate_series(1, $irows) g" | ms >>"$work/plain.ms"
	psql_bench -c '\timing on' -c "INSERT INTO ib_subject SELECT 1000000000 + g, 'user' || g || '@example.com' FROM generate_series(1, $irows) g" | ms >>"$work/subject.ms"
done
plain_ms=$(median <"$work/plain.ms")
subject_ms=$(median <"$work/subject.ms")
psql_bench -c "DROP TABLE ib_plain, ib_subject" -c "DELETE FROM privacy.cancelled_subject WHERE subject_id IN (SELECT privacy.subject_pseudonym('ib-gone-' || g) FROM generate_series(1, 10000) g)" >/dev/null
awk -v p="$plain_ms" -v q="$subject_ms" -v n="$irows" 'BEGIN {
	printf "  %d rows: unlabelled %.0f ms; with the tombstone trigger %.0f ms (ratio %.2f, %.2f us more per row)\n", n, p, q, q / p, (q - p) * 1000 / n
}'

# discovery: 50 tables of 1,000,000 rows against 50 tables of 10,000 (test/bench/discover.sql)
drows=${BENCH_DISCOVER_ROWS:-1000000}
echo
echo "== discovery: privacy.discover() on a schema of 50 tables of $drows rows, and on one of 50 tables of 10,000"
psql_bench -v rows="$drows" -f "$work/test/bench/discover.sql" >/dev/null
discover_ms() {	# $1: schema; the median of 3 runs, after one to warm the catalogs
	psql_bench -c "SELECT count(*) FROM privacy.discover('$1')" >/dev/null
	for _ in 1 2 3; do
		psql_bench -c '\timing on' -c "SELECT count(*) FROM privacy.discover('$1')" | ms
	done | sort -n | sed -n 2p
}
large_ms=$(discover_ms db_large)
small_ms=$(discover_ms db_small)
found=$(psql_bench -At -c "SELECT count(*) FROM privacy.discover('db_large') WHERE confidence >= 0.8")
psql_bench -c "DROP SCHEMA db_large CASCADE" -c "DROP SCHEMA db_small CASCADE" >/dev/null
awk -v l="$large_ms" -v s="$small_ms" -v n="$drows" -v f="$found" 'BEGIN {
	printf "  50 tables of %d rows: %.0f ms; 50 tables of 10000 rows: %.0f ms (ratio %.2f); %d columns found with confidence 0.8 or more (150 hold personal data: phone, email and client in each table)\n", n, l, s, l / s, f
	printf "  goal within seconds: %s; independent of table size (ratio at most 1.5): %s\n", (l <= 5000 ? "yes" : "NO"), (l / s <= 1.5 ? "yes" : "NO")
}'


# subject keys: subject_encrypt for a new subject (its key file and the WAL
# record that carries it to standbys and recovery) against subject_encrypt for
# a subject that has its key (test/bench/subject_keys.sql)
echo
psql_bench -f "$work/test/bench/subject_keys.sql"

# an anonymized copy: privacy_anonymized_dump against pg_dump -Fc of the same
# database (1,000,000 users, 2,000,000 orders joining them), 3 runs each,
# alternately; medians
arows=${BENCH_DUMP_ROWS:-1000000}
echo
echo "== privacy_anonymized_dump of a database of $arows users and $((arows * 2)) orders, against pg_dump -Fc of it (3 runs each, alternately; medians)"
psql_bench -c "DROP DATABASE IF EXISTS dumpsrc" -c "CREATE DATABASE dumpsrc" >/dev/null
as_pg psql -X -h "$work" -p "$port" -U postgres -d dumpsrc -q -v ON_ERROR_STOP=1 -v rows="$arows" <<'SQL' >/dev/null
CREATE EXTENSION privacy;
CREATE TABLE users (id bigint PRIMARY KEY, phone text NOT NULL, email text UNIQUE, id_number text, city text, born date, plan text);
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN users.id_number IS 'CATEGORY identity.id_number';
SECURITY LABEL FOR privacy ON COLUMN users.born IS 'CATEGORY identity.birth_date';
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users, ship_phone text, total numeric(10,2), placed date);
CREATE INDEX ON orders (user_id);
SECURITY LABEL FOR privacy ON COLUMN orders.ship_phone IS 'CATEGORY contact.phone';
INSERT INTO users SELECT i, (13800000000 + i)::text, 'user' || i || '@example.com',
                         '110105' || to_char(date '1960-01-01' + i % 15000, 'YYYYMMDD') || lpad((i % 1000)::text, 3, '0') || 'X',
                         'city ' || i % 300, date '1960-01-01' + i % 15000, CASE WHEN i % 3 = 0 THEN 'gold' ELSE 'basic' END
  FROM generate_series(1, :rows) i;
INSERT INTO orders SELECT i, 1 + i % :rows, (13900000000 + i % :rows)::text, (i % 1000) / 10.0, date '2024-01-01' + i % 700
  FROM generate_series(1, 2 * :rows) i;
VACUUM ANALYZE;
SQL
dump_s() {	# $1: the command; seconds
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; echo 0; return; }
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}
dump_dir=$work/dumps
mkdir -p "$dump_dir"
[ "$(id -u)" -eq 0 ] && chown "$PG_RUN_USER" "$dump_dir"
plain_times=
anon_times=
for _ in 1 2 3; do
	plain_times="$plain_times $(dump_s as_pg "$PG_BINDIR/pg_dump" -Fc -h "$work" -p "$port" -U postgres -d dumpsrc -f "$dump_dir/plain.dump")"
	anon_times="$anon_times $(dump_s as_pg "$PG_BINDIR/privacy_anonymized_dump" -h "$work" -p "$port" -U postgres -d dumpsrc -f "$dump_dir/anon.dump")"
done
plain_s=$(echo $plain_times | tr ' ' '\n' | median)
anon_s=$(echo $anon_times | tr ' ' '\n' | median)
left=$(as_pg "$PG_BINDIR/pg_restore" -f - "$dump_dir/anon.dump" | grep -c -E 'user[0-9]+@example\.com' || true)
psql_bench -c "DROP DATABASE dumpsrc" >/dev/null
awk -v a="$anon_s" -v p="$plain_s" -v l="$left" 'BEGIN {
	printf "  privacy_anonymized_dump: %.2f s; pg_dump -Fc: %.2f s; ratio %.2f; lines of the copy holding an e-mail address of the source: %d\n", a, p, a / p, l
	printf "  goal at most 3x pg_dump -Fc: %s\n", (a / p <= 3 ? "yes" : "NO")
}'
