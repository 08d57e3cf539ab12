# test/tap/PrivacyKeys.pm: key storage for the clusters of the TAP tests: a
# master key file of 32 random bytes and a subject key directory, owner-only,
# and the settings that name them.
package PrivacyKeys;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(master_key subject_dir key_conf);

# a master key file at $path (mode 0600); returns the key in hex
sub master_key
{
	my ($path) = @_;
	open(my $fh, '>:raw', $path) or die "cannot write $path: $!";
	open(my $rand, '<:raw', '/dev/urandom') or die "cannot read /dev/urandom: $!";
	read($rand, my $bytes, 32) == 32 or die "short read from /dev/urandom";
	print $fh $bytes;
	close $fh;
	chmod 0600, $path;
	return unpack('H*', $bytes);
}

# a subject key directory at $path (mode 0700); returns $path
sub subject_dir
{
	my ($path) = @_;
	mkdir $path or die "mkdir $path: $!";
	chmod 0700, $path;
	return $path;
}

# both in $dir, and the postgresql.conf lines that preload $preload (default
# 'privacy') and name them
sub key_conf
{
	my ($dir, $preload) = @_;
	master_key("$dir/master.key");
	subject_dir("$dir/subjects");
	return "shared_preload_libraries = '" . ($preload // 'privacy') . "'\n"
	  . "privacy.master_key_file = '$dir/master.key'\n"
	  . "privacy.subject_key_dir = '$dir/subjects'\n";
}

1;
