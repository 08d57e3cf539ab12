# test/tap/007_anonymize.pl: whole-table anonymization survives a crash, and
# an anonymized copy made with real pg_dump holds no labelled value.
#
# 1. The server is killed (immediate shutdown) in the middle of
#    CALL privacy.anonymize_table(); after the restart the log shows the
#    interrupted run, and a second call finishes it: every row rewritten
#    exactly once (each value is what its method makes of the original).
# 2. privacy_anonymized_dump writes a pg_dump archive of a shop database,
#    leaving the source as it was (its key and audit log);
#    restored into a fresh cluster without extension privacy, it is a working
#    database (rows, keys, joins) in which no value of any labelled column of
#    the source appears, in that column or anywhere in a plain dump of it.
# 3. a table owner's domain check runs as the owner, never as the superuser
#    who makes the copy.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PrivacyKeys;
use PrivacyTraps;

my $dir = PostgreSQL::Test::Utils::tempdir;

my $node = PostgreSQL::Test::Cluster->new('anonymize');
$node->init;
$node->append_conf('postgresql.conf', key_conf($dir));
$node->start;

# 1. crash in the middle of a run
$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
SELECT privacy.create_key('anonymize');
CREATE TABLE people (id int PRIMARY KEY, phone text NOT NULL, email text UNIQUE, city text, born date);
SECURITY LABEL FOR privacy ON COLUMN people.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN people.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN people.city IS 'CATEGORY location.coarse';
SECURITY LABEL FOR privacy ON COLUMN people.born IS 'CATEGORY identity.birth_date';
INSERT INTO people SELECT i, '13' || lpad(i::text, 9, '0'), 'p' || i || '@example.com', 'city ' || i % 50,
                          date '1950-01-02' + i % 20000
  FROM generate_series(1, 200000) i;
CREATE TABLE people_before AS SELECT * FROM people;
});

my ($stdout, $stderr) = ('', '');
my $run = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', q{CALL privacy.anonymize_table('people', 500)} ],
	'>', \$stdout, '2>', \$stderr);
my $done = 0;
my $progress = '';
for (my $i = 0; $i < 1000; $i++)
{
	$done = $node->safe_psql('postgres', q{SELECT COALESCE(max(rows_done), 0) FROM privacy.anonymize_log WHERE status = 'running'});
	$progress = $node->safe_psql('postgres',
		q{SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'privacy anonymize%'});
	last if $done > 0 && $progress ne '';
	usleep(20_000);
}
cmp_ok($done, '>', 0, "the run has committed batches ($done rows) when the server is killed");
like($progress, qr/^privacy anonymize run \d+: public\.people, \d+ rows$/,
	"a DBA sees where the run is in pg_stat_activity ($progress)");
$node->stop('immediate');
$run->finish;
$node->start;

my ($status, $kept, $total) = split /\|/, $node->safe_psql('postgres',
	q{SELECT status, rows_done, rows_total FROM privacy.anonymize_log ORDER BY id DESC LIMIT 1});
is($status, 'interrupted', 'the log shows the interrupted run');
cmp_ok($kept, '>', 0, "its committed batches ($kept rows) survived the crash");
cmp_ok($kept, '<', $total, "and it had not finished ($total rows)");

$node->safe_psql('postgres', q{CALL privacy.anonymize_table('people', 5000)});
is($node->safe_psql('postgres', q{SELECT status || ' ' || rows_done || ' ' || rows_total FROM privacy.anonymize_log ORDER BY id DESC LIMIT 1}),
	'finished 200000 200000', 'the second call finishes the same run: every row counted once');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM people p JOIN people_before b ON b.id = p.id
	 WHERE p.phone = privacy.fpe_encrypt(b.phone, 'anonymize')
	   AND p.email = left(privacy.pseudonym(b.email, 'anonymize'), 32) || '@anonymized.invalid'
	   AND p.city IS NULL AND p.born = date_trunc('year', b.born)::date}),
	'200000', 'every row is rewritten exactly once: each value is its method applied to the original');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT email) FROM people}), '200000', 'the unique column stays unique');
is($node->safe_psql('postgres', q{SELECT valid FROM privacy.verify_audit_log()}), 't', 'the audit log verifies');

