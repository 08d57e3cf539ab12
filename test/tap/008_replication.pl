# test/tap/008_replication.pl: what cancellation, retention and anonymization
# do on a logical replication subscriber (part of #10).
#
# A publisher with extension privacy publishes its labelled tables; the
# subscriber has the same tables and no extension. Each erasure on the
# publisher is ordinary DML, so it reaches the subscriber as DELETEs and
# UPDATEs, provided every published table has a replica identity: a table
# without one makes the publisher refuse the erasure, and nothing changes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;

my $pub = PostgreSQL::Test::Cluster->new('publisher');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', key_conf($dir));
$pub->start;

my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->start;

my $tables = q{
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, phone text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users (id), ship_to text, total numeric NOT NULL);
CREATE TABLE logins (id int PRIMARY KEY, user_id int REFERENCES users (id), ip inet, at timestamptz NOT NULL);
CREATE TABLE notes (user_id int REFERENCES users (id), body text);
};
$pub->safe_psql('postgres', "CREATE EXTENSION privacy; $tables" . q{
SELECT privacy.create_key('anonymize');
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN orders.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN orders.ship_to IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON TABLE orders IS 'ON CANCEL ANONYMIZE';
SECURITY LABEL FOR privacy ON COLUMN logins.ip IS 'CATEGORY device.ip';
SECURITY LABEL FOR privacy ON TABLE logins IS 'RETAIN 30 days AFTER at';
SECURITY LABEL FOR privacy ON COLUMN notes.body IS 'CATEGORY content.message';
INSERT INTO users SELECT i, 'user' || i || '@example.com', '138' || lpad(i::text, 8, '0') FROM generate_series(1, 10) i;
INSERT INTO orders SELECT i, i % 10 + 1, 'Dock ' || i, i FROM generate_series(1, 30) i;
INSERT INTO logins SELECT i, i % 10 + 1, ('10.0.0.' || i)::inet, now() - (i * 3 || ' days')::interval FROM generate_series(1, 20) i;
INSERT INTO notes SELECT i % 10 + 1, 'note ' || i FROM generate_series(1, 20) i;
CREATE PUBLICATION shop FOR TABLE users, orders, logins, notes;
});
$sub->safe_psql('postgres', $tables);
my $pubconn = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION shop CONNECTION '$pubconn' PUBLICATION shop");
$sub->wait_for_subscription_sync($pub, 'shop');
is($sub->safe_psql('postgres', q{SELECT (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM orders) || ' '
                                        || (SELECT count(*) FROM logins) || ' ' || (SELECT count(*) FROM notes)}),
	'10 30 20 20', 'the subscriber has every row');

# a published table without a replica identity: the publisher refuses the
# erasure, and the cancellation changes nothing anywhere
my ($ret, $out, $err) = $pub->psql('postgres', q{SELECT * FROM privacy.cancel_subject('3')});
like($err, qr/cannot delete from table "notes" because it does not have a replica identity and publishes deletes/,
	'a published table with no replica identity makes the publisher refuse the cancellation');
is($pub->safe_psql('postgres', q{SELECT count(*) FROM users WHERE id = 3}), '1', 'nothing of it is kept on the publisher');

# the fix the docs give
$pub->safe_psql('postgres', q{ALTER TABLE notes REPLICA IDENTITY FULL});
$pub->safe_psql('postgres', q{SELECT * FROM privacy.cancel_subject('3')});
$pub->wait_for_catchup('shop');
is($sub->safe_psql('postgres', q{SELECT count(*) FROM users WHERE id = 3}), '0', 'the cancelled user is gone on the subscriber');
is($sub->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE user_id = 3}), '0', 'so are its notes (replica identity full)');
is($sub->safe_psql('postgres', q{SELECT count(*) FROM logins WHERE user_id = 3}), '0', 'and its logins');
is($sub->safe_psql('postgres', q{SELECT count(*) || ' ' || count(ship_to) FROM orders WHERE user_id IS NULL OR user_id = 3}),
	$pub->safe_psql('postgres', q{SELECT count(*) || ' ' || count(ship_to) FROM orders WHERE user_id IS NULL OR user_id = 3}),
	'its orders are anonymized on the subscriber exactly as on the publisher');

# retention
my $expired = $sub->safe_psql('postgres', q{SELECT count(*) FROM logins WHERE at < now() - interval '30 days'});
cmp_ok($expired, '>', 0, "the subscriber holds $expired expired logins");
$pub->safe_psql('postgres', q{CALL privacy.run_retention()});
$pub->wait_for_catchup('shop');
is($sub->safe_psql('postgres', q{SELECT count(*) FROM logins WHERE at < now() - interval '30 days'}),
	'0', 'expired logins are gone on the subscriber');
is($sub->safe_psql('postgres', q{SELECT count(*) FROM logins}),
	$pub->safe_psql('postgres', q{SELECT count(*) FROM logins}), 'and the unexpired ones are there');

# anonymization
$pub->safe_psql('postgres', q{CALL privacy.anonymize_table('users', 3)});
$pub->wait_for_catchup('shop');
is($sub->safe_psql('postgres', q{SELECT string_agg(id || email || phone, ',' ORDER BY id) FROM users}),
	$pub->safe_psql('postgres', q{SELECT string_agg(id || email || phone, ',' ORDER BY id) FROM users}),
	'an anonymized table is anonymized on the subscriber, value for value');
is($sub->safe_psql('postgres', q{SELECT count(*) FROM users WHERE email LIKE '%@example.com'}), '0',
	'no original address is left there');
is($sub->safe_psql('postgres', q{SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id}),
	$pub->safe_psql('postgres', q{SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id}),
	'the rewritten keys still join there');

# what is not published is not erased there: the extension's own tables
is($sub->safe_psql('postgres', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'privacy'}), '0',
	'the subscriber has no tombstones, keys or audit log: it holds only what is published');

$sub->stop;
$pub->stop;
done_testing();
