# test/tap/016_pg_upgrade.pl: pg_upgrade of a cluster with the extension and
# a user's data (doc/upgrading.md "pg_upgrade").  Two clusters of
# PostgreSQL 15 (the same major: what is shown is the extension's part, its
# catalog, its tables and its keys, not a change of major): the old one gets
# the extension and test/upgrade/fill.sql (labels, consents, keys and
# ciphertexts, per-subject keys, tombstones, requests, holds, retention log,
# audit chain); pg_upgrade --check, then a real run into the new cluster,
# whose configuration names the same master key file and a copy of the
# subject key directory (pg_upgrade copies the data directory only).
# Afterwards test/upgrade/observe.sql shows the same as before: every row,
# decryption, pseudonyms, consents at past moments, the audit chain,
# tombstones refusing; and the chain goes on.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $source = $ENV{PRIVACY_SOURCE} or plan skip_all => 'PRIVACY_SOURCE is set by make test';

my $dir = PostgreSQL::Test::Utils::tempdir;
mkdir "$dir/old";
my $old = PostgreSQL::Test::Cluster->new('upgrade_old');
$old->init;
$old->append_conf('postgresql.conf', key_conf("$dir/old"));
$old->start;
$old->safe_psql('postgres', 'CREATE DATABASE shop');
$old->safe_psql('shop', 'CREATE EXTENSION privacy');
my ($rc, $out, $err) = $old->psql('shop', slurp_file("$source/test/upgrade/fill.sql"), on_error_stop => 1);
is($rc, 0, 'the old cluster holds a shop with labels, consents, keys, ciphertexts, tombstones, requests, holds') or diag($err);
my $observe = slurp_file("$source/test/upgrade/observe.sql");
my $before = $old->safe_psql('shop', $observe);
like($before, qr/hello 3/, 'a per-subject ciphertext decrypts before the upgrade');
my $journal = -e "$dir/old/subjects/cancelled.journal";
$old->stop;

# the new cluster: the same master key, a copy of the subject key directory
mkdir "$dir/new";
system('cp', '-p', "$dir/old/master.key", "$dir/new/master.key") == 0 or die 'cp master.key';
system('cp', '-rp', "$dir/old/subjects", "$dir/new/subjects") == 0 or die 'cp subjects';
my $new = PostgreSQL::Test::Cluster->new('upgrade_new');
$new->init;
$new->append_conf('postgresql.conf', "shared_preload_libraries = 'privacy'\n"
	  . "privacy.master_key_file = '$dir/new/master.key'\n"
	  . "privacy.subject_key_dir = '$dir/new/subjects'\n");

my $bindir = $new->config_data('--bindir');
my @upgrade = (
	'pg_upgrade', '--no-sync',
	'-d', $old->data_dir, '-D', $new->data_dir,
	'-b', $bindir, '-B', $bindir,
	'-s', $new->host, '-p', $old->port, '-P', $new->port);
# pg_upgrade writes its logs in the current directory
chdir $dir or die "chdir $dir: $!";
command_ok([ @upgrade, '--check' ], 'pg_upgrade --check passes with the extension and its data');
command_ok(\@upgrade, 'pg_upgrade runs');

$new->start;
is($new->safe_psql('shop', q{SELECT count(*) FROM pg_extension WHERE extname = 'privacy'}), '1',
	'the extension is in the upgraded database');
my $after = $new->safe_psql('shop', $observe);
is($after, $before,
	'every row, decryption (keys and per-subject keys), pseudonyms, consents at past moments, audit chain, labels, tombstones: the same after pg_upgrade');
like($after, qr/\|\s*hello 3\s*$/m, 'a per-subject ciphertext decrypts after pg_upgrade');
like($after, qr/has cancelled their account/, 'a cancelled subject is still refused');
ok(!$journal || -e "$dir/new/subjects/cancelled.journal", 'the tombstone journal came with the subject key directory');

# the chain, the ledger and the keys go on
($rc, $out, $err) = $new->psql('shop', slurp_file("$source/test/upgrade/after.sql"), on_error_stop => 1);
is($rc, 0, 'after pg_upgrade: consents, key rotation, cancellation and the audit chain go on') or diag($err);

$new->stop;
done_testing();
