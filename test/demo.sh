#!/usr/bin/env bash
# test/demo.sh: `make demo`. Builds and installs the extension, starts a scratch
# cluster (as the postgres OS user, in a temporary directory, on a private
# socket, with shared_preload_libraries = 'privacy'), walks through
# test/demo/demo.sql printing each step, and stops the cluster.
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

echo "== stopping the scratch cluster"
