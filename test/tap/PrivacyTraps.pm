# test/tap/PrivacyTraps.pm: a table owner's code that tries to make its owner
# superuser, for the TAP tests that show none of it runs with another role's
# rights (sql/boundary.sql has the regression suite's own, which records who
# ran it).
package PrivacyTraps;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(superuser_trap);

# SQL that creates, in $schema, function ok(text) trying ALTER ROLE $role
# SUPERUSER (its failure swallowed) and domain phone_d over text whose CHECK
# calls it; run it as $role
sub superuser_trap
{
	my ($schema, $role) = @_;
	return qq{
CREATE FUNCTION $schema.ok(v text) RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE $role SUPERUSER';
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN true;
END
\$\$;
CREATE DOMAIN $schema.phone_d AS text CHECK ($schema.ok(VALUE));
};
}

1;
