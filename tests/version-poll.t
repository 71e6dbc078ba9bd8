#!/usr/bin/perl
# version-poll: bin/kiln-cron-version-poll against a fake npm registry
# (tests/peers/fake_npm.py), run as cron runs it. After each run: its exit
# status and message, the stored setting crucible_latest, and what
# GET /version (kiln-meta as CGI) answers. A failed poll of any kind keeps
# the last good value.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use KilnTest;

new_env();

my $T0 = 1767225600;		# 2026-01-01T00:00:00Z
my $HOUR = 3600;

# The fake registry, on a free port it tells us. A package variable: a
# lexical pipe would be closed (waiting for the server to exit) before
# the END block that stops the server.
our $npm;
my $npm_pid = open($npm, '-|', 'python3',
    "$FindBin::Bin/peers/fake_npm.py") or die "fake_npm.py: $!";
my $line = <$npm>;
die "fake_npm.py did not start\n" unless defined $line
    && $line =~ /^port (\d+)$/;
my $base = "http://127.0.0.1:$1";
END { kill 'TERM', $npm_pid if $npm_pid; }

# Runs the job once at $now against $base$path. Returns { exit, out,
# err, secs }.
sub poll {
	my ($path, $now, %env) = @_;
	my $dir = $ENV{KILN_VAR_DIR};
	local %ENV = (%ENV, KILN_FAKE_NOW => $now,
	    KILN_NPM_REGISTRY_URL => "$base$path", %env);
	my $t = time;
	system(bin_dir() . "/kiln-cron-version-poll >'$dir/job.out' "
	    . "2>'$dir/job.err'");
	my %r = (exit => $? == -1 ? -1 : $? & 127 ? 128 + ($? & 127) : $? >> 8,
	    secs => time - $t);
	for my $k (qw(out err)) {
		open my $fh, '<', "$dir/job.$k" or die "$dir/job.$k: $!";
		local $/;
		$r{$k} = <$fh> // '';
	}
	return \%r;
}

sub stored { sql("SELECT value || ' ' || updated_at FROM setting "
    . "WHERE name = 'crucible_latest'") }

sub api_latest {
	my $r = cgi('meta', 'GET', '/api/v1/version');
	die "version: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return $r->{json}{crucible}{latest};
}

# --- 1. before any poll, then good polls -------------------------------

is(api_latest(), undef, '1.1 latest is null before any poll');

my $r = poll('/v/0.13.3', $T0);
is($r->{exit}, 0, '1.2 a good poll exits 0') or diag($r->{err});
is(stored(), "0.13.3 $T0", '1.3 stored with updated_at');
is(api_latest(), '0.13.3', '1.4 GET /version answers it');
is($r->{out}, "version-poll: crucible latest (none) -> 0.13.3\n",
    '1.5 says what changed');
is($r->{err}, '', '1.6 nothing on stderr');

$r = poll('/v/0.14.0', $T0 + 6 * $HOUR);
is($r->{exit}, 0, '1.7 a newer version') or diag($r->{err});
is(stored(), '0.14.0 ' . ($T0 + 6 * $HOUR), '1.8 replaces the old one');
is(api_latest(), '0.14.0', '1.9 GET /version follows');
like($r->{out}, qr/0\.13\.3 -> 0\.14\.0/, '1.10 old -> new');

$r = poll('/v/0.14.0', $T0 + 12 * $HOUR);
is($r->{exit}, 0, '1.11 the same version again');
is(stored(), '0.14.0 ' . ($T0 + 12 * $HOUR), '1.12 updated_at refreshed');
is($r->{out}, '', '1.13 nothing to say when unchanged');

{
	local $ENV{KILN_CRUCIBLE_LATEST} = '0.1.0';
	is(api_latest(), '0.14.0', '1.14 a poll wins over the config value');
}

# --- 2. failures keep the last good value --------------------------------

my $good = '0.14.0 ' . ($T0 + 12 * $HOUR);
my $n = 0;

# One failing poll: non-zero exit, its cause on stderr, nothing changed.
sub fails {
	my ($path, $why, $name, %env) = @_;
	$n++;
	my $r = poll($path, $T0 + 24 * $HOUR, %env);
	ok($r->{exit} != 0, "2.$n.1 $name: exits non-zero")
	    or diag("exit $r->{exit}; out $r->{out}");
	like($r->{err}, $why, "2.$n.2 $name: says why on stderr");
	is(stored(), $good, "2.$n.3 $name: last good value kept");
	is(api_latest(), '0.14.0', "2.$n.4 $name: GET /version unchanged");
	return $r;
}

