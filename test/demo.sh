#!/usr/bin/env bash
# test/demo.sh: `make demo`. Builds and installs the extension, starts a scratch
# cluster (as the postgres OS user, in a temporary directory, on a private
# socket, with shared_preload_libraries = 'privacy'), walks through
# test/demo/demo.sql printing each step, then shows an anonymized copy (33) and
# the replay of cancellations after restoring an older backup (34), and stops the cluster.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

scratch_session "${DEMO_PORT:-5432}"

as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q \
	-v ON_ERROR_STOP=1 --echo-queries -f "$work/test/demo/demo.sql"

echo
echo "== 33. A copy for developers: privacy_anonymized_dump, then pg_restore into a database without the extension"
as_pg "$PG_BINDIR/privacy_anonymized_dump" -h "$work" -p "$port" -U postgres -d postgres -f "$work/anonymized.dump"
as_pg "$PG_BINDIR/createdb" -h "$work" -p "$port" -U postgres demo_copy
as_pg "$PG_BINDIR/pg_restore" -h "$work" -p "$port" -U postgres --exit-on-error --no-owner --no-privileges -d demo_copy "$work/anonymized.dump"
echo "The source:"
as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -c "SELECT id, phone, email, nickname FROM users ORDER BY id LIMIT 3"
echo "The copy: the same rows and joins, no real person, no extension privacy, no keys, no consent ledger:"
as_pg psql -X -h "$work" -p "$port" -U postgres -d demo_copy \
	-c "SELECT id, phone, email, nickname FROM users ORDER BY id LIMIT 3" \
	-c "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id) AS orders_joining_users,
	           (SELECT count(*) FROM pg_extension WHERE extname = 'privacy') AS privacy_extension"

echo
echo "== 34. An older backup comes back: replay the cancellations made since"
psql_demo() { as_pg psql -X -h "$work" -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql_demo -d postgres -q -c "INSERT INTO users (id, phone, email, nickname) VALUES (77, '13700000077', 'seven@example.com', 'Seven')"
as_pg "$PG_BINDIR/pg_dump" -h "$work" -p "$port" -U postgres -Fc -d postgres -f "$work/before.dump"
echo "A backup was taken; then user 77 cancels their account:"
psql_demo -d postgres -c "SELECT * FROM privacy.cancel_subject('77')"
echo "The journal outside the database (privacy.subject_key_dir/cancelled.journal) has its tombstone:"
psql_demo -d postgres -c "SELECT subject_id = privacy.subject_pseudonym('77') AS is_user_77, cancelled_at FROM privacy.tombstone_journal() ORDER BY cancelled_at DESC LIMIT 1"
as_pg "$PG_BINDIR/createdb" -h "$work" -p "$port" -U postgres demo_restored
as_pg "$PG_BINDIR/pg_restore" -h "$work" -p "$port" -U postgres --exit-on-error -d demo_restored "$work/before.dump"
echo "Restored from the backup, user 77 is back:"
psql_demo -d demo_restored -c "SELECT id, phone, email FROM users WHERE id = 77"
psql_demo -d demo_restored -c "SELECT * FROM privacy.replay_cancellations()"
psql_demo -d demo_restored -c "SELECT count(*) AS user_77_rows FROM users WHERE id = 77"
echo "And the restored database refuses user 77 from now on:"
psql_demo -d demo_restored -c "INSERT INTO users (id, phone) VALUES (77, '13700000077')" || true

echo "== stopping the scratch cluster"
