# test/tap/001_dump_restore.pl: pg_dump / pg_restore of a labelled database
# (plain format through psql, custom format through pg_restore -j 2) into a
# fresh cluster with the documented configuration keeps every label, custom
# category, trusted schema, audit entry, tombstone and request, and the audit
# chain goes on.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $conf = key_conf(PostgreSQL::Test::Utils::tempdir);

my $src = PostgreSQL::Test::Cluster->new('source');
$src->init;
$src->append_conf('postgresql.conf', $conf);
$src->start;
$src->safe_psql('postgres', 'CREATE DATABASE shop');

$src->safe_psql('shop', q{
CREATE EXTENSION privacy;
CREATE SCHEMA masks;
CREATE FUNCTION masks.card(text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$SELECT '****' || right($1, 4)$$;
SELECT privacy.trust_schema('masks');
SELECT privacy.add_category('contact.wechat', 'WeChat ID');
SELECT privacy.add_category('marketing', 'Marketing preferences', retention => '2 years');
SELECT privacy.add_category('marketing.segment', 'Marketing segment', on_cancel => 'anonymize');

CREATE TABLE users (id bigint PRIMARY KEY, phone text, wechat text, card text, created_at timestamptz);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users, placed_at date);
CREATE TABLE order_items (order_id bigint REFERENCES orders, line int, sku text, PRIMARY KEY (order_id, line));
CREATE TABLE events (user_id bigint, at timestamptz NOT NULL, ip inet, segment text) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE "odd ""name""; $$" ("col; $$" text);

SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN users.wechat IS 'CATEGORY contact.wechat';
SECURITY LABEL FOR privacy ON COLUMN users.card IS 'CATEGORY financial.bank_account MASK WITH masks.card';
SECURITY LABEL FOR privacy ON TABLE users IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE orders IS 'ON CANCEL ANONYMIZE RETAIN 3 years AFTER placed_at';
SECURITY LABEL FOR privacy ON COLUMN order_items.sku IS 'CATEGORY commerce.order';
SECURITY LABEL FOR privacy ON COLUMN events.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN events.ip IS 'CATEGORY device.ip RETAIN 30 days AFTER at';
SECURITY LABEL FOR privacy ON COLUMN events.segment IS 'CATEGORY marketing.segment';
SECURITY LABEL FOR privacy ON TABLE events IS 'RETAIN 6 months AFTER at ON CANCEL KEEP UNTIL RETENTION';
SECURITY LABEL FOR privacy ON COLUMN "odd ""name""; $$"."col; $$" IS 'CATEGORY content.file';

SELECT privacy.define_purpose('newsletter', 'consent', ARRAY['contact.email'], 'Weekly newsletter');
SELECT privacy.define_purpose('marketing', 'consent', ARRAY['contact.phone'], 'SMS offers only');
SELECT privacy.publish_policy('1.0', true);
SELECT privacy.publish_policy('1.1', true, ARRAY['newsletter']);
SELECT privacy.hide_category('marketing', 'contact.wechat');
SELECT privacy.show_kept_rows('security', false);
SELECT privacy.grant_consent('1', 'newsletter', '{"form": "signup"}');
SELECT privacy.grant_consent('2', 'marketing');
SELECT privacy.withdraw_consent('2', 'marketing');
SELECT privacy.set_minor('3', true);
INSERT INTO users VALUES (1, '13800000001', 'wx1', '6222000011112222', now());
INSERT INTO orders VALUES (10, 1, current_date);
INSERT INTO order_items VALUES (10, 1, 'SKU-1');
INSERT INTO events VALUES (1, '2026-06-01', '10.0.0.1', 'gold');
-- a cancellation (its events kept until retention) and a pending request
INSERT INTO users VALUES (2, '13800000002', 'wx2', NULL, now());
INSERT INTO events VALUES (2, '2026-06-02', '10.0.0.2', 'silver');
SELECT * FROM privacy.cancel_subject('2');
SELECT privacy.request_cancellation('1', '15 days');
});

