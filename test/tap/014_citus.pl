# test/tap/014_citus.pl: every capability on Citus distributed and reference
# tables co-located by subject, on a coordinator and two workers (#23).
#
# Citus 13.2.2 is built from ../shared/citus when it is not installed for this
# PostgreSQL; when it is neither installed nor buildable the suite is skipped
# (one line), never passed.  The three nodes run on unix sockets only
# (citus.local_hostname is the socket directory), preload 'citus,privacy' and
# share one master key.  Each row of the issue's table is a test here; a row
# that does not work yet is a TODO test saying what is expected.
use strict;
use warnings;

use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use PrivacyKeys;
use PrivacyTraps;

my $started = time;

# ---------------------------------------------------------------- Citus
my $source = $ENV{PRIVACY_SOURCE} // dirname(dirname(dirname(__FILE__)));
my $build = "$source/../shared/citus/build.sh";
my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
if (system("PG_CONFIG='$pg_config' '$build' --check >/dev/null 2>&1") != 0)
{
	plan skip_all => "citus: neither installed nor buildable ($build is missing)"
	  unless -x $build;
	my $log = PostgreSQL::Test::Utils::tempdir . '/citus-build.log';
	system("PG_CONFIG='$pg_config' '$build' >'$log' 2>&1") == 0
	  or plan skip_all => "citus: not installed, and $build failed (see $log)";
}

# ---------------------------------------------------------------- cluster
my $dir = PostgreSQL::Test::Utils::tempdir;
master_key("$dir/master.key");

my @nodes;
for my $name (qw(coordinator worker1 worker2))
{
	my $node = PostgreSQL::Test::Cluster->new("citus_$name");
	$node->init;
	my $host = $node->host;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus,privacy'
privacy.master_key_file = '$dir/master.key'
max_prepared_transactions = 100
citus.local_hostname = '$host'
citus.shard_count = 4
citus.shard_replication_factor = 1
log_statement = 'all'
log_min_messages = warning
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
	push @nodes, $node;
}
my ($coord, @workers) = @nodes;
my $host = $coord->host;
$coord->safe_psql('postgres', sprintf(q{SELECT citus_set_coordinator_host('%s', %d)}, $host, $coord->port));
$coord->safe_psql('postgres', sprintf(q{SELECT citus_add_node('%s', %d)}, $host, $_->port)) for @workers;
is($coord->safe_psql('postgres', q{SELECT count(*) FROM citus_get_active_worker_nodes()}), '2',
	'a coordinator and two workers, on unix sockets');

# run SQL on a node; (stdout, stderr), stderr empty when it worked
sub q_
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 1);
	$err = "psql exited with $ret" if $ret && !$err;
	return ($out, $err // '');
}

# ---------------------------------------------------------------- schema
my ($out, $err) = q_($coord, q{CREATE EXTENSION privacy});
is($err, '', 'CREATE EXTENSION privacy on the coordinator');
for my $w (@workers)
{
	is($w->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'privacy'}), '0.2.0',
		'it reaches ' . $w->name);
}
($out, $err) = q_($workers[0], q{SELECT privacy.pseudonym('x', 'anonymize')});
like($err, qr/privacy\.pseudonym runs on the Citus coordinator only until privacy\.citus_setup\(\) has run/,
	'before citus_setup, a keyed function refuses to run on a worker');
$coord->safe_psql('postgres', q{SELECT privacy.create_key('anonymize')});
($out, $err) = q_($coord, q{SELECT privacy.citus_setup()});
is($err, '', 'citus_setup on the coordinator');
is($out, $coord->safe_psql('postgres', q{SELECT (SELECT count(*) FROM privacy.key) + (SELECT count(*) FROM privacy.key_version)
  + (SELECT count(*) FROM privacy.purpose_definition)}), 'it sends every row of the mirrored tables made so far (keys, purposes)');
is($_->safe_psql('postgres', q{SELECT privacy.citus_mirrored() || ' ' || count(*) FROM privacy.citus_mirror}), 'true 0',
	'the mirror is a reference table on ' . $_->name . ', and keeps nothing')
  for @nodes;

