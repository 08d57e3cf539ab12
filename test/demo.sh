#!/usr/bin/env bash
# test/demo.sh: `make demo`. Builds and installs the extension, starts a scratch
# cluster (as the postgres OS user, in a temporary directory, on a private
# socket, with shared_preload_libraries = 'privacy'), walks through
# test/demo/demo.sql printing each step, and stops the cluster.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

build_install
work=$(make_workdir)
data="$work/data"
port=${DEMO_PORT:-5432}

stop() {
	if [ -f "$data/postmaster.pid" ]; then
		as_pg pg_ctl -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap stop EXIT

echo "== starting a scratch cluster in $data"
as_pg initdb -D "$data" -A trust -U postgres --no-sync >/dev/null
cat "$work/test/privacy.conf" >>"$data/postgresql.conf"
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
CONF
as_pg pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null

as_pg psql -X -h "$work" -p "$port" -U postgres -d postgres -q \
	-v ON_ERROR_STOP=1 --echo-queries -f "$work/test/demo/demo.sql"

echo "== stopping the scratch cluster"
