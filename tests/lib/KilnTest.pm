# KilnTest: run Kiln's route binaries as plain CGI against a throwaway
# database, the way cgit's tests run cgit. Used by tests/*.t.
package KilnTest;
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use IPC::Open3;
use Symbol qw(gensym);
use JSON::PP;
use Test::More ();

our @EXPORT = qw(bin_dir new_env cgi admin register_user create_server
    json_of fixture err_is status_is sql);

my $root = abs_path(dirname(__FILE__) . '/../..');

# Where the binaries are: KILN_BIN (set by make test / make sanitize).
sub bin_dir { $ENV{KILN_BIN} || "$root/bin" }

# A fresh, migrated database in a temporary var dir; returns its path.
# Rate limits stay as the contract sets them unless %over says otherwise
# (e.g. rate_register => 1000).
sub new_env {
	my (%over) = @_;
	my $dir = tempdir('kiln-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);
	$ENV{KILN_VAR_DIR} = $dir;
	$ENV{KILN_CONFIG} = '/dev/null';
	$ENV{KILN_KEY_PEPPER} = 'test-pepper';
	$ENV{KILN_BASE_URL} = 'http://kiln.test';
	delete $ENV{"KILN_\U$_"} for qw(rate_ip rate_register rate_key
	    rate_account rate_server_create rate_server_delete rate_rotate_key
	    fake_now free_server_quota);
	$ENV{"KILN_\U$_"} = $over{$_} for keys %over;
	my $out = `'${\ bin_dir()}/kiln-migrate' 2>&1`;
	die "kiln-migrate failed: $out" if $?;
	return $dir;
}

# Runs one request through a route binary as plain CGI.
#   cgi('servers', 'POST', '/api/v1/servers', body => {...} | 'raw',
#       token => $t, headers => { 'Idempotency-Key' => 'k' },
#       ip => '10.0.0.9', content_type => 'text/plain')
# Returns { status => 201, headers => { lc name => value }, raw => body,
#           json => decoded body or undef, exit => wait status }.
sub cgi {
	my ($bin, $method, $uri, %o) = @_;
	my $body = $o{body};
	$body = encode_json($body) if ref $body;
	$body = '' unless defined $body;
	my ($path, $query) = split /\?/, $uri, 2;
	local %ENV = %ENV;
	$ENV{GATEWAY_INTERFACE} = 'CGI/1.1';
	$ENV{REQUEST_METHOD} = $method;
	$ENV{REQUEST_URI} = $uri;
	$ENV{SCRIPT_NAME} = "/kiln-fcgi/$bin";
	$ENV{QUERY_STRING} = defined $query ? $query : '';
	$ENV{REMOTE_ADDR} = $o{ip} || '192.0.2.1';
	$ENV{SERVER_PROTOCOL} = 'HTTP/1.1';
	delete $ENV{$_} for grep { /^HTTP_/ } keys %ENV;
	delete $ENV{CONTENT_TYPE};
	delete $ENV{CONTENT_LENGTH};
	if (length $body || exists $o{content_type}) {
		$ENV{CONTENT_LENGTH} = exists $o{content_length}
		    ? $o{content_length} : length $body;
		$ENV{CONTENT_TYPE} = exists $o{content_type}
		    ? $o{content_type} : 'application/json';
		delete $ENV{CONTENT_TYPE} unless defined $ENV{CONTENT_TYPE};
	}
	$ENV{HTTP_AUTHORIZATION} = "Bearer $o{token}" if defined $o{token};
	for my $h (keys %{ $o{headers} || {} }) {
		(my $var = uc "HTTP_$h") =~ tr/-/_/;
		$ENV{$var} = $o{headers}{$h};
	}
	my $err = gensym;
	my $pid = open3(my $in, my $out, $err, bin_dir() . "/kiln-$bin");
	binmode $in;
	print $in $body;
	close $in;
	local $/;
	my $raw = <$out>;
	my $stderr = <$err>;
	waitpid $pid, 0;
	my $exit = $?;
	print STDERR $stderr if defined $stderr && length $stderr
	    && $ENV{KILN_TEST_VERBOSE};
	$raw = '' unless defined $raw;
	my ($head, $rbody) = split /\r\n\r\n/, $raw, 2;
	my %h;
	for (split /\r\n/, $head // '') {
		my ($k, $v) = split /:\s*/, $_, 2;
		$h{lc $k} = $v if defined $v;
	}
	my ($status) = ($h{status} // '') =~ /^(\d+)/;
	my $json = eval { JSON::PP->new->decode($rbody) }
	    if defined $rbody && length $rbody;
	return { status => $status // 0, headers => \%h, raw => $rbody,
	    json => $json, exit => $exit, stderr => $stderr };
}

# Runs kiln-admin with the given arguments; returns (exit code, output).
sub admin {
	my @args = @_;
	my $cmd = join ' ', map { "'$_'" } bin_dir() . '/kiln-admin', @args;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

# Registers a user (distinct IP per call so the 3/h limit doesn't bite);
# returns its session token.
my $next_ip = 1;
sub register_user {
	my ($email, %o) = @_;
	my $ip = '198.51.100.' . ($next_ip++ % 250 + 1);
	my $r = cgi('auth', 'POST', '/api/v1/auth/register', ip => $ip,
	    body => { email => $email, password => $o{password}
	    || 'correct horse battery', name => $o{name} || 'Test User' });
	die "register $email: $r->{status} $r->{raw}" unless $r->{status} == 201;
	return $r->{json}{token};
}

# Creates a server; returns the decoded 201 body.
sub create_server {
	my ($token, %body) = @_;
	$body{name} //= 'web-' . int(rand(1e9));
	my $r = cgi('servers', 'POST', '/api/v1/servers', token => $token,
	    body => \%body);
	die "create server: $r->{status} $r->{raw}" unless $r->{status} == 201;
	return $r->{json};
}

sub json_of { JSON::PP->new->decode($_[0]) }

# One test: $r (a cgi() result) is the error envelope with this status
# and code and a non-empty message; with field => 'x', its field is 'x'
# (a missing field never matches).
sub err_is {
	my ($r, $status, $code, $name, %o) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $j = $r->{json} || {};
	my $ok = $r->{status} == $status && ($j->{error} // '') eq $code
	    && defined $j->{message} && length $j->{message}
	    && (!defined $o{field} || (defined $j->{field}
	    && $j->{field} eq $o{field}));
	Test::More::ok($ok, $name)
	    or Test::More::diag("got $r->{status} $r->{raw}; want $status $code"
	    . (defined $o{field} ? " field $o{field}" : ''));
}

# One test: $r has this status; shows the body when it hasn't.
sub status_is {
	my ($r, $status, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	Test::More::is($r->{status}, $status, $name)
	    or Test::More::diag($r->{raw});
}

# Runs SQL through the sqlite3 CLI on kiln.db (or another database file
# in the var dir, e.g. 'rate.db'); returns its output without the last
# newline. Dies if sqlite3 fails.
sub sql {
	my ($q, $file) = @_;
	open my $fh, '-|', 'sqlite3', "$ENV{KILN_VAR_DIR}/" . ($file
	    // 'kiln.db'), $q or die "sqlite3: $!";
	local $/;
	my $out = <$fh> // '';
	close $fh or die "sqlite3 failed on: $q\n$out";
	$out =~ s/\n\z//;
	return $out;
}

# The text of a file under ../shared/fixtures or tests/fixtures.
sub fixture {
	my ($name) = @_;
	for my $d ("$root/tests/fixtures", "$root/../shared/fixtures") {
		if (open my $fh, '<', "$d/$name") {
			local $/;
			return scalar <$fh>;
		}
	}
	die "no fixture $name";
}

1;