# labels set before distribution
($out, $err) = q_($coord, q{
CREATE SCHEMA app;
CREATE TABLE app.users (id bigint PRIMARY KEY, email text, phone text, tag text, secret bytea);
CREATE TABLE app.orders (user_id bigint NOT NULL, id bigint NOT NULL, address text, amount numeric NOT NULL,
                         PRIMARY KEY (user_id, id));
CREATE TABLE app.events (user_id bigint NOT NULL, id bigint NOT NULL, at timestamptz NOT NULL, ip inet,
                         PRIMARY KEY (user_id, id));
CREATE TABLE app.countries (code text PRIMARY KEY, name text NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN app.users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON TABLE app.users IS 'ON CANCEL DELETE';
SELECT create_distributed_table('app.users', 'id');
SELECT create_distributed_table('app.orders', 'user_id', colocate_with => 'app.users');
SELECT create_distributed_table('app.events', 'user_id', colocate_with => 'app.users');
SELECT create_reference_table('app.countries');
ALTER TABLE app.orders ADD FOREIGN KEY (user_id) REFERENCES app.users (id);
INSERT INTO app.users SELECT i, 'u' || i || '@example.com', '138' || lpad(i::text, 8, '0'), 'same', NULL
  FROM generate_series(1, 20) i;
INSERT INTO app.orders SELECT i % 20 + 1, i, 'Dock ' || i, i FROM generate_series(1, 60) i;
INSERT INTO app.events SELECT i % 20 + 1, i, now() - (i || ' days')::interval, ('10.0.0.' || i)::inet
  FROM generate_series(1, 60) i;
INSERT INTO app.countries VALUES ('cn', 'China'), ('fr', 'France');
});
is($err, '', 'distributed tables co-located by subject, and a reference table');

# labels set after distribution
($out, $err) = q_($coord, q{
SECURITY LABEL FOR privacy ON COLUMN app.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN app.orders.address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON TABLE app.orders IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN app.events.ip IS 'CATEGORY device.ip';
SECURITY LABEL FOR privacy ON TABLE app.events IS 'RETAIN 30 days AFTER at ON CANCEL ANONYMIZE';
});
is($err, '', 'labels set after create_distributed_table');

# the SUBJECT labels, after distribution
my ($subject_err) = (q_($coord, q{
SECURITY LABEL FOR privacy ON COLUMN app.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN app.orders.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN app.events.user_id IS 'SUBJECT';
}))[1];

# ---------------------------------------------------------------- labels
# the labels the shards of a logical table carry on a worker: "column label" lines
sub shard_labels
{
	my ($node, $table) = @_;
	# every label of every local shard, each shard's labels in one line
	return $node->safe_psql('postgres', qq{
SELECT coalesce(string_agg(DISTINCT coalesce(x.labels, 'none'), ' | '), 'no shard here')
  FROM (SELECT to_regclass(shard_name(s.logicalrelid, s.shardid)) AS rel
          FROM pg_dist_shard s WHERE s.logicalrelid = '$table'::regclass) sh
  LEFT JOIN LATERAL (
       SELECT string_agg(a.attname || ' ' || l.label, ', ' ORDER BY a.attname || ' ' || l.label) AS labels
         FROM pg_seclabel l JOIN pg_attribute a ON a.attrelid = l.objoid AND a.attnum = l.objsubid
        WHERE l.objoid = sh.rel AND l.classoid = 'pg_class'::regclass AND l.provider = 'privacy' AND l.objsubid > 0) x ON true
 WHERE sh.rel IS NOT NULL});
}
my $truth = $coord->safe_psql('postgres', q{
SELECT string_agg(a.attname || ' ' || l.label, ', ' ORDER BY a.attname || ' ' || l.label)
  FROM pg_seclabel l JOIN pg_attribute a ON a.attrelid = l.objoid AND a.attnum = l.objsubid
 WHERE l.objoid = 'app.users'::regclass AND l.provider = 'privacy' AND l.objsubid > 0});
is(shard_labels($_, 'app.users'), $truth, 'the shards of app.users on ' . $_->name . ' carry the coordinator\'s labels')
  for @workers;
my $shard = $coord->safe_psql('postgres', q{
SELECT s.shardid || ' ' || p.nodeport FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
 WHERE s.logicalrelid = 'app.users'::regclass ORDER BY s.shardid LIMIT 1});
my ($shardid, $from) = split / /, $shard;
my $to = (grep { $_->port != $from } @workers)[0]->port;
($out, $err) = q_($coord, qq{
SELECT citus_move_shard_placement($shardid, '$host', $from, '$host', $to, shard_transfer_mode => 'block_writes')});
is($err, '', 'a shard group moves to the other worker');
# the moved shards' old placements are dropped now, not by Citus's maintenance
# daemon at a moment of its choosing (in the middle of the statement log that
# the cancellation below is checked against)
$coord->safe_psql('postgres', q{CALL citus_cleanup_orphaned_resources()});
is(shard_labels($_, 'app.users'), $truth, 'after the move, the shards of app.users on ' . $_->name . ' carry the coordinator\'s labels')
  for @workers;
$coord->safe_psql('postgres', q{SECURITY LABEL FOR privacy ON COLUMN app.users.tag IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON COLUMN app.users.tag IS NULL});
is(shard_labels($_, 'app.users'), $truth, 'a label set and removed after the move: the same on ' . $_->name)
  for @workers;
is($coord->safe_psql('postgres', q{SELECT count(*) FROM privacy.inventory i
  WHERE EXISTS (SELECT 1 FROM pg_dist_shard s WHERE i.table_name::text ~ ('_' || s.shardid || '$'))}),
	'0', 'the inventory lists no shard as a table of its own');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM privacy.audit_log a
  WHERE EXISTS (SELECT 1 FROM pg_dist_shard s WHERE a.object ~ ('_' || s.shardid || '\M'))}),
	'0', 'nor does the audit log');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM privacy.audit_log WHERE kind = 'label' AND object LIKE '%app.users.phone'}),
	'1', 'a label set on a distributed table is audited once, on the coordinator');

