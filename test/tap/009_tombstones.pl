# test/tap/009_tombstones.pl: cancellations survive the restore of an older
# backup.  A shop database is dumped; two subjects are then cancelled (one
# through an open request the dump still has).  The dump is restored in
# another cluster with the same master key and a copy of the subject key
# directory: the two subjects are back, privacy.replay_cancellations() erases
# them again from the tombstone journal, and the result equals the source
# table by table.  Inserting a cancelled subject is refused, also by a session
# that loaded its set of tombstones before the cancellation; the journal skips
# malformed lines and other databases' lines, is written again when lost, and
# never names a subject whose cancellation rolled back.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;
mkdir "$dir/a";
my $a = PostgreSQL::Test::Cluster->new('tomb_source');
$a->init;
$a->append_conf('postgresql.conf', key_conf("$dir/a"));
$a->start;
$a->safe_psql('postgres', 'CREATE DATABASE shop');
$a->safe_psql('shop', q{
CREATE EXTENSION privacy;
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, phone text);
CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users ON DELETE SET NULL, total int, address text);
CREATE TABLE notes (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users, body text);
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON TABLE orders IS 'ON CANCEL ANONYMIZE';
SECURITY LABEL FOR privacy ON COLUMN orders.address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON TABLE notes IS 'ON CANCEL DELETE';
INSERT INTO users SELECT g, 'user' || g || '@example.com', '+86 138 0000 ' || lpad(g::text, 4, '0') FROM generate_series(1, 20) g;
INSERT INTO orders SELECT g, g % 20 + 1, g * 10, g || ' Harbour Road' FROM generate_series(1, 60) g;
INSERT INTO notes SELECT g, g % 20 + 1, 'note ' || g FROM generate_series(1, 40) g;
SELECT privacy.define_purpose('newsletter', 'consent', ARRAY['contact.email'], 'monthly newsletter');
SELECT privacy.grant_consent(g::text, 'newsletter') FROM generate_series(1, 20) g;
SELECT privacy.request_cancellation('8', '0 days');
});
is( $a->safe_psql('shop',
		q{SELECT tgname, tgattr FROM pg_trigger WHERE tgrelid = 'users'::regclass AND NOT tgisinternal}),
	'privacy_cancelled_subject|1',
	'a SUBJECT label gives the table the trigger on its subject column');

# the older backup
$a->command_ok([ 'pg_dump', '-Fc', '-d', $a->connstr('shop'), '-f', "$dir/shop.dump" ], 'pg_dump before the cancellations');

# a rolled-back cancellation and a dry run leave no line in the journal
$a->safe_psql('shop', q{BEGIN; SELECT * FROM privacy.cancel_subject('9'); ROLLBACK;});
$a->safe_psql('shop', q{SELECT * FROM privacy.cancel_subject('9', dry_run => true)});
ok(!-e "$dir/a/subjects/cancelled.journal", 'a rolled-back cancellation and a dry run write no journal');

# the cancellations: one directly, one by its request
is($a->safe_psql('shop', q{SELECT string_agg(format('%s %s %s', relation, action, rows), ', ' ORDER BY relation::text) FROM privacy.cancel_subject('7')}),
	'notes deleted 2, orders anonymized 3, privacy.consent_event pseudonymized 1, users deleted 1',
	'subject 7 cancelled');
$a->safe_psql('shop', q{CALL privacy.run_due_requests()});
is($a->safe_psql('shop', q{SELECT status FROM privacy.request WHERE subject_id = privacy.subject_pseudonym('8')}), 'completed', 'the request of subject 8 carried out');
my @lines = split /\n/, slurp_file("$dir/a/subjects/cancelled.journal");
is(scalar(@lines), 2, 'the journal has one line per cancellation');
my $pseudonyms = $a->safe_psql('shop', q{SELECT string_agg(privacy.subject_pseudonym(s), ' ' ORDER BY s) FROM unnest(ARRAY['7', '8']) s});
is(join(' ', sort map { (split / /)[1] } @lines), join(' ', sort split / /, $pseudonyms),
	'the journal names the subjects by pseudonym only');
unlike(slurp_file("$dir/a/subjects/cancelled.journal"), qr/user7|example|Harbour/, 'the journal holds no personal data');

# the inserts the source refuses
my ($ret, $out, $err) = $a->psql('shop', q{INSERT INTO users VALUES (7, 'back@example.com', NULL)});
is((split /\n/, $err)[0], q{psql:<stdin>:1: ERROR:  the subject in column "id" of table "users" has cancelled their account},
	'the source refuses a cancelled subject');
