# test/tap/012_pitr.pl: point-in-time recovery from a base backup and
# archived WAL loses no subject key and forgets no shred (#24).
#
# A primary archives its WAL.  After its base backup: keys for new subjects,
# shreds of subjects from before and after the backup, a cancellation; a
# restore point; then more of each.  Recovered to the restore point, the
# cluster decrypts every ciphertext it holds except those of the subjects
# shredded before that point, which it refuses, and its tombstone journal has
# every cancellation up to that point and none after.  Recovered to the end
# of the archive, the same holds of everything.  Nothing but the ordinary
# steps: pg_basebackup, restore_command, a recovery target.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;
master_key("$dir/master.key");

my $primary = PostgreSQL::Test::Cluster->new('pitr_primary');
$primary->init(has_archiving => 1, allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'privacy'\nprivacy.master_key_file = '$dir/master.key'\n");
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE secrets (subject text PRIMARY KEY, ct bytea NOT NULL);
CREATE TABLE users (id text PRIMARY KEY, email text);
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email';
INSERT INTO users SELECT 'u' || g, 'u' || g || '@example.com' FROM generate_series(1, 4) g;
INSERT INTO secrets SELECT 'base-' || g, privacy.subject_encrypt('base-' || g, 'value of base-' || g)
  FROM generate_series(1, 4) g;
SELECT * FROM privacy.cancel_subject('u1');
});
$primary->backup('base');

# between the base backup and the restore point
$primary->safe_psql('postgres', q{
INSERT INTO secrets SELECT 'mid-' || g, privacy.subject_encrypt('mid-' || g, 'value of mid-' || g)
  FROM generate_series(1, 4) g;
SELECT privacy.shred_subject('base-1');
SELECT privacy.shred_subject('mid-1');
SELECT * FROM privacy.cancel_subject('u2');
SELECT pg_create_restore_point('mid');
});
# after it
$primary->safe_psql('postgres', q{
INSERT INTO secrets SELECT 'late-' || g, privacy.subject_encrypt('late-' || g, 'value of late-' || g)
  FROM generate_series(1, 4) g;
SELECT privacy.shred_subject('base-2');
SELECT privacy.shred_subject('mid-2');
SELECT privacy.shred_subject('late-1');
SELECT * FROM privacy.cancel_subject('u3');
});
my $pseudonyms = $primary->safe_psql('postgres',
	q{SELECT string_agg(s || '=' || privacy.subject_pseudonym(s), ' ') FROM unnest(ARRAY['u1', 'u2', 'u3']) s});
my %pseudonym = map { split /=/ } split / /, $pseudonyms;
my $end_lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $walfile = $primary->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
$primary->poll_query_until('postgres', qq{SELECT last_archived_wal >= '$walfile' FROM pg_stat_archiver})
  or die 'timed out waiting for the archive';
$primary->stop;

# every row: its subject and what decrypting it gives, or the error
sub check_all
{
	my ($node) = @_;
	my @subjects = split /\n/, $node->safe_psql('postgres', 'SELECT subject FROM secrets ORDER BY subject');
	my @out;
	for my $s (@subjects)
	{
		my ($ret, $stdout, $stderr) = $node->psql('postgres', qq{SELECT privacy.subject_decrypt('$s', ct) FROM secrets WHERE subject = '$s'});
		push @out, $ret == 0 ? "$s=$stdout" : ($stderr =~ /the subject's key was shredded/ ? "$s shredded" : "$s ERROR $stderr");
	}
	return join(', ', @out);
}

sub journal
{
	my ($node) = @_;
	my %name = reverse %pseudonym;
	return join(' ', sort map { $name{$_} // $_ } split /\n/,
		$node->safe_psql('postgres', 'SELECT subject_id FROM privacy.tombstone_journal()'));
}

# to the restore point
my $mid = PostgreSQL::Test::Cluster->new('pitr_mid');
$mid->init_from_backup($primary, 'base', has_restoring => 1, standby => 0);
# (the recovered clusters archive nothing: the primary's archive stays one timeline)
$mid->append_conf('postgresql.conf', "archive_mode = off\nrecovery_target_name = 'mid'\nrecovery_target_action = 'promote'\n");
$mid->start;
$mid->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'recovery to mid did not end';
is(check_all($mid),
	'base-1 shredded, base-2=value of base-2, base-3=value of base-3, base-4=value of base-4, '
	  . 'mid-1 shredded, mid-2=value of mid-2, mid-3=value of mid-3, mid-4=value of mid-4',
	'recovered to the restore point: every ciphertext decrypts but those of the subjects shredded before it, which are refused');
is(journal($mid), 'u1 u2', 'its journal has the cancellations up to the restore point, and none after');
is($mid->safe_psql('postgres', q{SELECT count(*) FROM privacy.cancelled_subject}), '2', 'as its tombstones do');
my @rows = split /\n/, $mid->safe_psql('postgres', q{SELECT relation FROM privacy.replay_cancellations()});
is(scalar(grep { /users/ } @rows), 0, 'replay_cancellations has nothing to erase again');
is($mid->safe_psql('postgres', q{SELECT privacy.sweep_subject_keys()}), '0', 'and there is no key file of a shredded subject');
is($mid->safe_psql('postgres', q{SELECT privacy.subject_decrypt('late-9', privacy.subject_encrypt('late-9', 'z'))}), 'z',
	'the recovered cluster creates keys');
$mid->stop;

# to the end of the archive
my $end = PostgreSQL::Test::Cluster->new('pitr_end');
$end->init_from_backup($primary, 'base', has_restoring => 1, standby => 0);
$end->append_conf('postgresql.conf', "archive_mode = off\n");
$end->start;
$end->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'recovery to the end did not end';
ok($end->safe_psql('postgres', qq{SELECT pg_current_wal_lsn() >= '$end_lsn'}) eq 't', 'recovered to the end of the archive');
is(check_all($end),
	'base-1 shredded, base-2 shredded, base-3=value of base-3, base-4=value of base-4, '
	  . 'late-1 shredded, late-2=value of late-2, late-3=value of late-3, late-4=value of late-4, '
	  . 'mid-1 shredded, mid-2 shredded, mid-3=value of mid-3, mid-4=value of mid-4',
	'recovered to the end: every ciphertext decrypts but those of the shredded subjects, which are refused');
is(journal($end), 'u1 u2 u3', 'its journal has every cancellation');
my $keys = join(' ', sort grep { /\.key$/ } do { opendir(my $dh, $end->data_dir . '/privacy_keys') or die; readdir $dh });
my $gone = $end->safe_psql('postgres',
	q{SELECT string_agg(privacy.subject_pseudonym(s) || '.key', ' ') FROM unnest(ARRAY['base-1', 'base-2', 'mid-1', 'mid-2', 'late-1']) s});
is(scalar(grep { index($keys, $_) >= 0 } split / /, $gone), 0, 'no key file of a shredded subject is in its directory');
is(scalar(split / /, $keys), 7, 'and the 7 others are');
$end->stop;
done_testing();
