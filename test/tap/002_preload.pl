# test/tap/002_preload.pl: without shared_preload_libraries the extension
# refuses to install, with the fix in its hint; with it, labels work in every
# new backend.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;

my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION privacy');
isnt($rc, 0, 'CREATE EXTENSION fails without preloading');
like($err, qr/ERROR:  privacy must be loaded via shared_preload_libraries/, 'error names the setting');
like($err, qr/HINT:  Add privacy to shared_preload_libraries in postgresql\.conf and restart the server\./,
	'hint says how to fix it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'privacy'}),
	'0', 'nothing was installed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'privacy'}),
	'0', 'no schema was left behind');

# SECURITY LABEL without the provider: PostgreSQL's own error
$node->safe_psql('postgres', 'CREATE TABLE t (a text)');
($rc, $out, $err) = $node->psql('postgres', q{SECURITY LABEL FOR privacy ON COLUMN t.a IS 'SUBJECT'});
like($err, qr/security label provider "privacy" is not loaded/, 'labels need the preloaded provider');

# the documented configuration
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privacy'\n");
$node->restart;

# preloaded, but the extension is not created in this database yet
($rc, $out, $err) = $node->psql('postgres', q{SECURITY LABEL FOR privacy ON COLUMN t.a IS 'SUBJECT'});
like($err, qr/extension "privacy" is not installed in this database/, 'label before CREATE EXTENSION is refused');
like($err, qr/HINT:  Run CREATE EXTENSION privacy in this database first\./, 'with a hint');

$node->safe_psql('postgres', 'CREATE EXTENSION privacy');
$node->safe_psql('postgres', q{SECURITY LABEL FOR privacy ON COLUMN t.a IS 'CATEGORY contact.phone'});
# a fresh backend sees the provider too
is($node->safe_psql('postgres', q{SELECT category FROM privacy.labels}), 'contact.phone',
	'labels work once preloaded');

# no master key here: a table with a SUBJECT column still takes rows, as its
# tombstone trigger needs no key while no subject was ever cancelled
$node->safe_psql('postgres', q{CREATE TABLE people (id int, name text);
SECURITY LABEL FOR privacy ON COLUMN people.id IS 'SUBJECT';
INSERT INTO people VALUES (1, 'a'), (2, 'b'); UPDATE people SET id = 3 WHERE id = 2});
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM people}), '1,3',
	'without a master key, rows for subjects are inserted and updated');
($rc, $out, $err) = $node->psql('postgres', q{SELECT privacy.subject_pseudonym('1')});
like($err, qr/ERROR:  privacy.master_key_file is not set/, '(while what needs the key says it is missing)');

# the privacy. GUC prefix is reserved: a misspelt setting is refused
($rc, $out, $err) = $node->psql('postgres', q{SET privacy.no_such_setting = 'x'});
like($err, qr/invalid configuration parameter name "privacy\.no_such_setting"/, 'privacy. prefix reserved');

# CREATE EXTENSION refuses a schema somebody prepared in advance
$node->safe_psql('postgres', 'CREATE DATABASE trap');
$node->safe_psql('trap', q{CREATE SCHEMA privacy; CREATE TABLE privacy.category (name text)});
($rc, $out, $err) = $node->psql('trap', 'CREATE EXTENSION privacy');
like($err, qr/schema "privacy" already contains objects/, 'a prepared schema is refused');
is($node->safe_psql('trap', q{SELECT count(*) FROM pg_extension WHERE extname = 'privacy'}), '0',
	'and the extension is not installed');

# an empty schema prepared by a role that is not a superuser: its owner could
# drop our objects later, so it is refused too; so is one others may write to
$node->safe_psql('postgres', q{CREATE ROLE schemer LOGIN; CREATE DATABASE trap2; GRANT CREATE ON DATABASE trap2 TO schemer});
$node->safe_psql('trap2', q{SET ROLE schemer; CREATE SCHEMA privacy});
($rc, $out, $err) = $node->psql('trap2', 'CREATE EXTENSION privacy');
like($err, qr/schema "privacy" already exists and is owned by role "schemer", who is not a superuser/,
	'an empty schema owned by another role is refused');
$node->safe_psql('trap2', q{DROP SCHEMA privacy; CREATE SCHEMA privacy; GRANT CREATE ON SCHEMA privacy TO schemer});
($rc, $out, $err) = $node->psql('trap2', 'CREATE EXTENSION privacy');
like($err, qr/schema "privacy" already exists and schemer may create objects in it/,
	'an empty schema others may create objects in is refused');
is($node->safe_psql('trap2', q{SELECT count(*) FROM pg_extension WHERE extname = 'privacy'}), '0',
	'and the extension is not installed');
$node->safe_psql('trap2', q{DROP SCHEMA privacy; CREATE SCHEMA privacy});
$node->safe_psql('trap2', 'CREATE EXTENSION privacy');
is($node->safe_psql('trap2', q{SELECT count(*) FROM pg_extension WHERE extname = 'privacy'}), '1',
	'an empty schema of a superuser, writable by nobody else, is used');

$node->stop;
done_testing();