is($a->safe_psql('shop', q{SELECT count(*) FROM users WHERE id = 7}), '0', 'and nothing was inserted');

# elsewhere: the same master key, a copy of the subject key directory (with the journal)
mkdir "$dir/b";
system('cp', "$dir/a/master.key", "$dir/b/master.key") == 0 or die;
chmod 0600, "$dir/b/master.key";
system('cp', '-a', "$dir/a/subjects", "$dir/b/subjects") == 0 or die;
my $b = PostgreSQL::Test::Cluster->new('tomb_restored');
$b->init;
$b->append_conf('postgresql.conf',
	"shared_preload_libraries = 'privacy'\nprivacy.master_key_file = '$dir/b/master.key'\n"
	  . "privacy.subject_key_dir = '$dir/b/subjects'\n");
$b->start;
$b->safe_psql('postgres', 'CREATE DATABASE shop');
$b->command_ok([ 'pg_restore', '-d', $b->connstr('shop'), "$dir/shop.dump" ], 'the older backup restored elsewhere');

my $back = q{SELECT (SELECT count(*) FROM users WHERE id IN (7, 8)) || ' ' ||
                    (SELECT count(*) FROM orders WHERE user_id IN (7, 8)) || ' ' ||
                    (SELECT count(*) FROM notes WHERE user_id IN (7, 8)) || ' ' ||
                    (SELECT count(*) FROM privacy.consent WHERE subject IN ('7', '8')) || ' ' ||
                    (SELECT count(*) FROM privacy.consent_event WHERE subject IN ('7', '8')) || ' ' ||
                    (SELECT count(*) FROM privacy.request WHERE status = 'open')};
is($b->safe_psql('shop', $back), '2 6 4 2 2 1', 'the restored backup has the cancelled subjects back');
is($b->safe_psql('shop', q{SELECT count(*) FROM privacy.cancelled_subject}), '0', 'and no tombstone of them');
is($b->safe_psql('shop', q{SELECT tgname FROM pg_trigger WHERE tgrelid = 'users'::regclass AND NOT tgisinternal}),
	'privacy_cancelled_subject', 'the trigger came back with the dump');

($ret, $out, $err) = $b->psql('shop', q{SELECT subject_id = privacy.subject_pseudonym('7') AS s7, relation, action, rows FROM privacy.replay_cancellations() ORDER BY 1 DESC, relation::text});
is($out, "t|notes|deleted|2\nt|orders|anonymized|3\nt|privacy.consent_event|pseudonymized|1\nt|users|deleted|1\n"
	  . "f|notes|deleted|2\nf|orders|anonymized|3\nf|privacy.consent_event|pseudonymized|1\nf|users|deleted|1",
	'replay_cancellations erases both subjects again');
is($err, 'psql:<stdin>:1: NOTICE:  replayed cancellations: 2 tombstones, 2 restored from the journal, 0 written to it, 2 subjects erased again',
	'and says what it did, in counts');
is($b->safe_psql('shop', $back), '0 0 0 0 0 0', 'nothing of them returns');

# table by table, the restored database now equals the source
for my $q (
	'SELECT * FROM users ORDER BY id',
	'SELECT * FROM orders ORDER BY id',
	'SELECT * FROM notes ORDER BY id',
	'SELECT subject, purpose FROM privacy.consent ORDER BY 1, 2',
	'SELECT subject, purpose, granted FROM privacy.consent_event ORDER BY seq',
	'SELECT subject_id FROM privacy.cancelled_subject ORDER BY 1')
{
	is($b->safe_psql('shop', $q), $a->safe_psql('shop', $q), "restored equals source: $q");
}
is($b->safe_psql('shop', q{SELECT count(*) FROM privacy.request WHERE kind = 'cancellation' AND status = 'open'}), '0',
	'the open request the backup had is closed');
is($b->safe_psql('shop', q{SELECT string_agg(detail->>'replayed', ',') FROM privacy.audit_log WHERE kind = 'cancellation'}),
	'true,true', 'each receipt says it was a replay');

($ret, $out, $err) = $b->psql('shop', q{INSERT INTO users VALUES (8, 'back@example.com', NULL)});
is($err, q{psql:<stdin>:1: ERROR:  the subject in column "id" of table "users" has cancelled their account
DETAIL:  A cancellation tombstone (privacy.cancelled_subject) refuses new rows for this subject.
HINT:  After restoring an older backup, SELECT privacy.replay_cancellations() erases cancelled subjects again.},
	'the restored database refuses the cancelled subject');