# 2. an anonymized copy through pg_dump
$node->safe_psql('postgres', q{CREATE DATABASE shop});
$node->safe_psql('shop', q{
CREATE EXTENSION privacy;
CREATE TABLE users (
    id      int PRIMARY KEY,
    email   text NOT NULL UNIQUE,
    phone   text NOT NULL,
    name    text NOT NULL,
    id_card text,
    born    date,
    address text,
    plan    text NOT NULL
);
CREATE TABLE orders (
    id         serial PRIMARY KEY,
    user_id    int NOT NULL REFERENCES users (id),
    ship_phone text,
    ship_to    text,
    total      numeric NOT NULL
);
CREATE INDEX ON orders (user_id);
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN users.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON COLUMN users.id_card IS 'CATEGORY identity.id_number';
SECURITY LABEL FOR privacy ON COLUMN users.born IS 'CATEGORY identity.birth_date';
SECURITY LABEL FOR privacy ON COLUMN users.address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON COLUMN orders.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN orders.ship_phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN orders.ship_to IS 'CATEGORY contact.address';
INSERT INTO users
SELECT 100000 + i, 'shopper' || i || '@example.com', '139' || lpad((i * 7919)::text, 8, '0'),
       'Name Surname ' || i, '1101051980' || lpad(i::text, 4, '0') || (i % 10), date '1970-03-03' + i * 11,
       i || ' Lotus Street, Block ' || i % 9, CASE WHEN i % 3 = 0 THEN 'gold' ELSE 'basic' END
  FROM generate_series(1, 300) i;
INSERT INTO orders (user_id, ship_phone, ship_to, total)
SELECT 100000 + i % 300 + 1, '137' || lpad((i * 104729)::text, 8, '0'), 'Dock ' || i || ', Pier Road', i * 3
  FROM generate_series(1, 1000) i;
SELECT privacy.define_purpose('newsletter', 'consent', ARRAY['contact.email'], 'monthly newsletter');
SELECT privacy.create_purpose_view('users', 'newsletter');
SELECT privacy.define_purpose('delivery', 'contract', ARRAY['contact.phone', 'contact.address'], 'delivering orders');
SELECT privacy.create_purpose_view('orders', 'delivery');
CREATE ROLE courier;
SELECT privacy.grant_purpose('delivery', 'courier');
});

my $bindir = `pg_config --bindir`;
chomp $bindir;
my $archive = "$dir/shop-anonymized.dump";
my $source_state = q{SELECT (SELECT count(*) FROM privacy.audit_log) || ' ' || (SELECT count(*) FROM privacy.keys)
                             || ' ' || (SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction')};
my $before = $node->safe_psql('shop', $source_state);
command_ok([ "$bindir/privacy_anonymized_dump", '-d', 'shop', '-f', $archive, '-h', $node->host, '-p', $node->port, '-b', '100' ],
	'privacy_anonymized_dump writes the archive');
is($node->safe_psql('shop', $source_state), $before,
	'the source is as it was: the run key was never committed (no key, no audit entry), no transaction left open');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname LIKE 'privacy_anonymize_%'}),
	'0', 'its scratch database is gone');
is($node->safe_psql('shop', q{SELECT count(*) FROM users WHERE email LIKE 'shopper%@example.com'}),
	'300', 'the source database is untouched');

# a fresh cluster without extension privacy
my $fresh = PostgreSQL::Test::Cluster->new('fresh');
$fresh->init;
$fresh->start;
$fresh->safe_psql('postgres', q{CREATE DATABASE copy});
command_ok([ 'pg_restore', '--exit-on-error', '--no-owner', '--no-privileges', '-d', $fresh->connstr('copy'), $archive ],
	'the archive restores into a fresh cluster that does not have extension privacy');

is($fresh->safe_psql('copy', q{SELECT (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM orders)}),
	'300 1000', 'every row is there');
is($fresh->safe_psql('copy', q{SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id}),
	'1000', 'every order still joins its user');
is($fresh->safe_psql('copy', q{SELECT count(DISTINCT email) || ' ' || count(DISTINCT id) FROM users}),
	'300 300', 'unique columns stay unique');
is($fresh->safe_psql('copy', q{SELECT plan, count(*) FROM users GROUP BY plan ORDER BY plan}),
	"basic|200\ngold|100", 'unlabelled columns keep their values');
is($fresh->safe_psql('copy', q{SELECT count(*) FROM pg_extension WHERE extname = 'privacy'}),
	'0', 'the copy has no extension privacy (nor its ledger, keys or audit log)');
is($fresh->safe_psql('copy', q{SELECT count(*) FROM pg_views WHERE schemaname = 'public'}),
	'0', 'the purpose views, which need the extension, are not in the copy');