# what must survive: labels (decoded), custom configuration, the whole log
my %q = (
	labels => q{SELECT relation::text, column_name, label, category, mask, retain, retain_after, on_cancel
	              FROM privacy.labels ORDER BY 1, 2 NULLS FIRST},
	partition => q{SELECT privacy.column_label('events_2026', 'ip')},
	categories => q{SELECT name, parent, description, sensitive, retention, on_cancel, mask, exported, export_reason
	                  FROM privacy.category WHERE NOT seeded ORDER BY name},
	seeded => q{SELECT count(*) FROM privacy.category WHERE seeded},
	trusted => q{SELECT schema_name, trusted_at, trusted_by FROM privacy.trusted_schema ORDER BY 1},
	audit => q{SELECT seq, at, actor, kind, object, detail, encode(prev_hash, 'hex'), encode(hash, 'hex')
	             FROM privacy.audit_log ORDER BY seq},
	head => q{SELECT seq, encode(hash, 'hex') FROM privacy.audit_head},
	verify => q{SELECT valid, entries, first_broken, problem FROM privacy.verify_audit_log()},
	inventory => q{SELECT table_name::text, column_name, category, sensitive, subject_path, retention, on_cancel, mask
	                 FROM privacy.inventory ORDER BY 1, 2},
	data => q{SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM events), (SELECT sku FROM order_items)},
	purposes => q{SELECT name, legal_basis, categories, separate_consent, seeded FROM privacy.purpose ORDER BY name},
	policies => q{SELECT version, published_at, material, purposes FROM privacy.policy_version ORDER BY version},
	hidden => q{SELECT purpose, category, hidden_at, hidden_by FROM privacy.purpose_hidden ORDER BY 1, 2},
	kept_rows => q{SELECT purpose, shown, set_at, set_by, privacy.purpose_sees_kept_rows(purpose) FROM privacy.purpose_kept_rows ORDER BY 1},
	ledger => q{SELECT seq, subject, purpose, granted, at, policy_version, evidence, by_guardian, actor
	              FROM privacy.consent_event ORDER BY seq},
	consents => q{SELECT subject, purpose, granted_at, policy_version, by_guardian FROM privacy.consent ORDER BY 1, 2},
	minors => q{SELECT subject, minor FROM privacy.subject_minor ORDER BY 1},
	has_consent => q{SELECT privacy.has_consent('1', 'newsletter'), privacy.has_consent('2', 'marketing')},
	tombstones => q{SELECT subject_id, cancelled_at, request_id FROM privacy.cancelled_subject ORDER BY 1},
	requests => q{SELECT id, kind, subject, subject_id, received_at, not_before, due_at, status, closed_at
	                FROM privacy.request ORDER BY id},
	restricted => q{SELECT subject, request_id FROM privacy.restricted_subject ORDER BY 1},
);
my %before;
$before{$_} = $src->safe_psql('shop', $q{$_}) for keys %q;

like($before{verify}, qr/^t\|(\d+)\|\|$/, 'source audit log verifies');
my ($entries) = $before{verify} =~ /^t\|(\d+)/;
is($entries, 29, 'source audit log: 1 trust, 3 category, 12 label, 2 purpose, 2 policy, 1 purpose hide, 1 purpose kept rows, 3 consent, 1 minor, 1 key (privacy.subjects), 1 cancellation and 1 request entries')
  or diag($src->safe_psql('shop', q{SELECT kind, count(*) FROM privacy.audit_log GROUP BY 1 ORDER BY 1}));
is($before{seeded}, $src->safe_psql('shop', q{SELECT count(*) FROM privacy.category}) - 3,
	'three custom categories beside the seeded ones');

my $dir = PostgreSQL::Test::Utils::tempdir;
$src->command_ok([ 'pg_dump', '-d', $src->connstr('shop'), '-f', "$dir/shop.sql" ], 'plain pg_dump');
$src->command_ok([ 'pg_dump', '-Fc', '-d', $src->connstr('shop'), '-f', "$dir/shop.dump" ],
	'custom-format pg_dump');

# the dump holds the labels and the configuration rows, never seeded rows
my $plain = slurp_file("$dir/shop.sql");
like($plain, qr/SECURITY LABEL FOR privacy ON COLUMN public\.users\.card IS 'CATEGORY financial\.bank_account MASK WITH masks\.card'/,
	'plain dump has the labels');
