# test/tap/011_standby.pl: a failover loses no subject key and forgets no
# shred (#24).
#
# A primary with the default subject key directory (privacy_keys in the data
# directory) and a hot standby made from it with an ordinary base backup.
# After the backup, subjects get keys, some old and new subjects are
# shredded, one is cancelled: WAL carries each key file, each removal and
# each journal line.  The standby decrypts every datum that is not shredded
# and refuses every shredded subject, as the primary does; it creates no key
# of its own.  Promoted, it is a primary that lacks nothing.  A second pair
# shows a standby whose key directory (outside the data directory, so not in
# the base backup) is missing: the lint says so, before and after recovery
# had to create it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;
master_key("$dir/master.key");

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'privacy'\nprivacy.master_key_file = '$dir/master.key'\n");
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE secrets (subject text PRIMARY KEY, ct bytea NOT NULL);
INSERT INTO secrets SELECT 'before-' || g, privacy.subject_encrypt('before-' || g, 'value of before-' || g)
  FROM generate_series(1, 5) g;
CREATE TABLE users (id text PRIMARY KEY, email text);
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email';
INSERT INTO users SELECT 'u' || g, 'u' || g || '@example.com' FROM generate_series(1, 4) g;
SELECT * FROM privacy.cancel_subject('u1');
});
my $keydir = $primary->data_dir . '/privacy_keys';
ok(-d $keydir, 'the default subject key directory is privacy_keys in the data directory');
is((stat $keydir)[2] & 07777, 0700, 'created owner-only');

# the standby: an ordinary base backup (it copies privacy_keys), streaming, hot
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# after the standby was made: new keys, shreds of old and new subjects, a cancellation
$primary->safe_psql('postgres', q{
INSERT INTO secrets SELECT 'after-' || g, privacy.subject_encrypt('after-' || g, 'value of after-' || g)
  FROM generate_series(1, 5) g;
SELECT privacy.shred_subject('before-1');
SELECT privacy.shred_subject('after-1');
BEGIN;
SELECT privacy.shred_subject('before-2');
ROLLBACK;
SELECT * FROM privacy.cancel_subject('u2');
});
# a subject encrypted in a transaction that rolled back keeps its (unused) key
$primary->safe_psql('postgres', q{BEGIN; INSERT INTO secrets VALUES ('rolled-back', privacy.subject_encrypt('rolled-back', 'x')); ROLLBACK;});
$primary->wait_for_catchup($standby);

sub key_files
{
	my ($d) = @_;
	opendir(my $dh, $d) or return '';
	my @f = sort grep { /\.key$/ } readdir $dh;
	closedir $dh;
	return join(' ', map { $_ . ':' . unpack('H*', slurp_file("$d/$_")) } @f);
}
my $standby_keydir = $standby->data_dir . '/privacy_keys';
is(key_files($standby_keydir), key_files($keydir), 'the standby has the same key files as the primary, byte for byte');
is(scalar(split / /, key_files($keydir)), 9, '11 subjects got keys (one in a transaction that rolled back), 2 were shredded (a third shred rolled back)');
is(slurp_file("$standby_keydir/cancelled.journal"), slurp_file("$keydir/cancelled.journal"),
	'the standby has the same tombstone journal');

my $expected = join(',', map { "$_=value of $_" } (map { "before-$_" } 2 .. 5), (map { "after-$_" } 2 .. 5));
my $decrypt_all = q{SELECT string_agg(subject || '=' || privacy.subject_decrypt(subject, ct), ',' ORDER BY subject DESC)
                      FROM secrets WHERE subject NOT IN ('before-1', 'after-1')};
$expected = join(',', reverse sort split /,/, $expected);
is($primary->safe_psql('postgres', $decrypt_all), $expected, 'the primary decrypts every datum that is not shredded');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($standby->safe_psql('postgres', $decrypt_all), $expected, 'so does the hot standby, for keys made before and after its base backup');

for my $s ('before-1', 'after-1')
{
	my ($ret, $out, $err) = $standby->psql('postgres', qq{SELECT privacy.subject_decrypt(subject, ct) FROM secrets WHERE subject = '$s'});
	like($err, qr/ERROR:  the subject's key was shredded/, "the standby refuses $s, shredded after its base backup");
	unlike($err, qr/value of/, 'and shows nothing of it');
	my $file = $standby->safe_psql('postgres', qq{SELECT privacy.subject_pseudonym('$s')}) . '.key';
	ok(!-e "$standby_keydir/$file", "its key file is gone from the standby");
}

# a standby creates no key; it encrypts for a subject that has one
my ($ret, $out, $err) = $standby->psql('postgres', q{SELECT privacy.subject_encrypt('new-on-standby', 'x')});
like($err, qr/ERROR:  cannot create a subject key on a standby/, 'a standby refuses to create a subject key');
like($err, qr/HINT:  Encrypt for a new subject on the primary\./, 'with a hint');
is(scalar(split / /, key_files($standby_keydir)), 9, 'and wrote no file');
is($standby->safe_psql('postgres', q{SELECT privacy.subject_decrypt('after-3', privacy.subject_encrypt('after-3', 'again'))}),
	'again', 'it encrypts for a subject whose key it has');
is($standby->safe_psql('postgres', q{SELECT string_agg(subject_id, ',' ORDER BY subject_id) FROM privacy.tombstone_journal()}),
	$primary->safe_psql('postgres', q{SELECT string_agg(subject_id, ',' ORDER BY subject_id) FROM privacy.tombstone_journal()}),
	'the standby reads the same cancellations from the journal');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM privacy.key_storage_problems()}), '0',
	'the lint finds nothing wrong with the standby');