# ---------------------------------------------------------------- SUBJECT
is($subject_err, '', 'SUBJECT labels on distributed tables are accepted');

# ---------------------------------------------------------------- keys
# one set of keys: the coordinator's, mirrored in the transaction that makes,
# rotates or drops one
my $keys_sql = q{SELECT string_agg(k.name || ' ' || k.current_version || ' ' || md5(v.wrapped), ', ' ORDER BY k.name, v.version)
  FROM privacy.key k JOIN privacy.key_version v USING (name) WHERE k.name <> 'privacy.subjects'};
($out, $err) = q_($coord, q{BEGIN; SELECT privacy.create_key('cluster'); SELECT privacy.create_key('gone'); COMMIT});
is($err, '', 'create_key on the coordinator');
($out, $err) = q_($coord, q{BEGIN; SELECT privacy.create_key('rolled back'); ROLLBACK});
$coord->safe_psql('postgres', q{SELECT privacy.rotate_key('cluster'); SELECT privacy.drop_key('gone')});
my $keys = $coord->safe_psql('postgres', $keys_sql);
like($keys, qr/^anonymize 1 \w+, cluster 2 \w+, cluster 2 \w+$/, 'the coordinator\'s keys: anonymize, cluster rotated once');
is($_->safe_psql('postgres', $keys_sql), $keys,
	'the same keys, versions and wrapped material on ' . $_->name . ' (the rolled-back key and the dropped one on none)')
  for @workers;
($out, $err) = q_($workers[0], q{SELECT privacy.create_key('made on a worker')});
like($err, qr/privacy\.create_key runs on the Citus coordinator only|a function that creates a key runs on the Citus coordinator only/,
	'create_key on a worker is refused');
($out, $err) = q_($workers[1], q{SELECT privacy.rotate_key('cluster')});
like($err, qr/privacy\.rotate_key runs on the Citus coordinator only/, 'and rotate_key');
my $expected_pseudonym = $coord->safe_psql('postgres', q{SELECT privacy.pseudonym('same', 'cluster')});
is($_->safe_psql('postgres', q{SELECT privacy.pseudonym('same', 'cluster')}), $expected_pseudonym,
	'pseudonym on ' . $_->name . ' gives the coordinator\'s')
  for @workers;
