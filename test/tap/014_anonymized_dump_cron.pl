# test/tap/014_anonymized_dump_cron.pl: privacy_anonymized_dump of a database
# that has pg_cron, as doc/retention.md recommends.
#
# pg_cron can only be created in its cron.database_name, so a copy that takes
# the extension fails to restore ("can only create extension in database
# ..."). The tool leaves pg_cron and its jobs out of the copy: the archive is
# written, restores into a database of the same cluster (which preloads
# pg_cron) without extension pg_cron or any job, and holds no labelled value
# of the source.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;

# a server that listens on its socket only, as the test clusters do: pg_cron
# connects there through cron.host (doc/retention.md)
my $node = PostgreSQL::Test::Cluster->new('dump_cron');
$node->init;
$node->append_conf('postgresql.conf',
	key_conf($dir, 'privacy, pg_cron')
	  . "cron.database_name = 'shop'\n"
	  . "cron.host = '" . $node->host . "'\n"
	  . "cron.port = " . $node->port . "\n");
$node->start;

$node->safe_psql('postgres', q{CREATE DATABASE shop});
$node->safe_psql('shop', q{
CREATE EXTENSION privacy;
CREATE EXTENSION pg_cron;
SELECT cron.schedule('privacy-retention', '*/10 * * * *', 'CALL privacy.run_retention()');
CREATE TABLE users (id int PRIMARY KEY, phone text NOT NULL, email text UNIQUE, plan text);
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email';
INSERT INTO users SELECT i, '138' || lpad(i::text, 8, '0'), 'shopper' || i || '@example.com',
                         CASE WHEN i % 3 = 0 THEN 'gold' ELSE 'basic' END
  FROM generate_series(1, 100) i;
});
is($node->safe_psql('shop', q{SELECT count(*) FROM cron.job}), '1', 'the source has a pg_cron job');

# what the tool did before: a copy of the whole database cannot be restored
$node->safe_psql('postgres', q{CREATE DATABASE naive});
my $bindir = `pg_config --bindir`;
chomp $bindir;
system("$bindir/pg_dump -Fc -h '@{[ $node->host ]}' -p @{[ $node->port ]} -d shop -f '$dir/whole.dump'") == 0
  or die "pg_dump failed";
my $restore = `$bindir/pg_restore --exit-on-error -h '@{[ $node->host ]}' -p @{[ $node->port ]} -d naive '$dir/whole.dump' 2>&1`;
like($restore, qr/can only create extension in database shop/,
	'a plain copy of the database fails on pg_cron');

my $archive = "$dir/shop-anonymized.dump";
command_ok([ "$bindir/privacy_anonymized_dump", '-d', 'shop', '-f', $archive, '-h', $node->host, '-p', $node->port ],
	'privacy_anonymized_dump writes the archive of a database that has pg_cron');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname LIKE 'privacy_anonymize_%'}),
	'0', 'its scratch database is gone');
is($node->safe_psql('shop', q{SELECT count(*) FROM cron.job}), '1', 'the source keeps its job');

$node->safe_psql('postgres', q{CREATE DATABASE copy});
command_ok([ 'pg_restore', '--exit-on-error', '--no-owner', '--no-privileges', '-d', $node->connstr('copy'), $archive ],
	'the archive restores');
is($node->safe_psql('copy', q{SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension}),
	'plpgsql', 'the copy has neither pg_cron nor privacy');
is($node->safe_psql('copy', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'cron'}),
	'0', 'nor the schema of pg_cron, nor its jobs');
is($node->safe_psql('copy', q{SELECT count(*) || ' ' || count(DISTINCT email) || ' ' || sum((plan = 'gold')::int) FROM users}),
	'100 100 33', 'every row is there, unique values unique, unlabelled values kept');
is($node->safe_psql('copy', q{SELECT count(*) FROM users WHERE email LIKE 'shopper%' OR phone ~ '^13800000[0-9]{3}$'}),
	'0', 'no labelled value of the source is in the copy');

$node->stop;
done_testing();