# failover
$primary->stop;
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'the standby is promoted');
is($standby->safe_psql('postgres', $decrypt_all), $expected, 'the new primary decrypts every datum that is not shredded');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT privacy.subject_decrypt(subject, ct) FROM secrets WHERE subject = 'after-1'});
like($err, qr/ERROR:  the subject's key was shredded/, 'and refuses the shredded subjects');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT privacy.subject_encrypt('after-1', 'x')});
like($err, qr/ERROR:  the subject's key was shredded/, 'also for new values');
is($standby->safe_psql('postgres', q{SELECT privacy.subject_decrypt('rolled-back', privacy.subject_encrypt('rolled-back', 'y'))}),
	'y', 'the key of the rolled-back transaction serves its subject');
is($standby->safe_psql('postgres', q{
INSERT INTO secrets VALUES ('new-1', privacy.subject_encrypt('new-1', 'value of new-1'));
SELECT privacy.subject_decrypt('new-1', ct) FROM secrets WHERE subject = 'new-1'}), 'value of new-1',
	'the new primary creates keys');
is($standby->safe_psql('postgres', q{SELECT privacy.sweep_subject_keys()}), '0', 'there is no leftover key file to sweep');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM privacy.tombstone_journal() WHERE subject_id IN (privacy.subject_pseudonym('u1'), privacy.subject_pseudonym('u2'))}),
	'2', 'the journal knows both cancellations, before and after the base backup');
my @rows = split /\n/, $standby->safe_psql('postgres', q{SELECT * FROM privacy.replay_cancellations()});
is(scalar(grep { /\|users\|/ } @rows), 0, 'replay_cancellations finds nothing to erase again');
$standby->stop;

# a standby whose key directory, outside the data directory, was not copied
my $p2 = PostgreSQL::Test::Cluster->new('primary_ext');
$p2->init(allows_streaming => 1);
subject_dir("$dir/keys_ext");
$p2->append_conf('postgresql.conf',
	"shared_preload_libraries = 'privacy'\nprivacy.master_key_file = '$dir/master.key'\nprivacy.subject_key_dir = '$dir/keys_ext'\n");
$p2->start;
$p2->safe_psql('postgres', q{CREATE EXTENSION privacy;
CREATE TABLE secrets (subject text PRIMARY KEY, ct bytea NOT NULL);
INSERT INTO secrets VALUES ('old', privacy.subject_encrypt('old', 'old value'));});
$p2->backup('base');
my $s2 = PostgreSQL::Test::Cluster->new('standby_ext');
$s2->init_from_backup($p2, 'base', has_streaming => 1);
# on another machine the path would be the same; here it must differ from the primary's
$s2->append_conf('postgresql.conf', "privacy.subject_key_dir = '$dir/keys_ext_standby'\n");
$s2->start;
like($s2->safe_psql('postgres', q{SELECT setting || ': ' || problem FROM privacy.key_storage_problems()}),
	qr/^privacy\.subject_key_dir: this standby has no subject key directory/, 'the lint reports a standby whose key directory is missing');
{
	my ($r, $o, $e) = $s2->psql('postgres', q{SELECT severity || ' ' || message FROM privacy.check() WHERE object = 'privacy.subject_key_dir'});
	like($o, qr/^error this standby has no subject key directory/, 'privacy.check() reports it');
}
$p2->safe_psql('postgres', q{INSERT INTO secrets VALUES ('new', privacy.subject_encrypt('new', 'new value'))});
$p2->wait_for_catchup($s2);
ok(-e "$dir/keys_ext_standby/INCOMPLETE", 'recovery created the missing directory and marked it incomplete');
is($s2->safe_psql('postgres', q{SELECT privacy.subject_decrypt('new', ct) FROM secrets WHERE subject = 'new'}), 'new value',
	'the standby has the key made after its base backup');
($ret, $out, $err) = $s2->psql('postgres', q{SELECT privacy.subject_decrypt('old', ct) FROM secrets WHERE subject = 'old'});
like($err, qr/ERROR:  no key exists for this subject/, 'but not the one made before it');
like($s2->safe_psql('postgres', q{SELECT problem || ' ' || hint FROM privacy.key_storage_problems()}),
	qr/^the subject key directory was missing when recovery wrote a key into it: it lacks the keys made before the base backup Copy/,
	'the lint says what is missing and what to do');
unlike(slurp_file($s2->logfile), qr/old value|new value/, 'no value is in the standby log');

# the fix the lint gives
system('cp', '-p', glob("$dir/keys_ext/*.key"), "$dir/keys_ext_standby/") == 0 or die;
unlink "$dir/keys_ext_standby/INCOMPLETE";
is($s2->safe_psql('postgres', q{SELECT privacy.subject_decrypt('old', ct) FROM secrets WHERE subject = 'old'}), 'old value',
	'with the primary\'s key files copied in, the standby lacks nothing');
is($s2->safe_psql('postgres', q{SELECT count(*) FROM privacy.key_storage_problems()}), '0', 'and the lint is satisfied');

$s2->stop;
$p2->stop;
done_testing();