($ret, $out, $err) = $b->psql('shop', q{UPDATE users SET id = 7 WHERE id = 1});
like($err, qr/ERROR:  the subject in column "id" of table "users" has cancelled their account/, 'and an update to it');
is($b->safe_psql('shop', q{INSERT INTO users VALUES (21, 'new@example.com', NULL); UPDATE users SET email = 'x' || email WHERE id = 1; SELECT count(*) FROM users}),
	'19', 'other subjects and other columns are not refused');

# again: nothing to do
($ret, $out, $err) = $b->psql('shop', q{SELECT count(*) FROM privacy.replay_cancellations()});
is($out, '0', 'a second replay changes nothing');
like($err, qr/2 tombstones, 0 restored from the journal, 0 written to it, 0 subjects erased again/, 'and says so');

# a damaged journal: a line cut short, garbage, and another database's line
open(my $fh, '>>', "$dir/b/subjects/cancelled.journal") or die;
print $fh "0123456789abcdef " . ('ab' x 32) . " 1000\n";    # another database
print $fh "garbage\n";
print $fh substr($lines[0], 0, 40);                          # cut short, no newline
close $fh;
($ret, $out, $err) = $b->psql('shop', q{SELECT count(*) FROM privacy.tombstone_journal()});
is($out, '2', 'the journal still gives its two tombstones');
is($err, "psql:<stdin>:1: WARNING:  line 4 of the tombstone journal is malformed; it was skipped\n"
	  . "psql:<stdin>:1: WARNING:  line 5 of the tombstone journal is malformed; it was skipped",
	'and skips the malformed lines by number, with no content');

# a lost journal is written again from the database's tombstones
unlink "$dir/b/subjects/cancelled.journal" or die;
($ret, $out, $err) = $b->psql('shop', q{SELECT count(*) FROM privacy.replay_cancellations()});
like($err, qr/2 tombstones, 0 restored from the journal, 2 written to it, 0 subjects erased again/, 'a lost journal is written again');
is($b->safe_psql('shop', q{SELECT string_agg(subject_id, ' ' ORDER BY subject_id) FROM privacy.tombstone_journal()}),
	$b->safe_psql('shop', q{SELECT string_agg(subject_id, ' ' ORDER BY subject_id) FROM privacy.cancelled_subject}),
	'with the same tombstones');

# a session keeps a set of tombstones once it has checked a row: another
# session's cancellation reaches it as soon as that commits, and its own at once
my $other = $b->background_psql('shop', on_error_stop => 0);
$other->query_safe(q{INSERT INTO users VALUES (40, 'forty@example.com', NULL)});
$b->safe_psql('shop', q{SELECT count(*) FROM privacy.cancel_subject('40')});
$other->query(q{INSERT INTO users VALUES (40, 'again@example.com', NULL)});
like($other->{stderr}, qr/ERROR:  the subject in column "id" of table "users" has cancelled their account/,
	'another session refuses a subject cancelled after it loaded its set of tombstones');
$other->{stderr} = '';
$other->query(q{INSERT INTO users VALUES (41, 'forty-one@example.com', NULL); SELECT count(*) FROM privacy.cancel_subject('41'); INSERT INTO users VALUES (41, 'back@example.com', NULL)});
like($other->{stderr}, qr/ERROR:  the subject in column "id" of table "users" has cancelled their account/,
	'and its own cancellation at once');
$other->quit;
is($b->safe_psql('shop', q{SELECT count(*) FROM users WHERE id IN (40, 41)}), '0', 'neither came back');
# a REPEATABLE READ transaction whose snapshot predates a cancellation still
# refuses that subject: the set is read under the latest snapshot
$other = $b->background_psql('shop', on_error_stop => 0);
$other->query_safe(q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM users});
$b->safe_psql('shop', q{INSERT INTO users VALUES (42, 'forty-two@example.com', NULL); SELECT count(*) FROM privacy.cancel_subject('42')});
$other->query(q{INSERT INTO users VALUES (42, 'again@example.com', NULL)});
like($other->{stderr}, qr/ERROR:  the subject in column "id" of table "users" has cancelled their account/,
	'a transaction whose snapshot predates the cancellation refuses the subject too');
$other->query(q{ROLLBACK});
$other->quit;

# removing the SUBJECT label removes the trigger
$b->safe_psql('shop', q{SECURITY LABEL FOR privacy ON COLUMN users.id IS NULL});
is($b->safe_psql('shop', q{SELECT count(*) FROM pg_trigger WHERE tgname = 'privacy_cancelled_subject'}), '0',
	'no SUBJECT column, no trigger');

$a->stop;
$b->stop;
done_testing();