($out, $err) = q_($coord, q{SELECT count(*) || ' ' || count(DISTINCT privacy.pseudonym(tag, 'cluster')) || ' ' || min(privacy.pseudonym(tag, 'cluster'))
  FROM app.users});
is($err, '', 'pseudonym pushed down in a multi-shard query works');
is($out, "20 1 $expected_pseudonym", 'and gives the coordinator\'s pseudonym on every shard');
my $expected_fpe = $coord->safe_psql('postgres', q{SELECT string_agg(privacy.fpe_encrypt(v, 'cluster'), ' ' ORDER BY v)
  FROM unnest(ARRAY['13800000001', '13800000002']) v});
is($coord->safe_psql('postgres', q{SELECT string_agg(privacy.fpe_encrypt(phone, 'cluster'), ' ' ORDER BY id) FROM app.users WHERE id IN (1, 2)}),
	$expected_fpe, 'fpe_encrypt pushed down gives what the coordinator gives');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM app.users
  WHERE privacy.decrypt(privacy.encrypt(email, 'cluster'), 'cluster') = email}),
	'20', 'encrypt and decrypt round-trip on the workers with the mirrored key');
is($coord->safe_psql('postgres', q{
WITH u AS MATERIALIZED (SELECT tag FROM app.users) SELECT DISTINCT privacy.pseudonym(tag, 'cluster') FROM u}),
	$expected_pseudonym, 'evaluated on the coordinator (over a materialized CTE), the same pseudonym');

# ---------------------------------------------------------------- subject keys
($out, $err) = q_($coord, q{INSERT INTO app.users (id, email, secret)
VALUES (2000, 'a@example.com', privacy.subject_encrypt('2', 'plain two')), (3000, 'b@example.com', privacy.subject_encrypt('3', 'plain three'))});
is($err, '', 'subject_encrypt in a distributed INSERT (evaluated on the coordinator)');
is($coord->safe_psql('postgres', q{
WITH u AS MATERIALIZED (SELECT id, secret FROM app.users WHERE id IN (2000, 3000))
SELECT string_agg(privacy.subject_decrypt((id / 1000)::text, secret), ', ' ORDER BY id) FROM u}),
	'plain two, plain three', 'subject_decrypt on the coordinator');
($out, $err) = q_($workers[0], q{SELECT privacy.subject_encrypt('77', 'made on a worker')});
isnt($err, '', 'subject_encrypt on a worker is refused: subject keys never leave the coordinator');
$coord->safe_psql('postgres', q{SELECT privacy.shred_subject('2')});
($out, $err) = q_($coord, q{SELECT privacy.subject_decrypt((id / 1000)::text, secret) FROM app.users WHERE id = 2000});
unlike($out, qr/plain two/, 'after shred_subject, a pushed-down subject_decrypt does not return the plaintext');
isnt($err, '', 'it fails');
($out, $err) = q_($coord, q{SELECT count(privacy.subject_decrypt((id / 1000)::text, secret)) FROM app.users WHERE secret IS NOT NULL});
unlike($out, qr/^[12]$/, 'nor does a multi-shard one');

# ---------------------------------------------------------------- consent
$coord->safe_psql('postgres', q{SELECT privacy.grant_consent('1', 'marketing', '{"form": "signup"}')});
is($coord->safe_psql('postgres', q{SELECT privacy.has_consent('1', 'marketing')}), 't', 'consent granted on the coordinator');
$coord->safe_psql('postgres', q{SELECT privacy.grant_consent('2', 'marketing', '{"form": "signup"}');
SELECT privacy.grant_consent('3', 'marketing', '{"form": "signup"}'); SELECT privacy.withdraw_consent('3', 'marketing')});
my $one_server = $coord->safe_psql('postgres', q{SELECT string_agg(i::text, ' ' ORDER BY i) FROM generate_series(1, 20) i
  WHERE privacy.has_consent(i::text, 'marketing')});
