# test/tap/004_keys.pl: keys across pg_dump / pg_restore.  With the same master
# key file the restored database gives identical pseudonyms and decrypts
# everything; with a different one every decryption fails cleanly.  The master
# key file's permissions are checked, and no key material reaches the server log.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $dir = PostgreSQL::Test::Utils::tempdir;

sub node_with_key
{
	my ($name, $keyfile, $subject_dir) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'privacy'\nprivacy.master_key_file = '$keyfile'\n"
		  . "privacy.subject_key_dir = '$subject_dir'\n"
		  . "log_statement = 'all'\nlog_min_error_statement = 'error'\n");
	$node->start;
	return $node;
}


my $master_hex = master_key("$dir/master.key");
my $src = node_with_key('keys_source', "$dir/master.key", subject_dir("$dir/subjects"));
$src->safe_psql('postgres', 'CREATE DATABASE app');
$src->safe_psql('app', q{
CREATE EXTENSION privacy;
SELECT privacy.create_key('app');
SELECT privacy.create_key('old');
SELECT privacy.rotate_key('old');
CREATE TABLE t (id int, ps text, ct bytea, det bytea, fpe text, subj bytea, old_ct bytea);
INSERT INTO t SELECT i,
    privacy.pseudonym('1380000' || i, 'app'),
    privacy.encrypt('secret ' || i, 'app'),
    privacy.encrypt_deterministic('det ' || i, 'app'),
    privacy.fpe_encrypt('1380000000' || i, 'app'),
    privacy.subject_encrypt('user-' || i, 'id ' || i),
    privacy.encrypt('old ' || i, 'old')
  FROM generate_series(1, 5) i;
SELECT privacy.rotate_key('old');
});

my $check = q{
SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s', id,
           ps = privacy.pseudonym('1380000' || id, 'app'),
           privacy.decrypt(ct, 'app'),
           privacy.decrypt_deterministic(det, 'app'),
           privacy.fpe_decrypt(fpe, 'app'),
           privacy.subject_decrypt('user-' || id, subj),
           privacy.decrypt(old_ct, 'old')), ';' ORDER BY id) FROM t};
my $expected = join(';', map { "$_|t|secret $_|det $_|1380000000$_|id $_|old $_" } 1 .. 5);
is($src->safe_psql('app', $check), $expected, 'source: everything decrypts');
my $pseudonyms = $src->safe_psql('app', q{SELECT string_agg(ps, ',' ORDER BY id) FROM t});

$src->command_ok([ 'pg_dump', '-Fc', '-d', $src->connstr('app'), '-f', "$dir/app.dump" ], 'pg_dump');
my $plain = "$dir/app.sql";
$src->command_ok([ 'pg_dump', '-d', $src->connstr('app'), '-f', $plain ], 'plain pg_dump');
unlike(slurp_file($plain), qr/\Q$master_hex\E/i, 'the dump does not hold the master key');

# the database never holds a subject key: not in the dump either
my @key_files = glob("$dir/subjects/*.key");
is(scalar(@key_files), 5, 'one key file per subject, outside the database');
my $dump_text = slurp_file($plain);
my $in_dump = grep { index($dump_text, unpack('H*', slurp_file($_))) >= 0 } @key_files;
is($in_dump, 0, 'no wrapped subject key in the dump');

# the same master key and a copy of the subject key directory, in another cluster
my $same_dir = "$dir/same";
mkdir $same_dir;
system('cp', "$dir/master.key", "$same_dir/master.key") == 0 or die;
chmod 0600, "$same_dir/master.key";
system('cp', '-a', "$dir/subjects", "$same_dir/subjects") == 0 or die;
my $same = node_with_key('keys_same', "$same_dir/master.key", "$same_dir/subjects");
$same->safe_psql('postgres', 'CREATE DATABASE app');
$same->command_ok([ 'pg_restore', '--exit-on-error', '-j', '2', '-d', $same->connstr('app'), "$dir/app.dump" ],
	'restore with the same master key');
is($same->safe_psql('app', $check), $expected, 'same master key: everything decrypts after restore');
is($same->safe_psql('app', q{SELECT string_agg(privacy.pseudonym('1380000' || id, 'app'), ',' ORDER BY id) FROM t}),
	$pseudonyms, 'same master key: identical pseudonyms');
is($same->safe_psql('app', q{SELECT valid FROM privacy.verify_audit_log()}), 't', 'audit log verifies after restore');

my ($rc, $out, $err);

