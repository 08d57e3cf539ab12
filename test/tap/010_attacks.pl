# test/tap/010_attacks.pl: what a purpose role gets with the client tools,
# and what other sessions see while the extension works.
#  - pg_dump run as a purpose role: of the whole database, of a table, of a
#    partition it fails and writes no personal value; of its purpose view it
#    dumps the definition and no row.
#  - pg_stat_activity, read by a role with pg_read_all_stats while
#    anonymize_table waits for a lock, shows no key material and no value.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $node = PostgreSQL::Test::Cluster->new('attacks');
$node->init;
$node->append_conf('postgresql.conf', key_conf($dir));
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
CREATE EXTENSION privacy;
CREATE TABLE users (id int PRIMARY KEY, email text, phone text);
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
INSERT INTO users SELECT g, 'person' || g || '@example.com', '1390000' || lpad(g::text, 4, '0') FROM generate_series(1, 6) g;
CREATE TABLE visits (user_id int NOT NULL, at date NOT NULL, ip inet) PARTITION BY RANGE (at);
CREATE TABLE visits_2026 PARTITION OF visits FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SECURITY LABEL FOR privacy ON COLUMN visits.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN visits.ip IS 'CATEGORY device.ip';
INSERT INTO visits SELECT g, '2026-03-01', ('10.9.8.' || g)::inet FROM generate_series(1, 6) g;
SELECT privacy.define_purpose('newsletter', 'consent', ARRAY['contact.email'], 'monthly newsletter');
SELECT privacy.create_purpose_view('users', 'newsletter');
SELECT privacy.grant_consent('2', 'newsletter');
SELECT privacy.grant_consent('5', 'newsletter');
CREATE ROLE marketer LOGIN;
SELECT privacy.grant_purpose('newsletter', 'marketer');
});
is($node->safe_psql('shop', q{SET ROLE marketer; SELECT string_agg(email, ',' ORDER BY id) FROM users_newsletter}),
	'person2@example.com,person5@example.com', 'the purpose role reads the 2 consenting subjects through its view');

my @values = split /\n/, $node->safe_psql('shop',
	q{SELECT email FROM users UNION ALL SELECT phone FROM users UNION ALL SELECT host(ip) FROM visits});
is(scalar(@values), 18, '18 personal values in the tables');
my $marketer = $node->connstr('shop') . ' user=marketer';

# leaked: which of the personal values a file holds
sub leaked
{
	my ($file) = @_;
	my $text = -e $file ? slurp_file($file) : '';
	return join(',', grep { index($text, $_) >= 0 } @values);
}

my ($out, $err);
for my $case (
	[ 'the whole database', [] ],
	[ 'the table', [ '-t', 'users' ] ],
	[ 'the table, data only', [ '--data-only', '-t', 'users' ] ],
	[ 'the partitioned table', [ '-t', 'visits' ] ],
	[ 'a partition', [ '-t', 'visits_2026' ] ])
{
	my ($what, $args) = @$case;
	my $file = "$dir/dump-" . join('', map { s/\W//gr } @$args) . '.sql';
	my $ok = IPC::Run::run([ 'pg_dump', '-d', $marketer, '-f', $file, @$args ], '>', \$out, '2>', \$err);
	ok(!$ok, "pg_dump of $what as the purpose role fails");
	like($err, qr/permission denied for table (users|visits|visits_2026)/, "... with permission denied ($what)");
	is(leaked($file), '', "... and writes no personal value ($what)");
}

# its own view: the definition, no row
my $view_dump = "$dir/dump-view.sql";
command_ok([ 'pg_dump', '-d', $marketer, '-t', 'users_newsletter', '-f', $view_dump ],
	'pg_dump of its purpose view as the purpose role succeeds');
like(slurp_file($view_dump), qr/CREATE VIEW public\.users_newsletter/, '... with the view definition');
is(leaked($view_dump), '', '... and no personal value: a view has no data to dump');

# pg_stat_activity while anonymize_table waits for a lock
$node->safe_psql('shop', q{SELECT privacy.create_key('anonymize'); CREATE ROLE watcher LOGIN IN ROLE pg_read_all_stats;});
my $holder = $node->background_psql('shop');
$holder->query_safe('BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE;');
my $worker = $node->background_psql('shop', on_error_stop => 0);
$worker->query_until(qr/started/, q{\echo started
CALL privacy.anonymize_table('users', 2);
});
ok( $node->poll_query_until('shop',
		q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'CALL privacy.anonymize_table%'}),
	'anonymize_table waits for the lock');
my $activity = $node->safe_psql('shop',
	q{SELECT string_agg(coalesce(application_name, '') || ' | ' || coalesce(query, ''), E'\n') FROM pg_stat_activity},
	extra_params => [ '-U', 'watcher' ]);
like($activity, qr/CALL privacy\.anonymize_table\('users', 2\)/, 'the watcher sees the waiting call');
my $secrets = $node->safe_psql('shop',
	q{SELECT string_agg(encode(wrapped, 'hex'), ' ') FROM privacy.key_version});
my @secret = (split(/ /, $secrets), unpack('H*', slurp_file("$dir/master.key")));
is(join(',', grep { index(lc($activity), $_) >= 0 } @secret), '', 'pg_stat_activity holds no key material');
is(join(',', grep { index($activity, $_) >= 0 } @values), '', 'and no personal value');
$holder->query_safe('COMMIT;');
$holder->quit;
$worker->query_safe('SELECT 1;');
$worker->quit;
is($node->safe_psql('shop', q{SELECT count(*) FROM users WHERE email LIKE 'person%@example.com'}), '0',
	'once the lock is gone, the table is anonymized');

$node->stop;
done_testing();