is($one_server, '1 2', 'on the coordinator alone: subjects 1 and 2 consented (3 withdrew)');
($out, $err) = q_($coord, q{SELECT privacy.has_consent(id::text, 'marketing') FROM app.users WHERE id = 1});
is($err . $out, 't', 'has_consent inside a single-shard query: true for the consented subject');
($out, $err) = q_($coord, q{SELECT string_agg(id::text, ' ' ORDER BY id) FROM app.users WHERE privacy.has_consent(id::text, 'marketing')});
is($err . $out, $one_server, 'inside a multi-shard query (pushed down to every shard), the same subjects');
is($coord->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE privacy.may_process(id::text, 'marketing')) FROM app.users}),
	'2', 'may_process pushed down agrees');
is($coord->safe_psql('postgres', q{
WITH u AS MATERIALIZED (SELECT id FROM app.users) SELECT count(*) FILTER (WHERE privacy.has_consent(id::text, 'marketing')) FROM u}),
	'2', 'evaluated on the coordinator, the same count');
($out, $err) = q_($workers[0], q{SELECT privacy.grant_consent('5', 'marketing', '{}')});
like($err, qr/privacy\.grant_consent runs on the Citus coordinator only/, 'a consent is recorded on the coordinator only');

# a coordinator session that names itself like a Citus task cannot change
# the mirrored tables on the coordinator alone: whether to send a change is
# the node's decision, not the application_name's, and Citus refuses the
# mirror's distributed write from what it takes for a shard's query, so the
# change is rolled back whole (before, the mirror left it unsent: a minor,
# a purpose or a voided consent on the coordinator only)
($out, $err) = q_($coord, q{SET application_name = 'citus_internal gpid=10000000099';
SELECT privacy.set_minor('7777', true)});
like($err, qr/ERROR:  cannot execute a distributed query from a query on a shard/,
	'a coordinator session named "citus_internal gpid=..." cannot set a minor');
($out, $err) = q_($coord, q{SET application_name = 'citus_internal gpid=10000000099';
SELECT privacy.define_purpose('spoofed', 'consent', ARRAY['contact.email'], 'named like a task')});
like($err, qr/ERROR:  cannot execute a distributed query from a query on a shard/, 'nor define a purpose');
is($_->safe_psql('postgres', q{SELECT (SELECT count(*) FROM privacy.subject_minor WHERE subject = '7777')
  || ' ' || (SELECT count(*) FROM privacy.purpose_definition WHERE name = 'spoofed')}), '0 0',
	'neither is on ' . $_->name)
  for @nodes;

# ---------------------------------------------------------------- purpose views
($out, $err) = q_($coord, q{SELECT privacy.create_purpose_view('app.users', 'marketing', 'users_marketing');
CREATE ROLE marketer LOGIN; SELECT privacy.grant_purpose('marketing', 'marketer')});
is($err, '', 'a purpose view over a distributed table');
($out, $err) = q_($coord, q{SET ROLE marketer; SELECT string_agg(id || ' ' || email || ' ' || coalesce(phone, '-'), ',') FROM app.users_marketing});
is($err, '', 'the purpose role reads it');
is($out, '1 u1@example.com 13800000001,2 u2@example.com 13800000002', 'with the rows one server shows (the consented subjects only; their columns in the purpose in clear)');
($out, $err) = q_($coord, q{SET ROLE marketer; SELECT count(*) FROM app.users});
like($err, qr/permission denied for table users/, 'and cannot read the table itself');
($out, $err) = q_($coord, q{ALTER TABLE app.users ADD COLUMN nickname text});
is($err, '', 'ALTER TABLE of a table with a purpose view');
($out, $err) = q_($coord, q{SET ROLE marketer; SELECT string_agg(id || ' ' || coalesce(nickname, '-'), ',') FROM app.users_marketing});
is($out, '1 -,2 -', 'the rebuilt view has the new column and the same rows');

