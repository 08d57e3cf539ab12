# test/tap/015_old_sql.pl: the library of this version with the SQL of an
# older release (doc/upgrading.md "Between the new library and ALTER
# EXTENSION UPDATE").  After a package upgrade installs the new privacy.so,
# a server runs it with the SQL objects of the release the database was
# created with until someone runs ALTER EXTENSION privacy UPDATE.  For every
# release in src/sql/release, with its install script: every C entry point its
# SQL declares resolves in the library and, called, either works or fails
# with an ordinary error of its own (never a missing symbol, never a crash);
# an error about the SQL being older than the library says, in its hint, to
# run ALTER EXTENSION privacy UPDATE.  Then a user's data is written through
# the old SQL (test/upgrade/fill.sql), and the update afterwards works.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PrivacyKeys;

my $source = $ENV{PRIVACY_SOURCE} or plan skip_all => 'PRIVACY_SOURCE is set by make test';
my @releases = sort map { m{/privacy--([0-9.]+)\.sql$} ? $1 : () } glob("$source/src/sql/release/privacy--*.sql");
plan skip_all => 'no frozen release' unless @releases;

my $node = PostgreSQL::Test::Cluster->new('old_sql');
$node->init;
$node->append_conf('postgresql.conf', key_conf(PostgreSQL::Test::Utils::tempdir));
$node->start;

for my $release (@releases)
{
	my $db = 'old_' . ($release =~ tr/./_/r);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION privacy VERSION '$release'");
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'privacy'}),
		$release, "$release: installed with the library of this version");
	$node->safe_psql($db, q{SELECT privacy.create_key('k')});

	# every C function of the old SQL: its symbol is in the library
	my $from = q{
	    FROM pg_proc p
	    JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'privacy'};
	my $where = q{ WHERE p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')};
	my $c_functions = $from . $where;
	my $n = $node->safe_psql($db, "SELECT count(*) $c_functions");
	cmp_ok($n, '>', 0, "$release: its SQL declares $n C functions");
	my ($rc, $out, $err) = $node->psql($db, "SELECT count(fmgr_c_validator(p.oid)) $c_functions");
	is($err, '', "$release: the library has the symbol of each ($out)");

	# each called with values of its argument types (a key, a subject, a
	# kind where the argument is named so), in a transaction rolled back
	my @calls = split /\n/, $node->safe_psql($db, qq{
	    SELECT p.oid::regprocedure::text || E'\\t' || format('SELECT %s(%s)', p.oid::regproc,
	           COALESCE(string_agg(CASE
	               WHEN t.typ = 'text'::regtype AND a.name ~ 'key' THEN '''k'''
	               WHEN t.typ = 'text'::regtype AND a.name ~ 'kind' THEN '''person'''
	               WHEN t.typ = 'text'::regtype AND a.name ~ 'subject' THEN '''1'''
	               WHEN t.typ = 'text'::regtype THEN '''13800000001'''
	               WHEN t.typ = 'bytea'::regtype THEN '''\\x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff''::bytea'
	               WHEN t.typ IN ('integer'::regtype, 'bigint'::regtype) THEN '1'
	               WHEN t.typ = 'boolean'::regtype THEN 'false'
	               WHEN t.typ = 'date'::regtype THEN '''2026-01-01''::date'
	               WHEN t.typ = 'timestamptz'::regtype THEN '''2026-01-01 00:00:00+00''::timestamptz'
	               WHEN t.typ = 'regclass'::regtype THEN '''privacy.key''::regclass'
	               WHEN t.typ = 'regtype'::regtype THEN '''text''::regtype'
	               WHEN t.typ = 'jsonb'::regtype THEN '''{}''::jsonb'
	               ELSE format('''{}''::%s', t.typ::regtype) END, ', ' ORDER BY t.i), ''))
	      $from
	      LEFT JOIN LATERAL unnest(p.proargtypes::regtype[]) WITH ORDINALITY t(typ, i) ON true
	      LEFT JOIN LATERAL (SELECT (p.proargnames)[t.i] AS name) a ON true
	     $where
	       AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
	     GROUP BY p.oid ORDER BY 1});
	cmp_ok(scalar(@calls), '>', 0, "$release: a call of each C function but trigger functions");
	my ($works, $refuses, $errors) = (0, 0, 0);
	for my $line (@calls)
	{
		my ($fn, $call) = split /\t/, $line, 2;
		my ($rc, $out, $err) = $node->psql($db, "SET statement_timeout = '20s'; BEGIN; $call; ROLLBACK;",
			extra_params => [ '-v', 'VERBOSITY=default' ]);
		if ($err eq '')
		{
			$works++;
			next;
		}
		unlike($err, qr/could not find function|undefined symbol|could not load library|server closed the connection|terminated abnormally/,
			"$release: $fn neither lacks its symbol nor crashes");
		if ($err =~ /ALTER EXTENSION|extension version|older version|newer version/i)
		{
			like($err, qr/HINT:  .*ALTER EXTENSION privacy UPDATE/, "$release: $fn refuses with the hint to update");
			$refuses++;
		}
		else
		{
			$errors++;
		}
	}
	note("$release: $works C entry points worked, $refuses refused with the hint, $errors failed with an error of their own");
	is($works + $refuses + $errors, scalar(@calls), "$release: every C entry point called");
	is($node->safe_psql($db, 'SELECT 1'), '1', "$release: the server is still up after every call");

	# a user's data through the old SQL, then the update
	my $fill = "$source/test/upgrade/fill.sql";
	($rc, $out, $err) = $node->psql($db, slurp_file($fill), on_error_stop => 1);
	is($rc, 0, "$release: a user's data written through the old SQL and the new library") or diag($err);
	($rc, $out, $err) = $node->psql($db, 'ALTER EXTENSION privacy UPDATE');
	is($err, '', "$release: ALTER EXTENSION privacy UPDATE after it");
	isnt($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'privacy'}), $release,
		"$release: the extension is at the new version");
	is($node->safe_psql($db, q{SELECT privacy.decrypt(cipher, 'k1') FROM public.secret WHERE n = 1}), 'hello 1',
		"$release: what the old SQL encrypted decrypts after the update");
	is($node->safe_psql($db, q{SELECT valid FROM privacy.verify_audit_log()}), 't',
		"$release: the audit chain verifies after the update");
}

$node->stop;
done_testing();
