# test/lib.sh: helpers shared by run-tests.sh and demo.sh (sourced, not run).
# PostgreSQL refuses to run as root: as root, servers and test drivers run as
# the "postgres" OS user, in a scratch directory that user owns.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=$("$PG_CONFIG" --bindir)
PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")/..
PG_RUN_USER=${PG_RUN_USER:-postgres}

# build and install the extension (with sudo when the install dirs are not ours)
build_install() {
	make -s -C "$ROOT" >/dev/null
	if [ -w "$("$PG_CONFIG" --pkglibdir)" ]; then
		make -s -C "$ROOT" install >/dev/null
	else
		sudo make -s -C "$ROOT" install >/dev/null
	fi
}

# run a command as the user the scratch clusters run as
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PG_RUN_USER" -- env PATH="$PG_BINDIR:$PATH" "$@"
	else
		env PATH="$PG_BINDIR:$PATH" "$@"
	fi
}

# a scratch directory holding a copy of what the suites read, owned by that user
make_workdir() {
	local work
	work=$(mktemp -d /tmp/privacy-XXXXXX)
	cp -r "$ROOT/sql" "$ROOT/expected" "$ROOT/test" "$ROOT/doc" "$ROOT/Makefile" "$work/"
	# a master key for the scratch clusters: 32 random bytes, owner-only
	head -c 32 /dev/urandom >"$work/master.key"
	chmod 600 "$work/master.key"
	echo "privacy.master_key_file = '$work/master.key'" >>"$work/test/privacy.conf"
	# and a directory for per-subject keys, outside the data directory
	mkdir -m 700 "$work/subject_keys"
	echo "privacy.subject_key_dir = '$work/subject_keys'" >>"$work/test/privacy.conf"
	[ "$(id -u)" -eq 0 ] && chown -R "$PG_RUN_USER" "$work"
	chmod 755 "$work"
	echo "$work"
}

# start_cluster WORK PORT: initdb and start a scratch cluster in WORK/data with
# test/privacy.conf, on a private socket in WORK (no TCP); stop_cluster WORK
start_cluster() {
	local work=$1 port=$2 data="$1/data"
	as_pg initdb -D "$data" -A trust -U postgres --no-sync >/dev/null
	cat "$work/test/privacy.conf" >>"$data/postgresql.conf"
	cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
CONF
	as_pg pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
}

stop_cluster() {
	local data="$1/data"
	if [ -f "$data/postmaster.pid" ]; then
		as_pg pg_ctl -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	fi
}

# scratch_session PORT: build and install, make a scratch directory, start a
# cluster in it, and stop and remove both when the calling script exits.
# Sets $work and $port for the caller.
scratch_session() {
	port=$1
	build_install
	work=$(make_workdir)
	trap 'stop_cluster "$work"; rm -rf "$work"' EXIT
	echo "== scratch cluster in $work/data (private socket, a fresh master key)"
	start_cluster "$work" "$port"
}