# a table owner's domain: reading a purpose view over a distributed table
# runs none of its code (the view's SECURITY DEFINER function used to cast a
# masked column to the domain, running its check as the extension's owner on
# the workers: fan_owner became superuser there)
($out, $err) = q_($coord, q{CREATE ROLE fan_owner LOGIN; CREATE SCHEMA fans AUTHORIZATION fan_owner;
SET ROLE fan_owner;
} . superuser_trap('fans', 'fan_owner') . q{
CREATE TABLE fans.members (id int PRIMARY KEY, email text, phone fans.phone_d);
SELECT create_distributed_table('fans.members', 'id');
INSERT INTO fans.members VALUES (901, 'f901@example.com', '13700000901'), (902, 'f902@example.com', '13700000902');
SECURITY LABEL FOR privacy ON COLUMN fans.members.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN fans.members.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN fans.members.phone IS 'CATEGORY contact.phone';
RESET ROLE;
SELECT privacy.define_purpose('fan_news', 'consent', ARRAY['contact.email'], 'news for fans');
SELECT privacy.grant_consent('901', 'fan_news');
SELECT privacy.create_purpose_view('fans.members', 'fan_news');
SELECT privacy.grant_purpose('fan_news', 'marketer')});
is($err, '', 'a purpose view over a distributed table of fan_owner\'s with a column of fan_owner\'s domain');
($out, $err) = q_($coord, q{SET ROLE marketer; SELECT string_agg(id || ' ' || email || ' ' || phone, ',') FROM fans.members_fan_news});
is($err . $out, '901 f901@example.com 137****0901', 'the purpose role reads it: the consented fan, the phone masked');
is($_->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'fan_owner'}), 'f',
	'fan_owner is still an ordinary role on ' . $_->name)
  for @nodes;
is($coord->safe_psql('postgres', q{SELECT string_agg(format_type(atttypid, atttypmod), ' ' ORDER BY attnum) FROM pg_attribute
  WHERE attrelid = 'fans.members_fan_news'::regclass AND attnum > 0}), 'integer text text', 'the view\'s phone is of the domain\'s base type');
($out, $err) = q_($coord, q{SET client_min_messages = warning; SELECT privacy.withdraw_consent('901', 'fan_news'); SELECT privacy.drop_purpose('fan_news'); DROP SCHEMA fans CASCADE});
is($err, '', 'the fans schema goes');

# ---------------------------------------------------------------- reference tables
# a reference table holding subjects' rows (devices), and one whose rows
# refer to them (notes on devices, another person's: the reference is cut)
($out, $err) = q_($coord, q{
CREATE TABLE app.devices (id bigint PRIMARY KEY, owner_id bigint NOT NULL, serial text);
CREATE TABLE app.device_notes (id bigint PRIMARY KEY, author_id bigint NOT NULL, device_id bigint, note text NOT NULL);
SELECT create_reference_table('app.devices');
SELECT create_reference_table('app.device_notes');
ALTER TABLE app.device_notes ADD FOREIGN KEY (device_id) REFERENCES app.devices (id);
INSERT INTO app.devices SELECT i, i % 20 + 1, 'SN' || i FROM generate_series(1, 40) i;
INSERT INTO app.device_notes SELECT i, (i + 5) % 20 + 1, i, 'note ' || i FROM generate_series(1, 40) i;
SECURITY LABEL FOR privacy ON COLUMN app.devices.owner_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN app.devices.serial IS 'CATEGORY device.id';
SECURITY LABEL FOR privacy ON TABLE app.devices IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN app.device_notes.author_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON TABLE app.device_notes IS 'ON CANCEL DELETE';
});
is($err, '', 'reference tables holding subjects\' rows and referring to them');
# what each placement of a reference table holds (every node's, the coordinator's too)
sub placements
{
	my ($table, $where) = @_;
	return $coord->safe_psql('postgres', qq{
SELECT string_agg(DISTINCT result, ' ') FROM run_command_on_placements('$table', \$\$SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '-') FROM %s WHERE $where\$\$)});
}

# ---------------------------------------------------------------- cancellation
# the shards of a subject's shard group (one per co-located table), and the
# shards of the reference tables (the mirror's too)
my $group = $coord->safe_psql('postgres', q{
SELECT string_agg(get_shard_id_for_distribution_column(t, 4)::text, ' ')
  FROM unnest(ARRAY['app.users', 'app.orders', 'app.events']::regclass[]) t});
my @group = split / /, $group;
my @reference = split / /, $coord->safe_psql('postgres', q{
SELECT string_agg(shardid::text, ' ' ORDER BY shardid) FROM pg_dist_shard
 WHERE logicalrelid IN ('app.devices'::regclass, 'app.device_notes'::regclass, 'privacy.citus_mirror'::regclass)});
