# test/tap/013_crash.pl: a server that crashes between writing a subject key
# and committing, and one that crashes after a shred committed (#24).
#
# subject_encrypt writes the key file and its WAL record (flushed) before it
# returns, so a crash before the transaction commits leaves a key file that no
# committed row uses, on the primary and on its standby alike: harmless, and
# the next subject_encrypt of that subject uses it.  A shred is logged after
# its commit record: once committed it survives a crash, and a key file that
# a crash in between would leave behind is refused and swept.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;
master_key("$dir/master.key");

my $primary = PostgreSQL::Test::Cluster->new('crash_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'privacy'\nprivacy.master_key_file = '$dir/master.key'\n");
$primary->start;
$primary->safe_psql('postgres', q{CREATE EXTENSION privacy;
CREATE TABLE secrets (subject text PRIMARY KEY, ct bytea NOT NULL);
INSERT INTO secrets VALUES ('kept', privacy.subject_encrypt('kept', 'value of kept'));});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('crash_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

my $keydir = $primary->data_dir . '/privacy_keys';
my $standby_keydir = $standby->data_dir . '/privacy_keys';
my $file = $primary->safe_psql('postgres', q{SELECT privacy.subject_pseudonym('crash-1')}) . '.key';

# a key written, the transaction still open: the server crashes
my $session = $primary->background_psql('postgres');
$session->query_safe(q{BEGIN; INSERT INTO secrets VALUES ('crash-1', privacy.subject_encrypt('crash-1', 'uncommitted value'))});
ok(-e "$keydir/$file", 'the key file is written before the transaction commits');
my $wrapped = slurp_file("$keydir/$file");
$primary->poll_query_until('postgres',
	q{SELECT flush_lsn >= pg_current_wal_flush_lsn() FROM pg_stat_replication})
  or die 'the standby did not receive the key';
$primary->stop('immediate');
$session->{run}->kill_kill;
$primary->start;

is($primary->safe_psql('postgres', q{SELECT count(*) FROM secrets WHERE subject = 'crash-1'}), '0',
	'after the crash, the uncommitted row is gone');
ok(-e "$keydir/$file", 'its key file stays: no committed row uses it, which is harmless');
is(slurp_file("$keydir/$file"), $wrapped, 'unchanged by crash recovery');
$primary->wait_for_catchup($standby);
ok(-e "$standby_keydir/$file", 'the standby has it too');
is(slurp_file("$standby_keydir/$file"), $wrapped, 'the same bytes');
$primary->safe_psql('postgres', q{INSERT INTO secrets VALUES ('crash-1', privacy.subject_encrypt('crash-1', 'value of crash-1'))});
is(slurp_file("$keydir/$file"), $wrapped, 'the next subject_encrypt of the subject uses that key');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT string_agg(privacy.subject_decrypt(subject, ct), ', ' ORDER BY subject) FROM secrets}),
	'value of crash-1, value of kept', 'and the standby decrypts it, and what came before');

# a shred commits, then the server crashes
$primary->safe_psql('postgres', q{SELECT privacy.shred_subject('kept')});
my $kept = $primary->safe_psql('postgres', q{SELECT privacy.subject_pseudonym('kept')}) . '.key';
my $kept_bytes = slurp_file("$standby_keydir/$kept") if -e "$standby_keydir/$kept";
$primary->stop('immediate');
$primary->start;
my ($ret, $out, $err) = $primary->psql('postgres', q{SELECT privacy.subject_decrypt(subject, ct) FROM secrets WHERE subject = 'kept'});
like($err, qr/ERROR:  the subject's key was shredded/, 'a committed shred survives the crash');
ok(!-e "$keydir/$kept", 'its key file is gone');
$primary->wait_for_catchup($standby);
($ret, $out, $err) = $standby->psql('postgres', q{SELECT privacy.subject_decrypt(subject, ct) FROM secrets WHERE subject = 'kept'});
like($err, qr/ERROR:  the subject's key was shredded/, 'on the standby too');
ok(!-e "$standby_keydir/$kept", 'where its key file is gone as well');

# a crash between the shred's commit and its removal would leave the file:
# put it back, as such a crash would, on both
for my $d ($keydir, $standby_keydir)
{
	open(my $fh, '>:raw', "$d/$kept") or die;
	print $fh $kept_bytes;
	close $fh;
	chmod 0600, "$d/$kept";
}
($ret, $out, $err) = $standby->psql('postgres', q{SELECT privacy.subject_decrypt(subject, ct) FROM secrets WHERE subject = 'kept'});
like($err, qr/ERROR:  the subject's key was shredded/, 'a key file left by such a crash is refused on the standby');
ok(!-e "$standby_keydir/$kept", 'and removed there on sight');
is($primary->safe_psql('postgres', q{SELECT privacy.sweep_subject_keys()}), '1', 'sweep_subject_keys removes it on the primary');
ok(!-e "$keydir/$kept", 'gone');

$standby->stop;
$primary->stop;
done_testing();