# every labelled value of the source, column by column, and in the plain dump
my $columns = $node->safe_psql('shop', q{
	SELECT l.relation::text || '.' || l.column_name FROM privacy.labels l WHERE l.column_name IS NOT NULL ORDER BY 1});
my $plain = `pg_dump --no-owner -d "@{[ $fresh->connstr('copy') ]}"`;
is($?, 0, 'the copy dumps as plain SQL');
my ($values, $in_column, $in_dump) = (0, 0, 0);
foreach my $col (split /\n/, $columns)
{
	my ($table, $column) = split /\./, $col;
	my @source = split /\n/, $node->safe_psql('shop', qq{SELECT DISTINCT $column\::text FROM $table WHERE $column IS NOT NULL});
	my %copy = map { $_ => 1 } split /\n/, $fresh->safe_psql('copy', qq{SELECT DISTINCT $column\::text FROM $table WHERE $column IS NOT NULL});
	foreach my $v (@source)
	{
		$values++;
		$in_column++ if $copy{$v};
		# short numbers (ids) occur anywhere: the column check covers them
		$in_dump++ if length($v) >= 8 && index($plain, $v) >= 0;
	}
}
cmp_ok($values, '>', 3000, "$values labelled values of the source checked");
is($in_column, 0, 'none of them is in its column in the copy');
is($in_dump, 0, 'none of them appears anywhere in a plain dump of the copy');

# 3. a table owner's code does not run as the superuser who makes the copy:
#    a domain check of club_owner's tries to make club_owner superuser; it runs
#    when the source is read and when the copy is loaded, as club_owner both times
$node->safe_psql('postgres', q{CREATE DATABASE club; CREATE ROLE club_owner});
$node->safe_psql('club', q{
CREATE EXTENSION privacy;
CREATE SCHEMA club AUTHORIZATION club_owner;
GRANT EXECUTE ON FUNCTION privacy.pseudonym(text, text), privacy.fpe_encrypt(text, text, text, integer),
                           privacy.fpe_encrypt(bigint, text, bigint, bigint) TO club_owner;
SET ROLE club_owner;
} . superuser_trap('club', 'club_owner') . q{
CREATE TABLE club.members (id int PRIMARY KEY, phone club.phone_d, note club.phone_d);
SECURITY LABEL FOR privacy ON COLUMN club.members.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN club.members.phone IS 'CATEGORY contact.phone';
INSERT INTO club.members VALUES (1, '13900000001', 'front row'), (2, '13900000002', NULL), (3, NULL, 'guest');
});
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'club_owner'}), 'f',
	'club_owner is an ordinary role after loading its own rows');
my $club = "$dir/club-anonymized.dump";
# without -T: refused, naming the owner, nothing made
my ($ret, $out, $err) = (0, '', '');
$ret = IPC::Run::run([ "$bindir/privacy_anonymized_dump", '-d', 'club', '-f', $club, '-h', $node->host, '-p', $node->port ],
	'>', \$out, '2>', \$err);
ok(!$ret, 'privacy_anonymized_dump refuses a database whose tables a role other than a superuser owns');
like($err, qr/^privacy_anonymized_dump: tables of club, or the types of their columns, are owned by roles that are not superusers: club_owner\n/,
	'and names the owner');
like($err, qr/Copy it with -T only if every one of these roles is trusted as a superuser is/, 'and says how to go on');
ok(!-e $club, 'no archive is written');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname LIKE 'privacy_anonymize_%'}), '0', 'no scratch database is made');
# with -T: the owner is trusted; its code still runs as the owner, not as the
# superuser (unless it resets the role: what -T accepts)
command_ok([ "$bindir/privacy_anonymized_dump", '-d', 'club', '-f', $club, '-h', $node->host, '-p', $node->port, '-T' ],
	'privacy_anonymized_dump -T copies a table with the owner\'s domain');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'club_owner'}), 'f',
	'the domain check ran as club_owner when the rows were read and loaded: club_owner is still an ordinary role');
$fresh->safe_psql('postgres', q{CREATE DATABASE club});
command_ok([ 'pg_restore', '--exit-on-error', '--no-owner', '--no-privileges', '-d', $fresh->connstr('club'), $club ],
	'the club archive restores');
is($fresh->safe_psql('club', q{SELECT count(*) || ' ' || count(*) FILTER (WHERE phone LIKE '139000000%') || ' ' || string_agg(note, ',' ORDER BY note) FROM club.members}),
	'3 0 front row,guest', 'its rows are there, the phones anonymized, the unlabelled column as it was');

$fresh->stop;
$node->stop;
done_testing();