is(placements('app.devices', 'owner_id = 4') . ' ' . placements('app.device_notes', 'author_id = 4'), '3,23 18,38',
	'subject 4 owns devices 3 and 23 and wrote notes 18 and 38, on every placement');
my %log_at = map { $_->name => -s $_->logfile } @workers;
($out, $err) = q_($coord, q{SELECT relation || ' ' || action || ' ' || rows FROM privacy.cancel_subject('4', dry_run => true)});
is($err, '', 'cancel_subject dry run');
my $plan = join("\n", 'app.device_notes deleted 2', 'app.device_notes severed 2', 'app.orders deleted 3', 'app.devices deleted 2',
	'app.events anonymized 3', 'app.users deleted 1');
is($out, $plan, 'the dry run: the subject\'s rows of every distributed and reference table, the others\' notes cut');
($out, $err) = q_($coord, q{SELECT relation || ' ' || action || ' ' || rows FROM privacy.cancel_subject('4')});
{
	is($err, '', 'cancel_subject');
	is($out, $plan, 'it does what the dry run said');
	is($coord->safe_psql('postgres', q{SELECT count(*) FROM app.users WHERE id = 4}), '0', 'the user is deleted');
	is($coord->safe_psql('postgres', q{SELECT count(*) FROM app.orders WHERE user_id = 4}), '0', 'and its orders');
	is($coord->safe_psql('postgres', q{SELECT count(*) || ' ' || count(ip) FROM app.events WHERE user_id = 4}),
		'3 0', 'its events are anonymized, the distribution column left as it is');
	is(placements('app.devices', 'owner_id = 4'), '-', 'its devices are deleted on every placement of the reference table');
	is(placements('app.devices', 'true'), join(',', grep { $_ != 3 && $_ != 23 } 1 .. 40), 'and no other device');
	is(placements('app.device_notes', 'device_id IS NULL'), '3,23',
		'the notes of others on its devices stay, their reference cut, on every placement');
	is(placements('app.device_notes', 'true'), join(',', grep { $_ != 18 && $_ != 38 } 1 .. 40), 'the notes it wrote are deleted, no other');
	is($coord->safe_psql('postgres', q{SELECT count(*) FROM privacy.cancelled_subject}), '1', 'the tombstone is on the coordinator');
	my (%seen, %devices_on);
	my $devices_shard = $coord->safe_psql('postgres', q{SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'app.devices'::regclass});
	for my $w (@workers)
	{
		my $log = slurp_file($w->logfile, $log_at{ $w->name });
		for my $id ($log =~ /\b(?:app|privacy)\.\w+?_(\d{6,})\b/g)
		{
			$seen{$id} = 1;
			$devices_on{ $w->name } = 1 if $id == $devices_shard;
		}
	}
	my %allowed = map { $_ => 1 } @group, @reference;
	is(join(' ', grep { !$allowed{$_} } sort keys %seen), '',
		'the workers\' statement logs name no shard outside the subject\'s shard group and the reference tables');
	is(join(' ', grep { $seen{$_} } sort @group), join(' ', sort @group), 'and every shard of the subject\'s shard group');
	is(join(' ', sort keys %devices_on), 'citus_worker1 citus_worker2', 'the devices\' placement is written on both workers');
	is($_->safe_psql('postgres', q{SELECT count(*) FROM privacy.cancelled_subject}), '1', 'and mirrored on ' . $_->name)
	  for @workers;
	($out, $err) = q_($coord, q{INSERT INTO app.users (id, email) VALUES (4, 'back@example.com')});
	like($err, qr/ERROR:  the subject in column "id" of table "users_\d+" has cancelled their account/,
		'the guard refuses the cancelled subject on a distributed table');
	($out, $err) = q_($coord, q{INSERT INTO app.events (user_id, id, at) VALUES (4, 1000, now())});
	like($err, qr/ERROR:  the subject in column "user_id" of table "events_\d+" has cancelled their account/,
		'and on a co-located one');
	is($coord->safe_psql('postgres', q{SELECT count(*) FROM app.users WHERE id = 4}) . ' '
	   . $coord->safe_psql('postgres', q{SELECT count(*) FROM app.events WHERE user_id = 4}), '0 3', 'nothing changed');
	($out, $err) = q_($coord, q{INSERT INTO app.devices VALUES (100, 4, 'SN100')});
	like($err, qr/ERROR:  the subject in column "owner_id" of table "devices_\d+" has cancelled their account/,
		'and on a reference table');
	is(placements('app.devices', 'id = 100'), '-', 'on no placement');
	($out, $err) = q_($coord, q{INSERT INTO app.users (id, email) VALUES (40, 'new@example.com')});
	is($err, '', 'another subject is accepted');
}