# a different master key
master_key("$dir/other.key");
system('cp', '-a', "$dir/subjects", "$dir/other_subjects") == 0 or die;
my $other = node_with_key('keys_other', "$dir/other.key", "$dir/other_subjects");
$other->safe_psql('postgres', 'CREATE DATABASE app');
$other->command_ok([ 'pg_restore', '--exit-on-error', '-d', $other->connstr('app'), "$dir/app.dump" ],
	'restore with a different master key');
for my $fn ("privacy.decrypt(ct, 'app')", "privacy.pseudonym('x', 'app')",
	"privacy.fpe_decrypt(fpe, 'app')", "privacy.subject_decrypt('user-1', subj)")
{
	($rc, $out, $err) = $other->psql('app', "SELECT $fn FROM t WHERE id = 1");
	isnt($rc, 0, "different master key: $fn fails");
	like($err, qr/ERROR:  cannot unwrap the (key "app"|subject key|key "privacy\.subjects"): it was wrapped under a different master key, or altered/,
		"different master key: $fn says why");
	is($out, '', "different master key: $fn returns nothing");
}

# crypto-shredding reaches backups: a dump taken before the shred, restored
# after it, cannot decrypt the shredded subject, since its key never was in
# the database and its file is gone
$src->safe_psql('app', q{SELECT privacy.shred_subject('user-3')});
ok(!-e "$dir/subjects/" . $src->safe_psql('app', q{SELECT privacy.subject_pseudonym('user-3')}) . '.key',
	'the shredded key file is deleted at commit');
my $old = node_with_key('keys_old_backup', "$dir/master.key", "$dir/subjects");
$old->safe_psql('postgres', 'CREATE DATABASE app');
$old->command_ok([ 'pg_restore', '--exit-on-error', '-d', $old->connstr('app'), "$dir/app.dump" ],
	'restore a dump taken before the shred');
($rc, $out, $err) = $old->psql('app', q{SELECT privacy.subject_decrypt('user-3', subj) FROM t WHERE id = 3});
like($err, qr/no key exists for this subject/, 'the shredded subject stays unreadable in the old backup');
is($out, '', 'and nothing is returned');
is($old->safe_psql('app', q{SELECT privacy.subject_decrypt('user-2', subj) FROM t WHERE id = 2}), 'id 2',
	'other subjects of the old backup still decrypt');

# a key file brought back (a restored copy of the directory) is refused and swept
system('cp', '-a', "$same_dir/subjects/" . $src->safe_psql('app', q{SELECT privacy.subject_pseudonym('user-3')}) . '.key',
	"$dir/subjects/") == 0 or die;
is($src->safe_psql('app', q{SELECT privacy.sweep_subject_keys()}), '1', 'sweep removes the returned key file');
($rc, $out, $err) = $src->psql('app', q{SELECT privacy.subject_decrypt('user-3', subj) FROM t WHERE id = 3});
like($err, qr/the subject's key was shredded/, 'the source refuses the shredded subject');

# the master key file must be the server's, owner-only, 32 bytes
chmod 0644, "$dir/other.key";
($rc, $out, $err) = $other->psql('app', q{SELECT privacy.create_key('x')});
like($err, qr/the master key file is accessible by other users than its owner/, 'world-readable master key refused');
like($err, qr/chmod 600/, 'with the fix in the hint');
is($other->safe_psql('app', q{SELECT severity || ': ' || message || ' / ' || hint FROM privacy.check() WHERE object = 'privacy.master_key_file'}),
	"error: the master key file is accessible by other users than its owner / Make it readable by its owner only: chmod 600.",
	'privacy.check() reports the world-readable master key file');
is($other->safe_psql('app', q{SELECT count(*) FROM privacy.check() WHERE message LIKE '%' || current_setting('privacy.master_key_file') || '%'}),
	'0', 'without naming its path');
chmod 0600, "$dir/other.key";
is($other->safe_psql('app', q{SELECT count(*) FROM privacy.check() WHERE object = 'privacy.master_key_file'}),
	'0', 'and nothing once it is owner-only again');

# no key material, no master key and no plaintext in the server logs, after
# every error path above (log_statement = all)
for my $node ($src, $same, $other, $old)
{
	my $log = slurp_file($node->logfile);
	unlike($log, qr/\Q$master_hex\E/i, $node->name . ': master key not in the log');
	my $wrapped = $node->safe_psql('app', q{SELECT string_agg(encode(wrapped, 'hex'), ',') FROM privacy.key_version});
	my $leak = grep { index($log, $_) >= 0 } split(/,/, $wrapped);
	is($leak, 0, $node->name . ': no wrapped key in the log');
	unlike($log, qr/secret [1-5]|id [1-5]'/, $node->name . ': no decrypted value in the log');
}

$_->stop for ($src, $same, $other, $old);
done_testing();
