# test/tap/005_retention.pl: retention scheduled by pg_cron, and crash-safe.
#
# 1. pg_cron runs CALL privacy.run_retention() on a schedule, and expired rows
#    disappear without anyone calling it.
# 2. The server is killed (immediate shutdown) in the middle of a run; after the
#    restart the log shows the interrupted run, and a second run processes every
#    expired row exactly once and no unexpired row.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;

my $node = PostgreSQL::Test::Cluster->new('retention');
$node->init;
$node->append_conf('postgresql.conf',
	key_conf($dir, 'privacy, pg_cron')
	  . "cron.database_name = 'postgres'\n"
	  . "cron.use_background_workers = off\n"
	  . "cron.host = '" . $node->host . "'\n"
	  . "cron.port = " . $node->port . "\n");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE EXTENSION pg_cron;
CREATE TABLE logins (id int PRIMARY KEY, ip inet, logged_at timestamptz NOT NULL);
CREATE INDEX ON logins (logged_at);
SECURITY LABEL FOR privacy ON COLUMN logins.ip IS 'CATEGORY device.ip';
SECURITY LABEL FOR privacy ON TABLE logins IS 'RETAIN 30 days AFTER logged_at';
-- 100 rows a day apart, half a day off the 30-day line: 70 of them expired
INSERT INTO logins SELECT i, '10.0.0.1', now() - (i || ' days 12 hours')::interval FROM generate_series(0, 99) i;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM logins WHERE logged_at < now() - interval '30 days'}),
	'70', '70 of 100 rows expired');

# the line doc/retention.md gives
$node->safe_psql('postgres',
	q{SELECT cron.schedule('privacy-retention', '* * * * *', 'CALL privacy.run_retention()')});

# pg_cron starts jobs at the top of each minute: wait up to three
my $left;
for (my $i = 0; $i < 1800; $i++)
{
	$left = $node->safe_psql('postgres', q{SELECT count(*) FROM logins});
	last if $left eq '30';
	usleep(100_000);
}
is($left, '30', 'pg_cron ran the retention job: the 70 expired rows are gone, the 30 others stay');
like($node->safe_psql('postgres',
		q{SELECT status || ' ' || rows FROM privacy.retention_log ORDER BY id DESC LIMIT 1}),
	qr/^(finished|running) 70$/, 'the run is in the retention log');
is($node->safe_psql('postgres',
		q{SELECT count(*) > 0 FROM cron.job_run_details WHERE command = 'CALL privacy.run_retention()' AND status = 'succeeded'}),
	't', 'pg_cron recorded the job as succeeded');
$node->safe_psql('postgres', q{SELECT cron.unschedule('privacy-retention')});

# 2. crash in the middle of a run
$node->safe_psql('postgres', q{
CREATE TABLE events (id int PRIMARY KEY, ip inet NOT NULL, note text, at timestamptz NOT NULL);
CREATE INDEX ON events (at);
SECURITY LABEL FOR privacy ON COLUMN events.ip IS 'CATEGORY device.ip RETAIN 10 days AFTER at';
SECURITY LABEL FOR privacy ON COLUMN events.note IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE events IS 'RETAIN 100 days AFTER at';
-- 300,000 rows, one every 30 seconds back from now (104 days at most), none
-- within an hour of the 10-day and 100-day lines, which move while the test runs
INSERT INTO events SELECT i, ('10.' || (i % 200) || '.' || (i % 250) || '.' || (i % 230 + 1))::inet, 'note ' || i,
                          now() - (i * 30 || ' seconds')::interval
  FROM generate_series(1, 300000) i
 WHERE NOT i * 30 BETWEEN 10 * 86400 - 3600 AND 10 * 86400 + 3600
   AND NOT i * 30 BETWEEN 100 * 86400 - 3600 AND 100 * 86400 + 3600;
});
my %expect = (
	deleted => $node->safe_psql('postgres', q{SELECT count(*) FROM events WHERE at < now() - interval '100 days'}),
	anonymized => $node->safe_psql('postgres',
		q{SELECT count(*) FROM events WHERE at < now() - interval '10 days' AND at >= now() - interval '100 days'}),
	untouched => $node->safe_psql('postgres', q{SELECT count(*) FROM events WHERE at >= now() - interval '10 days'}),
);
cmp_ok($expect{deleted}, '>', 0, "$expect{deleted} rows to delete");
cmp_ok($expect{anonymized}, '>', 0, "$expect{anonymized} addresses to generalize");

# a run in small batches, in the background
my ($stdout, $stderr) = ('', '');
my $run = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'CALL privacy.run_retention(batch_size => 200)' ],
	'>', \$stdout, '2>', \$stderr);
my $done = 0;
my $progress = '';
for (my $i = 0; $i < 600; $i++)
{
	$done = $node->safe_psql('postgres',
		q{SELECT COALESCE(sum(rows), 0) FROM privacy.retention_run_table t JOIN privacy.retention_run r ON r.id = t.run_id
		   WHERE r.ended_at IS NULL});
	$progress = $node->safe_psql('postgres',
		q{SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'privacy retention%'});
	last if $done > 0 && $progress ne '';
	usleep(20_000);
}
cmp_ok($done, '>', 0, "the run has committed batches ($done rows) when the server is killed");
like($progress, qr/^privacy retention run \d+: public\.events(\.ip)?, \d+ rows$/,
	"a DBA sees where the run is in pg_stat_activity ($progress)");
$node->stop('immediate');
$run->finish;
$node->start;

is($node->safe_psql('postgres', q{SELECT status FROM privacy.retention_log ORDER BY id DESC LIMIT 1}),
	'interrupted', 'the log shows the interrupted run');
my $kept = $node->safe_psql('postgres',
	q{SELECT COALESCE(sum(rows), 0) FROM privacy.retention_run_table t WHERE t.run_id = (SELECT max(id) FROM privacy.retention_run)});
cmp_ok($kept, '>', 0, "its committed batches ($kept rows) survived the crash");

$node->safe_psql('postgres', q{CALL privacy.run_retention(batch_size => 5000)});
is($node->safe_psql('postgres', q{SELECT status FROM privacy.retention_log ORDER BY id DESC LIMIT 1}),
	'finished', 'the next run finishes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM events WHERE at < now() - interval '100 days'}),
	'0', 'every expired row is deleted');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM events WHERE at < now() - interval '10 days' AND masklen(ip) = 24}),
	$expect{anonymized}, 'every address older than 10 days is generalized');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM events WHERE at < now() - interval '10 days' AND ip <> privacy.generalize(ip, 24)}),
	'0', 'and none is generalized twice or left');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM events WHERE at >= now() - interval '10 days' AND masklen(ip) = 32 AND note LIKE 'note %'}),
	$expect{untouched}, 'no unexpired row is touched');
# exactly once: the two runs' counts add up to the rows due
is($node->safe_psql('postgres',
		q{SELECT sum(rows) FILTER (WHERE column_name IS NULL) || ' ' || sum(rows) FILTER (WHERE column_name = 'ip')
		    FROM privacy.retention_run_table t JOIN privacy.retention_run r ON r.id = t.run_id
		   WHERE t.relation = 'public.events'}),
	"$expect{deleted} $expect{anonymized}", 'the interrupted and the second run together processed each row once');
is($node->safe_psql('postgres', q{SELECT valid FROM privacy.verify_audit_log()}), 't', 'the audit log verifies');

$node->stop;
done_testing();
