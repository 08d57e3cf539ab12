#!/usr/bin/env bash
# test/deps.sh: install the Debian packages that building, testing and the demo need
# (test/deps.sh fuzz: and the fuzz harness).
# Idempotent: installs only what is missing (apt-get update runs only then).
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
pkgs=(
	make gcc
	"postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
	libssl-dev          # OpenSSL headers, -lcrypto
	libipc-run-perl     # TAP tests (PostgreSQL::Test::Cluster)
	"postgresql-$PG_MAJOR-cron"   # the scheduler of retention (TAP test, docs)
	"postgresql-$PG_MAJOR-plpgsql-check"   # static checks and the profiler (suites plpgsql_check, coverage)
	libfaketime         # the suites again with the server's clock moved
	python3-hypothesis python3-psycopg2   # the generated-schema test of cancellation (test/generated)
)
# make fuzz: libFuzzer with ASan/UBSan (clang), and valgrind
if [ "${1:-}" = fuzz ]; then
	pkgs+=(clang-14 libclang-rt-14-dev valgrind)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