fails('/status/500', qr/HTTP 500/, 'HTTP 500');
fails('/status/404', qr/HTTP 404/, 'HTTP 404');
$r = fails('/slow/4', qr/[Tt]imeout|timed out/, 'slower than the timeout',
    KILN_NPM_TIMEOUT_SECONDS => 1);
ok($r->{secs} < 3, '2.3.5 gave up at the timeout')
    or diag("took $r->{secs} s");
fails('/raw/%7B%22latest%22%3A', qr/not a JSON object/, 'bad JSON');
fails('/raw/%5B%220.15.0%22%5D', qr/not a JSON object/, 'a JSON array');
fails('/raw/%7B%22next%22%3A%221.0.0%22%7D', qr/no "latest"/,
    'no latest');
fails('/raw/%7B%22latest%22%3A15%7D', qr/no "latest"/, 'latest a number');
fails('/v/1.2', qr/not strict x\.y\.z/, '"1.2"');
fails('/v/1.2.3-beta', qr/not strict x\.y\.z/, '"1.2.3-beta"');
fails('/v/1.2.3+build.5', qr/not strict x\.y\.z/, 'a build suffix');
fails('/v/v1.2.3', qr/not strict x\.y\.z/, 'a "v" prefix');
fails('/v/%201.2.3', qr/not strict x\.y\.z/, 'a leading space');
fails('/v/1.2.3.4', qr/not strict x\.y\.z/, 'four parts');
fails('/v/1..3', qr/not strict x\.y\.z/, 'an empty part');
fails('/v/01.2.3', qr/not strict x\.y\.z/, 'a leading zero');
fails('/v/1234567890.0.0', qr/not strict x\.y\.z/, 'a 10-digit part');
fails('/v/', qr/not strict x\.y\.z/, 'an empty string');
fails('/big', qr/exceeds/, 'a 1 MiB answer');
{
	# A port nothing listens on: bind one, note it, close it.
	require IO::Socket::INET;
	my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
	    LocalPort => 0) or die "socket: $!";
	my $port = $s->sockport;
	close $s;
	fails('/v/0.15.0', qr/127\.0\.0\.1/, 'connection refused',
	    KILN_NPM_REGISTRY_URL => "http://127.0.0.1:$port/v/0.15.0");
}
fails('/v/0.15.0', qr/[Pp]rotocol|[Uu]nsupported|not supported/,
    'a non-HTTP URL', KILN_NPM_REGISTRY_URL => 'file:///etc/passwd');

# --- 3. the largest strict version, then recovery ---------------------------

$r = poll('/v/999999999.999999999.0', $T0 + 30 * $HOUR);
is($r->{exit}, 0, '3.1 nine-digit parts are strict x.y.z') or diag($r->{err});
is(api_latest(), '999999999.999999999.0', '3.2 stored and served');
$r = poll('/v/0.15.1', $T0 + 36 * $HOUR);
is($r->{exit}, 0, '3.3 a good poll after failures');
is(stored(), '0.15.1 ' . ($T0 + 36 * $HOUR), '3.4 stored');
is(api_latest(), '0.15.1', '3.5 served');

# A proxy from the environment is not used: one on a dead port would fail
# the poll (and would see whatever the request carries).
{
	require IO::Socket::INET;
	my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
	    LocalPort => 0) or die "socket: $!";
	my $proxy = 'http://127.0.0.1:' . $s->sockport;
	close $s;
	local @ENV{qw(no_proxy NO_PROXY)};
	delete @ENV{qw(no_proxy NO_PROXY)};
	$r = poll('/v/0.15.2', $T0 + 42 * $HOUR, http_proxy => $proxy,
	    https_proxy => $proxy, HTTPS_PROXY => $proxy, ALL_PROXY => $proxy,
	    all_proxy => $proxy);
	is($r->{exit}, 0, '3.6 a proxy in the environment is not used')
	    or diag($r->{err});
	is(stored(), '0.15.2 ' . ($T0 + 42 * $HOUR), '3.7 the registry answered');
}

done_testing();
