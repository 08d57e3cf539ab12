#!/bin/sh
# src/sql/check-frozen.sh: the frozen scripts of released versions
# (src/sql/release) are unchanged: each matches its line in SHA256SUMS, every
# file there has one, and, where the checkout has the git tag of its version
# (vX for privacy--X.sql and privacy--A--X.sql), it is the file at that tag.
# Prints one "ok: frozen ..." or "FAILED: frozen ..." line per check; exits 1
# on any failure.  Run by the stage frozen of make test (test/run-tests.sh).
set -u
cd "$(dirname "$0")/../.."
release=src/sql/release
status=0
ok() { echo "ok: frozen $*"; }
bad() { echo "FAILED: frozen $*"; status=1; }

if [ ! -f "$release/SHA256SUMS" ]; then
	bad "$release/SHA256SUMS is missing"
	exit 1
fi
for f in "$release"/privacy--*.sql; do
	[ -e "$f" ] || continue
	name=$(basename "$f")
	if ! grep -q "  $name\$" "$release/SHA256SUMS"; then
		bad "$name has no line in SHA256SUMS (frozen files are made by src/sql/freeze.sh)"
	fi
done
while read -r sum name; do
	[ -n "$name" ] || continue
	f=$release/$name
	if [ ! -f "$f" ]; then
		bad "$name is in SHA256SUMS but missing"
		continue
	fi
	if [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sum" ]; then
		ok "$name matches SHA256SUMS"
	else
		bad "$name differs from SHA256SUMS: a frozen file is never edited (doc/upgrading.md)"
	fi
	version=$(printf '%s\n' "$name" | sed 's/^privacy--\(.*--\)\{0,1\}\([^-]*\)\.sql$/\2/')
	if git rev-parse -q --verify "refs/tags/v$version" >/dev/null 2>&1; then
		if git show "v$version:$f" 2>/dev/null | cmp -s - "$f"; then
			ok "$name is the file of tag v$version"
		else
			bad "$name differs from the file of tag v$version"
		fi
	fi
done <"$release/SHA256SUMS"
exit $status
