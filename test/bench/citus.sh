#!/usr/bin/env bash
# test/bench/citus.sh: cancelling subjects on a local Citus cluster (a
# coordinator and two workers, unix sockets only, the shape of TAP 014_citus)
# against the same statements written by hand, one transaction per subject.
#   test/bench/citus.sh [subjects]      (default 200 each way)
# Needs Citus installed for $PG_CONFIG (../shared/citus/build.sh builds it).
# Prints the time per subject of each and their ratio (#23 wants at most 3).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

n=${1:-200}
PORT=${CITUS_BENCH_PORT:-58701}
PG_CONFIG="$PG_CONFIG" "$ROOT/../shared/citus/build.sh" --check || { echo "citus is not installed for $PG_CONFIG" >&2; exit 1; }
build_install
work=$(make_workdir)
nodes=("$work/coordinator" "$work/worker1" "$work/worker2")
cleanup() {
	for d in "${nodes[@]}"; do
		[ -f "$d/postmaster.pid" ] && as_pg pg_ctl -D "$d" -m immediate -w stop >/dev/null 2>&1
	done
	rm -rf "$work"
}
trap cleanup EXIT

i=0
for d in "${nodes[@]}"; do
	as_pg initdb -D "$d" -A trust -U postgres --no-sync >/dev/null
	cat "$work/test/privacy.conf" >>"$d/postgresql.conf"
	cat >>"$d/postgresql.conf" <<CONF
shared_preload_libraries = 'citus,privacy'
max_prepared_transactions = 100
listen_addresses = ''
unix_socket_directories = '$work'
port = $((PORT + i))
citus.local_hostname = '$work'
citus.shard_count = 4
CONF
	as_pg pg_ctl -D "$d" -l "$d.log" -w start >/dev/null
	as_pg psql -X -q -h "$work" -p $((PORT + i)) -U postgres -d postgres -c 'CREATE EXTENSION citus'
	i=$((i + 1))
done
sql() { as_pg psql -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U postgres -d postgres "$@"; }
sql -c "SELECT citus_set_coordinator_host('$work', $PORT)" \
	-c "SELECT citus_add_node('$work', $((PORT + 1)))" -c "SELECT citus_add_node('$work', $((PORT + 2)))" >/dev/null
total=$((2 * n))
sql <<SQL >/dev/null
CREATE EXTENSION privacy;
CREATE SCHEMA app;
CREATE TABLE app.users (id bigint PRIMARY KEY, email text, phone text);
CREATE TABLE app.orders (user_id bigint NOT NULL, id bigint NOT NULL, address text, PRIMARY KEY (user_id, id));
CREATE TABLE app.events (user_id bigint NOT NULL, id bigint NOT NULL, ip inet, PRIMARY KEY (user_id, id));
SELECT create_distributed_table('app.users', 'id');
SELECT create_distributed_table('app.orders', 'user_id', colocate_with => 'app.users');
SELECT create_distributed_table('app.events', 'user_id', colocate_with => 'app.users');
ALTER TABLE app.orders ADD FOREIGN KEY (user_id) REFERENCES app.users (id);
SECURITY LABEL FOR privacy ON COLUMN app.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN app.users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN app.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON TABLE app.users IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN app.orders.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN app.orders.address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON TABLE app.orders IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN app.events.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN app.events.ip IS 'CATEGORY device.ip';
SECURITY LABEL FOR privacy ON TABLE app.events IS 'ON CANCEL ANONYMIZE';
INSERT INTO app.users SELECT i, 'u' || i || '@example.com', '138' || lpad(i::text, 8, '0') FROM generate_series(1, $total) i;
INSERT INTO app.orders SELECT u, o, 'Dock ' || o FROM generate_series(1, $total) u, generate_series(1, 3) o;
INSERT INTO app.events SELECT u, e, ('10.0.0.' || e)::inet FROM generate_series(1, $total) u, generate_series(1, 5) e;
ANALYZE;
SQL

# one transaction per subject, from one session each way: cancel_subject;
# the same statements by hand (lock the subject's rows of each table, delete
# or anonymize them), with a receipt row in a table of the coordinator as
# cancellation writes one (a local write: the commit flushes WAL there too),
# and without it
third=$((n / 2))
{
	for s in $(seq 1 "$n"); do echo "SELECT count(*) FROM privacy.cancel_subject('$s');"; done
} >"$work/extension.sql"
by_hand() {	# by_hand FIRST LAST RECEIPT
	for s in $(seq "$1" "$2"); do
		echo "BEGIN; SELECT id FROM app.users WHERE id = $s FOR UPDATE; SELECT id FROM app.orders WHERE user_id = $s FOR UPDATE;"
		echo "SELECT id FROM app.events WHERE user_id = $s FOR UPDATE; DELETE FROM app.orders WHERE user_id = $s;"
		echo "UPDATE app.events SET ip = NULL WHERE user_id = $s; DELETE FROM app.users WHERE id = $s;"
		[ "$3" = receipt ] && echo "INSERT INTO receipt VALUES ($s, now());"
		echo "COMMIT;"
	done
}
by_hand $((n + 1)) $((n + third)) receipt >"$work/by_hand.sql"
by_hand $((n + third + 1)) "$total" none >"$work/by_hand_bare.sql"
sql -c "CREATE TABLE receipt (subject bigint, at timestamptz)" >/dev/null
chmod 644 "$work"/*.sql
# warm up both paths (plans, connections), then measure
sql -c "SELECT count(*) FROM privacy.cancel_subject('$total', dry_run => true)" >/dev/null
run() {	# run FILE SUBJECTS: ms per subject
	local start end
	start=$(date +%s.%N)
	sql -f "$1" >/dev/null
	end=$(date +%s.%N)
	echo "$start $end" | awk -v n="$2" '{printf "%.2f", ($2 - $1) * 1000 / n}'
}
ext=$(run "$work/extension.sql" "$n")
hand=$(run "$work/by_hand.sql" "$third")
bare=$(run "$work/by_hand_bare.sql" $((n - third)))
left=$(sql -c "SELECT (SELECT count(*) FROM app.users) || ' ' || (SELECT count(*) FROM app.orders) || ' ' || (SELECT count(ip) FROM app.events)")
[ "$left" = "0 0 0" ] || { echo "bench: rows left after cancelling everyone: $left" >&2; exit 1; }
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
echo "citus, $n subjects (3 orders, 5 events each), 2 workers: cancel_subject $ext ms per subject;" \
	"by hand with a receipt $hand ms (ratio $(ratio "$ext" "$hand")); by hand without one $bare ms (ratio $(ratio "$ext" "$bare"))"
