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

echo "== stopping the scratch cluster"
