#!/bin/sh
# src/sql/freeze.sh VERSION: freeze the scripts of a release
# (doc/upgrading.md, "Cutting a release"): builds privacy--VERSION.sql from
# the concern files (make, with VERSION as the control file's
# default_version) and the update script privacy--LAST--VERSION.sql where the
# Makefile builds one, copies them to src/sql/release/ and records their
# SHA-256 in src/sql/release/SHA256SUMS.  Refuses a version that
# is frozen already (its file exists) or released (git tag vVERSION exists).
# Run it from the top of the source tree, with PG_CONFIG set as for make.
set -eu

if [ $# -ne 1 ] || ! printf '%s\n' "$1" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$'; then
	echo "usage: $0 VERSION (e.g. 0.1.0)" >&2
	exit 2
fi
version=$1
cd "$(dirname "$0")/../.."
release=src/sql/release
frozen=$release/privacy--$version.sql
if [ -e "$frozen" ]; then
	echo "$frozen exists: version $version is frozen, and a frozen file is never written again" >&2
	exit 1
fi
if git rev-parse -q --verify "refs/tags/v$version" >/dev/null 2>&1; then
	echo "git tag v$version exists: version $version is released, and its install script is never written again" >&2
	exit 1
fi
current=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" privacy.control)
if [ "$current" != "$version" ]; then
	echo "privacy.control says default_version = '$current', not '$version': freeze a version while it is the one the concern files build" >&2
	exit 1
fi
make -s
mkdir -p "$release"
# the install script, and the update script from the last release if the
# Makefile builds one
for f in "privacy--$version.sql" privacy--*--"$version.sql"; do
	[ -e "$f" ] || continue
	if [ -e "$release/$f" ]; then
		echo "$release/$f exists: a frozen file is never written again" >&2
		exit 1
	fi
	cp "$f" "$release/$f"
	chmod 444 "$release/$f"
	(cd "$release" && sha256sum "$f") >>"$release/SHA256SUMS"
	echo "frozen: $release/$f"
done
sort -k2 -o "$release/SHA256SUMS" "$release/SHA256SUMS"
echo "next: set default_version in privacy.control to the next version, and start src/sql/upgrade/$version--NEXT.sql (doc/upgrading.md)"