like($plain, qr/COPY privacy\.category .*contact\.wechat/s, 'plain dump has the custom categories');
unlike($plain, qr/^contact\.phone\t/m, 'plain dump has no seeded category rows');
like($plain, qr/COPY privacy\.audit_log /, 'plain dump has the audit log');

# a fresh cluster with the documented configuration
my $dst = PostgreSQL::Test::Cluster->new('target');
$dst->init;
$dst->append_conf('postgresql.conf', $conf);
$dst->start;

$dst->safe_psql('postgres', 'CREATE DATABASE shop_plain');
$dst->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $dst->connstr('shop_plain'), '-f', "$dir/shop.sql" ],
	'plain dump restores through psql without an error');

$dst->safe_psql('postgres', 'CREATE DATABASE shop_custom');
$dst->command_ok(
	[ 'pg_restore', '--exit-on-error', '-j', '2', '-d', $dst->connstr('shop_custom'), "$dir/shop.dump" ],
	'custom dump restores with pg_restore -j 2 without an error');

for my $db ('shop_plain', 'shop_custom')
{
	for my $k (sort keys %q)
	{
		is($dst->safe_psql($db, $q{$k}), $before{$k}, "$db: $k identical after restore");
	}

	# the chain goes on from the restored head
	$dst->safe_psql($db, q{SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone MASK WITH masks.card'});
	is($dst->safe_psql($db, $q{verify}), 't|' . ($entries + 1) . '||',
		"$db: a new label change extends the restored chain");
	is($dst->safe_psql($db, q{SELECT seq, object FROM privacy.audit_log ORDER BY seq DESC LIMIT 1}),
		($entries + 1) . '|column public.users.phone', "$db: new entry numbered after the restored ones");

	# the consent ledger goes on from the restored sequence
	my $last = $dst->safe_psql($db, q{SELECT max(seq) FROM privacy.consent_event});
	is($dst->safe_psql($db, q{SELECT privacy.grant_consent('4', 'newsletter')}), $last + 1,
		"$db: a new consent continues the restored ledger");

	# a restored tombstone still answers, and requests go on from the restored sequence
	is($dst->safe_psql($db, q{SELECT action FROM privacy.cancel_subject('2')}), 'already cancelled',
		"$db: a cancelled subject stays cancelled after the restore");
	my $last_request = $dst->safe_psql($db, q{SELECT max(id) FROM privacy.request});
	is($dst->safe_psql($db, q{SELECT privacy.request_cancellation('3')}), $last_request + 1,
		"$db: a new request continues the restored register");
	is($dst->safe_psql($db, q{SELECT privacy.request_cancellation('1')}),
		$dst->safe_psql($db, q{SELECT id FROM privacy.request WHERE kind = 'cancellation' AND status = 'open' ORDER BY id LIMIT 1}),
		"$db: the restored open request is still the subject's one");

	# restored labels are validated like any other: unknown categories still fail
	my ($rc, $out, $err) = $dst->psql($db,
		q{SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.fone'});
	like($err, qr/unknown privacy category "contact\.fone"/, "$db: validation is on after the restore");
}

# outside restore mode (check_function_bodies on), even a superuser cannot set
# a label naming a category the database does not have
$dst->safe_psql('postgres', 'CREATE DATABASE other');
$dst->safe_psql('other', 'CREATE EXTENSION privacy; CREATE TABLE t (a text)');
my ($rc, $out, $err) = $dst->psql('other',
	q{SET check_function_bodies = on; SECURITY LABEL FOR privacy ON COLUMN t.a IS 'CATEGORY marketing.segment'});
like($err, qr/unknown privacy category "marketing\.segment"/, 'labels are checked outside restore mode');

# a non-superuser with check_function_bodies off gets no restore mode
$dst->safe_psql('other', q{CREATE ROLE plain_owner; ALTER TABLE t OWNER TO plain_owner});
($rc, $out, $err) = $dst->psql('other',
	q{SET ROLE plain_owner; SET check_function_bodies = off;
	  SECURITY LABEL FOR privacy ON COLUMN t.a IS 'CATEGORY marketing.segment'});
like($err, qr/unknown privacy category "marketing\.segment"/, 'restore mode is for superusers only');
is($dst->safe_psql('other', q{SELECT count(*) FROM privacy.audit_log}), '0', 'and nothing was audited');

$src->stop;
$dst->stop;
done_testing();