# ---------------------------------------------------------------- retention, anonymization
($out, $err) = q_($coord, q{CALL privacy.run_retention(10)});
is($err, '', 'run_retention');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM app.events WHERE at < now() - interval '30 days'}), '0',
	'expired events are deleted');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM app.events}), '29', 'and only they');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM privacy.retention_run WHERE ended_at IS NULL}), '0',
	'no retention run is left running');
my $ids = $coord->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.users});
my $users = $coord->safe_psql('postgres', q{SELECT count(*) FROM app.users});
my $email1 = $coord->safe_psql('postgres', q{SELECT pg_catalog.left(privacy.pseudonym('u1@example.com', 'anonymize'), 32) || '@anonymized.invalid'});
($out, $err) = q_($coord, q{CALL privacy.anonymize_table('app.users', 5)});
is($err, '', 'anonymize_table on a distributed table');
is($coord->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE email LIKE '%@example.com') || ' '
  || count(*) FILTER (WHERE phone = '138' || lpad(id::text, 8, '0')) || ' ' || count(*) FROM app.users}),
	"0 0 $users", 'every e-mail address and phone number is anonymized, no row lost');
is($coord->safe_psql('postgres', q{SELECT email FROM app.users WHERE id = 1}), $email1,
	'computed on the shards with the mirrored key: the coordinator\'s pseudonym');
is($coord->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.users}), $ids,
	'the distribution column is left as it is');
is($coord->safe_psql('postgres', q{SELECT method || ' ' || chosen_by FROM privacy.anonymization_plan('app.users') WHERE column_name = 'id'}),
	'keep citus distribution column', 'and the plan says so');
is($coord->safe_psql('postgres', q{SELECT status || ' ' || rows_done || ' ' || batches FROM privacy.anonymize_log WHERE relation = 'app.users'}),
	"finished $users " . int(($users + 4) / 5), 'in batches of 5 subjects, the run finished');
($out, $err) = q_($coord, q{CALL privacy.anonymize_table('app.orders', 5)});
is($err, '', 'anonymize_table on a co-located table with a primary key of two columns');
is($coord->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE address LIKE 'Dock %') || ' ' || count(*) FROM app.orders}),
	'0 57', 'every address is anonymized, no row lost');
is($coord->safe_psql('postgres', q{SELECT status || ' ' || rows_done || ' ' || batches FROM privacy.anonymize_log WHERE relation = 'app.orders'}),
	'finished 57 4', 'in batches of the rows of 5 subjects (19 subjects)');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM privacy.anonymize_run WHERE ended_at IS NULL}), '0',
	'no anonymization run is left running');

# ---------------------------------------------------------------- export
($out, $err) = q_($coord, q{SELECT string_agg(DISTINCT relation::text, ' ' ORDER BY relation::text) FROM privacy.export_subject_rows('5')});
is($err, '', 'export_subject');
is($out, 'app.events app.orders app.users', 'names the logical tables');

# ---------------------------------------------------------------- audit
is($coord->safe_psql('postgres', q{SELECT valid FROM privacy.verify_audit_log()}), 't', 'the coordinator\'s audit chain verifies');
is($_->safe_psql('postgres', q{SELECT count(*) FROM privacy.audit_log}), '0', 'no audit chain of its own on ' . $_->name)
  for @workers;
is($coord->safe_psql('postgres', q{SELECT string_agg(DISTINCT kind, ' ' ORDER BY kind) FROM privacy.audit_log}),
	'anonymize cancellation consent export key label purpose purpose grant purpose view retention shred', 'the coordinator\'s chain has every kind of entry');

$_->stop for reverse @nodes;
note(sprintf('the Citus suite took %.0f s', time - $started));
done_testing();
