# test/tap/006_discovery.pl: discovery never puts a sampled value in the server
# log, and its labels survive dump and restore.
#
# The server logs every statement and every error (log_statement = all,
# log_min_messages = debug1).  The personal data is made inside the server
# (from md5 and random()), so that no statement text carries a value; then
# discover, apply_suggestions (one refused for a non-owner, one applied) and
# check run, and the log is searched for every value of the table.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;

my $node = PostgreSQL::Test::Cluster->new('discovery');
$node->init;
$node->append_conf('postgresql.conf',
	key_conf($dir)
	  . "log_statement = 'all'\n"
	  . "log_min_messages = debug1\n"
	  . "log_min_error_statement = debug1\n");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE ROLE someone LOGIN;
CREATE TABLE people (id int PRIMARY KEY, contact text, mail text, card text);
GRANT SELECT ON people TO someone;
-- mobile numbers, e-mail addresses and Luhn-valid card numbers, made here
INSERT INTO people
SELECT g,
       '13' || (5 + g % 5)::text || lpad((abs(hashtext(md5(g::text))::bigint) % 100000000)::text, 8, '0'),
       substr(md5('m' || g), 1, 10) || '@example.com',
       body || ((10 - (SELECT sum(CASE WHEN i % 2 = 0 THEN d * 2 - CASE WHEN d * 2 > 9 THEN 9 ELSE 0 END ELSE d END)
                         FROM (SELECT i, substr(reverse(body || '0'), i, 1)::int AS d
                                 FROM generate_series(1, 16) i) x) % 10) % 10)::text
  FROM generate_series(1, 300) g,
       LATERAL (SELECT '6' || lpad((abs(hashtext(md5('c' || g))::bigint) % 100000000000000)::text, 14, '0') AS body) b;
});

is($node->safe_psql('postgres', q{SELECT string_agg(column_name || '=' || category, ', ' ORDER BY column_name) FROM privacy.discover()}),
	'card=financial.bank_account, contact=contact.phone, mail=contact.email',
	'discover finds the three columns of personal data');

my ($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM privacy.apply_suggestions(0.8)},
	extra_params => [ '-U', 'someone' ]);
like($err, qr/must be owner of (table|relation) people/, 'a non-owner cannot apply suggestions');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.labels}), '0', 'and nothing is labelled');

is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.check() WHERE severity = 'notice'}), '3',
	'check names the three unlabelled columns');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.apply_suggestions(0.8)}), '3',
	'the owner applies them');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.check() WHERE severity = 'notice'}), '0',
	'then check has nothing left to suggest');

# the labels are SECURITY LABELs like any other: pg_dump keeps them
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/db.dump", $node->connstr('postgres') ], 'dump');
$node->safe_psql('postgres', 'CREATE DATABASE copy');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('copy'), "$dir/db.dump" ], 'restore');
is($node->safe_psql('copy', q{SELECT string_agg(column_name || ' ' || label, ', ' ORDER BY column_name) FROM privacy.labels}),
	'card CATEGORY financial.bank_account, contact CATEGORY contact.phone, mail CATEGORY contact.email',
	'the applied labels are restored');
is($node->safe_psql('copy', q{SELECT count(*) FROM privacy.discover()}), '0',
	'and discovery in the copy finds nothing unlabelled');

# no value of the table anywhere in the server log
my @values = split /\n/, $node->safe_psql('postgres',
	q{SELECT v FROM people, LATERAL (VALUES (contact), (mail), (card)) x(v)});
is(scalar(@values), 900, 'every value read back for the search');
$node->stop;
my $log = slurp_file($node->logfile);
like($log, qr/privacy\.discover/, 'the log holds the statements');
my @leaked = grep { index($log, $_) >= 0 } @values;
is(scalar(@leaked), 0, 'no sampled value appears in the server log');

done_testing();
