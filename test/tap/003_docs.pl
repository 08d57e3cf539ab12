# test/tap/003_docs.pl: the documentation keeps up with the extension: every
# function, view and table of the extension has a COMMENT and is named in
# doc/reference.md; every seeded category is in doc/taxonomy.md; every
# regression suite is described in doc/testing.md.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{PRIVACY_ROOT} or BAIL_OUT('PRIVACY_ROOT is not set');
my $reference = slurp_file("$root/doc/reference.md");
my $taxonomy = slurp_file("$root/doc/taxonomy.md");
my $testing = slurp_file("$root/doc/testing.md");

my $node = PostgreSQL::Test::Cluster->new('docs');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privacy'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION privacy');

# every member object of the extension, with its comment
my @objects = split /\n/, $node->safe_psql('postgres', q{
SELECT CASE d.classid WHEN 'pg_proc'::regclass THEN p.proname ELSE c.relname END
       || '|' || COALESCE(obj_description(d.objid, d.classid::regclass::name), '')
  FROM pg_depend d
  LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
  LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'privacy')
   AND d.deptype = 'e' AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass)
 ORDER BY 1});
cmp_ok(scalar(@objects), '>=', 20, 'the extension has its functions, views and tables');
for my $row (@objects)
{
	my ($name, $comment) = split /\|/, $row, 2;
	isnt($comment, '', "privacy.$name has a COMMENT");
	ok(index($reference, "privacy.$name") >= 0, "privacy.$name is in doc/reference.md");
}

for my $cat (split /\n/, $node->safe_psql('postgres',
		q{SELECT name FROM privacy.category WHERE seeded ORDER BY name}))
{
	like($taxonomy, qr/^\| `\Q$cat\E` \|/m, "category $cat is in doc/taxonomy.md");
}

my $makefile = slurp_file("$root/Makefile");
my ($regress) = $makefile =~ /^REGRESS = (.*)$/m;
my ($logged) = $makefile =~ /^REGRESS_LOGGED = (.*)$/m;
for my $suite (split(' ', $regress), split(' ', $logged // ''))
{
	like($testing, qr/^\| `\Q$suite\E` \|/m, "suite $suite is described in doc/testing.md");
}

$node->stop;
done_testing();
