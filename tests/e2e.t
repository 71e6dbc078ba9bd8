#!/usr/bin/perl
# e2e: the API through a real lighttpd on a free loopback port, with the
# configuration generated from routes/table: routing, the errors
# lighttpd answers itself, and eight clients at once.
use strict;
use warnings;
use FindBin;
use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);
use Test::More;
use lib "$FindBin::Bin/lib";
use KilnPeers;

my $root = abs_path("$FindBin::Bin/..");
my $bin = $ENV{KILN_BIN} || "$root/bin";
my $build = $ENV{KILN_BUILD} || "$root/build";
my $main_pid = $$;
my $CLIENTS = 8;

my ($lighttpd) = grep { -x } map { "$_/lighttpd" }
    split(/:/, $ENV{PATH} || ''), '/usr/sbin', '/sbin';
plan skip_all => 'lighttpd is not installed' unless $lighttpd;
die "no $build/lighttpd.conf: run make all\n" unless -r "$build/lighttpd.conf";

# --- the server ------------------------------------------------------------

# KILN_ROOT is a directory of its own so bin/ can be KILN_BIN (the
# sanitizer build lives in build/san/bin) under the generated config.
my $tmp = tempdir('kiln-e2e-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$tmp/$_" or die "mkdir $tmp/$_: $!" for qw(root var var/run);
symlink $bin, "$tmp/root/bin" or die "symlink: $!";
symlink "$root/www", "$tmp/root/www" if -d "$root/www";

my $port = do {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
	    Proto => 'tcp', Listen => 1, ReuseAddr => 1) or die "bind: $!";
	$s->sockport;
};
my $base = "http://127.0.0.1:$port";

delete $ENV{$_} for grep { /^KILN_/ && !/^KILN_(BIN|BUILD|TEST_\w+)$/ } keys %ENV;
%ENV = (%ENV,
    KILN_ROOT => "$tmp/root",
    KILN_VAR_DIR => "$tmp/var",
    KILN_CONFIG => '/dev/null',
    KILN_LISTEN => '127.0.0.1',
    KILN_PORT => $port,
    KILN_KEY_PEPPER => 'e2e-pepper',
    KILN_BASE_URL => $base,
    KILN_RATE_REGISTER => 1000,
    KILN_RATE_IP => 100000,
    KILN_ALLOW_HTTP => 'yes',		# channels send to a loopback stub
    KILN_ALLOW_PRIVATE_TARGETS => 'yes',
    KILN_LOG_LEVEL => 'debug',		# 5b reads the group commits
);

my $out = `'$bin/kiln-migrate' 2>&1`;
die "kiln-migrate failed: $out" if $?;

my $log = "$tmp/lighttpd.log";
my $server_pid;

sub server_log {
	open my $fh, '<', $log or return '';
	local $/;
	return scalar <$fh>;
}

# Stops lighttpd by its PID (it stops its FastCGI children); 1 if it went.
sub stop_server {
	return 1 unless $server_pid;
	kill 'TERM', $server_pid;
	for (1 .. 200) {
		if (waitpid($server_pid, WNOHANG) == $server_pid) {
			undef $server_pid;
			return 1;
		}
		sleep 0.05;
	}
	kill 'KILL', $server_pid;
	waitpid $server_pid, 0;
	undef $server_pid;
	return 0;
}

END {
	if ($$ == $main_pid && $server_pid) {
		local $?;
		stop_server();
	}
}
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

$server_pid = fork // die "fork: $!";
if ($server_pid == 0) {
	open STDIN, '<', '/dev/null';
	open STDOUT, '>', $log or _exit(127);
	open STDERR, '>&', \*STDOUT or _exit(127);
	{ exec $lighttpd, '-D', '-f', "$build/lighttpd.conf" }
	_exit(127);
}

my $up = 0;
for (1 .. 300) {
	if (waitpid($server_pid, WNOHANG) == $server_pid) {
		undef $server_pid;
		last;
	}
	if (IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	    Proto => 'tcp')) {
		$up = 1;
		last;
	}
	sleep 0.05;
}
ok($up, '1.1 lighttpd answers on 127.0.0.1') or
    BAIL_OUT("lighttpd did not start:\n" . server_log());

# --- clients ---------------------------------------------------------------

my $http = HTTP::Tiny->new(timeout => 30);

# One request; returns { status, headers (lower case), raw, json }.
sub api {
	my ($method, $path, %o) = @_;
	my %h = %{ $o{headers} || {} };
	my %arg = (headers => \%h);

	$h{Authorization} = "Bearer $o{token}" if defined $o{token};
	if (exists $o{body}) {
		$arg{content} = ref $o{body} ? encode_json($o{body}) : $o{body};
		$h{'Content-Type'} //= 'application/json';
	}
	my $res = $http->request($method, "$base$path", \%arg);
	my $raw = $res->{content} // '';
	my $json = length $raw ? eval { decode_json($raw) } : undef;
	return { status => $res->{status}, headers => $res->{headers},
	    raw => $raw, json => $json };
}

# Sends text as is on a fresh connection and reads to EOF (10 s at most).
sub raw_http {
	my ($text) = @_;
	local $SIG{PIPE} = 'IGNORE';
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port, Proto => 'tcp') or return { status => 0 };
	my $sel = IO::Select->new($s);
	my ($buf, $end) = ('', time + 10);

	syswrite $s, $text;
	while (time < $end && $sel->can_read($end - time)) {
		my $n = sysread $s, my $chunk, 65536;
		last unless $n;
		$buf .= $chunk;
	}
	my ($head, $body) = split /\r\n\r\n/, $buf, 2;
	my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d{3})};
	my %h;
	for (split /\r\n/, $head // '') {
		my ($k, $v) = split /:\s*/, $_, 2;
		$h{lc $k} = $v if defined $v;
	}
	my $json = eval { decode_json($body // '') };
	return { status => $status // 0, headers => \%h, raw => $body,
	    json => $json };
}

# A failed check prints what came back.
sub show { diag("$_[0]{status} $_[0]{raw}") }

sub is_envelope {
	my ($r, $status, $code, $name) = @_;
	my $ok = $r->{status} == $status && ref $r->{json} eq 'HASH' &&
	    ($r->{json}{error} // '') eq $code &&
	    length($r->{json}{message} // '') > 0 &&
	    ($r->{headers}{'content-type'} // '') =~ m{^application/json\b};
	ok($ok, $name) or show($r);
}

# --- 2. one user's life ---------------------------------------------------

my $r = api('POST', '/api/v1/auth/register', body => { email =>
    'Alice@Example.COM', password => 'correct horse battery',
    name => 'Alice' });
is($r->{status}, 201, '2.1 register 201') or show($r);
like($r->{json}{user}{id} // '', qr/^usr_[0-9a-f]{16,}$/, '2.2 user id');
is($r->{json}{user}{email}, 'alice@example.com', '2.3 email lower-cased');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    '2.4 content type');
is($r->{headers}{'x-content-type-options'}, 'nosniff', '2.5 nosniff');

$r = api('POST', '/api/v1/auth/login', body => { email => 'alice@example.com',
    password => 'correct horse battery' });
is($r->{status}, 200, '2.6 login 200') or show($r);
my $token = $r->{json}{token} // '';
ok(length $token >= 32, '2.7 session token');
like($r->{json}{expires_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    '2.8 expires_at ISO 8601');

$r = api('GET', '/api/v1/auth/me', token => $token);
is($r->{status}, 200, '2.9 me 200') or show($r);
is($r->{json}{email}, 'alice@example.com', '2.10 me email');
is($r->{json}{plan}, 'free', '2.11 me plan');
is($r->{json}{role}, 'owner', '2.12 me role');
is($r->{json}{servers_count}, 0, '2.13 me servers_count');
is($r->{headers}{'cache-control'}, 'no-store', '2.14 no-store');

$r = api('POST', '/api/v1/servers', token => $token,
    body => { name => 'web-1', tags => ['prod'], status => 'suspended' });
is($r->{status}, 201, '2.15 create server 201') or show($r);
my $srv = $r->{json}{server} || {};
my $sid = $srv->{id} // '';
like($sid, qr/^srv_[0-9a-f]{16,}$/, '2.16 server id');
is($srv->{hostname}, 'web-1', '2.17 hostname defaults to name');
like($srv->{api_key} // '', qr/^gmk_cru_live_[0-9A-Za-z]{43}_[0-9A-Za-z]{4}$/,
    '2.18 collector key shown once');
is($r->{json}{ingest_url}, "$base/api/v1/ingest", '2.19 ingest_url');

$r = api('GET', '/api/v1/servers', token => $token);
is($r->{status}, 200, '2.20 list 200') or show($r);
is(scalar @{ $r->{json}{servers} || [] }, 1, '2.21 one server listed');
is($r->{json}{servers}[0]{id}, $sid, '2.22 it is ours');
is($r->{json}{servers}[0]{status}, 'active', '2.23 status not settable');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor},
    '2.24 next_cursor null');

$r = api('GET', "/api/v1/servers/$sid", token => $token);
is($r->{status}, 200, '2.25 get 200') or show($r);
is_deeply($r->{json}{tags}, ['prod'], '2.26 tags');
ok(exists $r->{json}{config_overrides}, '2.27 detail has config_overrides');
ok(defined $r->{json}{free_analysis_used} &&
    !$r->{json}{free_analysis_used}, '2.28 free_analysis_used false');

$r = api('PATCH', "/api/v1/servers/$sid", token => $token,
    body => { name => 'web-2', tags => ['prod', 'eu'] });
is($r->{status}, 200, '2.29 patch 200') or show($r);
is($r->{json}{name}, 'web-2', '2.30 renamed');
is($r->{json}{hostname}, 'web-1', '2.31 hostname kept');
is_deeply($r->{json}{tags}, ['prod', 'eu'], '2.32 tags replaced');

$r = api('POST', "/api/v1/servers/$sid/rotate-key", token => $token);
is($r->{status}, 200, '2.33 rotate-key 200') or show($r);
like($r->{json}{collector_key} // '', qr/^gmk_cru_live_/, '2.34 new key');
isnt($r->{json}{collector_key}, $srv->{api_key}, '2.35 a different key');
like($r->{json}{rotated_at} // '', qr/Z$/, '2.36 rotated_at');

$r = api('DELETE', "/api/v1/servers/$sid", token => $token);
is_envelope($r, 400, 'confirmation_required', '2.37 delete needs confirm');
$r = api('DELETE', "/api/v1/servers/$sid?confirm=true", token => $token);
is($r->{status}, 200, '2.38 delete 200') or show($r);
is($r->{json}{deleted}, $sid, '2.39 deleted id');
$r = api('GET', "/api/v1/servers/$sid", token => $token);
is_envelope($r, 404, 'not_found', '2.40 deleted server is gone');

# --- 3. routing ------------------------------------------------------------

$r = api('GET', '/api/v1/no/such/thing');
is_envelope($r, 404, 'not_found', '3.1 unknown path 404 envelope');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    '3.2 with the JSON content type');
# Unauthenticated: the servers/auth binaries would answer 401 here.
$r = api('GET', '/api/v1/serversX');
is_envelope($r, 404, 'not_found', '3.3 /serversX is not /servers');
$r = api('GET', '/api/v1/authX/me');
is_envelope($r, 404, 'not_found', '3.4 /authX/me is not /auth');
$r = api('GET', "/api/v1/servers/srv_0123456789abcdef0123/health",
    token => $token);
is_envelope($r, 404, 'not_found', '3.5 /servers/ID/health of none: 404');
$r = api('GET', '/api/v1/servers?limit=abc', token => $token);
is_envelope($r, 400, 'invalid_limit', '3.6 query string reaches the binary');
$r = api('GET', '/api/v1/servers?limit=1', token => $token);
is($r->{status}, 200, '3.7 a good query string passes') or show($r);
$r = api('GET', '/api/v1/version', headers => { 'X-Request-Id' => 'e2e-42' });
is($r->{status}, 200, '3.8 version 200') or show($r);
is($r->{headers}{'x-request-id'}, 'e2e-42', '3.9 X-Request-Id echoed');
$r = api('GET', '/api/v1/healthz');
like($r->{headers}{'x-request-id'} // '', qr/^req_[0-9a-f]+$/,
    '3.10 X-Request-Id generated');
$r = api('PUT', '/api/v1/servers', token => $token, body => {});
is_envelope($r, 405, 'method_not_allowed', '3.11 405 through lighttpd');
is($r->{headers}{allow}, 'GET, POST', '3.12 Allow header');
$r = api('GET', "/api/v1/servers/srv_0123456789abcdef0123/nonsense",
    token => $token);
is_envelope($r, 404, 'not_found', '3.13 /servers/ID/nonsense 404');

# A channel test sends synchronously (up to the connect and total
# timeouts): one slow receiver must not hold up every channel request.
{
	my $stub = start_http_stub();
	system("'$bin/kiln-admin' plan alice\@example.com pro >/dev/null 2>&1");
	stub_rule($stub, path => '/slow', sleep => 3);
	$r = api('POST', '/api/v1/channels', token => $token, body => {
	    name => 'slow', type => 'webhook',
	    config => { url => "$stub->{url}/slow" } });
	is($r->{status}, 201, '3.14 a channel to a slow receiver') or show($r);
	my $id = $r->{json}{channel}{id} // 'none';
	my $kid = fork // die "fork: $!";
	if ($kid == 0) {
		api('POST', "/api/v1/channels/$id/test", token => $token);
		_exit(0);
	}
	sleep 0.5;
	my $t = time;
	$r = api('GET', '/api/v1/channels', token => $token);
	my $took = time - $t;
	is($r->{status}, 200, '3.15 channels answer during a slow test')
	    or show($r);
	ok($took < 1.5, '3.16 without waiting for it')
	    or diag(sprintf 'took %.1f s', $took);
	waitpid $kid, 0;
	stop_peer($stub);
}

# The reply reaches the client before the audit row is written: with the
# main database locked by another writer, the answer does not wait.
{
	my $var = $ENV{KILN_VAR_DIR};
	unlink "$var/locked";
	open(my $w, '|-', 'sqlite3', "$var/kiln.db") or die "sqlite3: $!";
	print $w ".timeout 5000\nBEGIN IMMEDIATE;\n"
	    . ".shell touch '$var/locked'\n.shell sleep 2\nCOMMIT;\n";
	$w->flush;
	my $t = time;
	sleep 0.02 until -e "$var/locked" || time > $t + 5;
	$t = time;
	$r = api('GET', '/api/v1/servers', token => $token);
	my $took = time - $t;
	close $w;
	is($r->{status}, 200, '3.17 an audited request while the database '
	    . 'is locked') or show($r);
	ok($took < 1, '3.18 is answered without waiting for its audit row')
	    or diag(sprintf 'took %.1f s', $took);
}

# --- 4. errors lighttpd answers, or the body cap -------------------------

# Over server.max-request-size (1 MiB): lighttpd refuses on the header.
$r = raw_http("POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    . "X-Request-Id: e2e-413\r\nContent-Type: application/json\r\n"
    . "Content-Length: " . (1024 * 1024 + 4096) . "\r\n"
    . "Connection: close\r\n\r\n{");
is_envelope($r, 413, 'payload_too_large', '4.1 over 1 MiB: 413 envelope');
is($r->{headers}{'x-request-id'}, 'e2e-413', '4.2 request id kept');

# Under lighttpd's cap, over the binary's (64 KiB): the binary drains it
# and its connection stays usable.
$r = api('POST', '/api/v1/auth/login',
    body => '{"email":"' . ('a' x (200 * 1024)) . '"}');
is_envelope($r, 413, 'payload_too_large', '4.3 over 64 KiB: 413 envelope');
for my $i (1 .. 3) {
	$r = api('GET', '/api/v1/auth/me', token => $token);
	is($r->{status}, 200, "4.4.$i the auth binary still answers")
	    or show($r);
}

$r = raw_http("POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    . "Content-Type: application/json\r\nConnection: close\r\n\r\n");
is_envelope($r, 411, 'length_required', '4.5 no Content-Length: 411');

$r = raw_http("GET /api/v1/version HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    . "X-Big: " . ('x' x 20000) . "\r\nConnection: close\r\n\r\n");
is_envelope($r, 431, 'headers_too_large', '4.6 huge header: 431');

# Requests lighttpd can't parse reach its error handler without a URI.
$r = raw_http("GET /api/v1/version HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    . "Bad Header\r\nConnection: close\r\n\r\n");
is_envelope($r, 400, 'bad_request', '4.7 malformed header: 400 envelope');
$r = raw_http("GET /api/v1/version HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    . "Transfer-Encoding: gzip\r\nConnection: close\r\n\r\n");
is_envelope($r, 501, 'internal_error', '4.8 unknown transfer coding: envelope');

# --- 5. eight clients at once ---------------------------------------------

# Each client reports every step as "step status bodyflag" lines, where
# bodyflag says the body mentioned a locked database.
my $results = "$tmp/clients";
mkdir $results or die "mkdir: $!";
pipe(my $gate_r, my $gate_w) or die "pipe: $!";
my @kids;
for my $c (1 .. $CLIENTS) {
	my $pid = fork // die "fork: $!";
	if ($pid) {
		push @kids, $pid;
		next;
	}
	close $gate_w;
	$http = HTTP::Tiny->new(timeout => 30);
	my @log;
	my $step = sub {
		my ($name, $res) = @_;
		my $locked = $res->{raw} =~ /database is locked/i ? 1 : 0;
		push @log, "$name $res->{status} $locked";
		return $res;
	};
	<$gate_r>;	# everyone starts when the parent closes the pipe
	my $email = "client$c\@example.com";
	my $x = $step->('register', api('POST', '/api/v1/auth/register',
	    body => { email => $email, password => 'correct horse battery',
	    name => "Client $c" }));
	my $tok = $x->{json}{token} // 'none';
	$step->('me', api('GET', '/api/v1/auth/me', token => $tok));
	my @ids;
	for my $n (1 .. 4) {
		$x = $step->("create$n", api('POST', '/api/v1/servers',
		    token => $tok, headers => { 'Idempotency-Key' => "c$c-$n" },
		    body => { name => "c$c-web-$n", tags => ["c$c"] }));
		push @ids, $x->{json}{server}{id} if $x->{status} == 201;
	}
	$step->('list', api('GET', '/api/v1/servers', token => $tok));
	for my $n (1 .. 5) {
		$step->("rotate$n", api('POST', "/api/v1/servers/" .
		    ($ids[0] // 'none') . "/rotate-key", token => $tok));
	}
	$step->("get$_", api('GET', "/api/v1/servers/$ids[$_ - 1]",
	    token => $tok)) for grep { $ids[$_ - 1] } 1 .. 3;
	open my $fh, '>', "$results/$c" or _exit(2);
	print $fh "token $tok\n", map { "$_\n" } @log;
	close $fh or _exit(2);
	_exit(0);
}
close $gate_r;
my $t0 = time;
close $gate_w;
my $bad_exit = 0;
for (@kids) {
	waitpid $_, 0;
	$bad_exit++ if $?;
}
is($bad_exit, 0, '5.1 every client finished');
diag(sprintf "%d clients took %.1f s", $CLIENTS, time - $t0)
    if $ENV{KILN_TEST_VERBOSE};

my %want = (register => 201, me => 200, create1 => 201, create2 => 201,
    create3 => 201, create4 => 402, list => 200, get1 => 200, get2 => 200,
    get3 => 200, map { ("rotate$_" => 200) } 1 .. 5);
my ($steps, $fivexx, $locked, @wrong, %tokens) = (0, 0, 0);
for my $c (1 .. $CLIENTS) {
	open my $fh, '<', "$results/$c" or next;
	while (<$fh>) {
		my ($name, $status, $lock) = split;
		if ($name eq 'token') {
			$tokens{$c} = $status;
			next;
		}
		$steps++;
		$fivexx++ if $status >= 500;
		$locked += $lock;
		push @wrong, "client $c $name: $status"
		    if $status != ($want{$name} // 0);
	}
}
is($steps, $CLIENTS * 15, '5.2 every step reported');
is($fivexx, 0, '5.3 no 5xx under concurrency');
is($locked, 0, '5.4 no "database is locked" body');
is(scalar @wrong, 0, '5.5 every status as expected') or diag(join "\n", @wrong);
for my $c (1 .. $CLIENTS) {
	$r = api('GET', "/api/v1/servers?tag=c$c", token => $tokens{$c} // 'x');
	my @names = sort map { $_->{name} } @{ $r->{json}{servers} || [] };
	is_deeply(\@names, [map { "c$c-web-$_" } 1 .. 3],
	    "5.6.$c client $c lists exactly its 3 servers") or show($r);
}
$r = api('GET', '/api/v1/servers', token => $tokens{1} // 'x');
is(scalar @{ $r->{json}{servers} || [] }, 3, '5.7 no other account leaks in');

# --- 5b. pushes that arrive together share a commit ------------------------

# 22 agents push at once: 18 servers once, two of them twice, two with
# broken JSON. The ingest process gathers what is queued into one
# transaction; each agent must still get its own answer, exactly as
# alone.
{
	my $out = `'$bin/kiln-admin' plan client1\@example.com pro 2>&1`;
	is($?, 0, '5b.1 client 1 on pro') or diag($out);
	my (@keys, @ids);
	for my $n (1 .. 20) {
		$r = api('POST', '/api/v1/servers', token => $tokens{1} // 'x',
		    body => { name => "push-$n" });
		push @keys, $r->{json}{server}{api_key} // 'none';
		push @ids, $r->{json}{server}{id} // 'none';
	}
	is(scalar(grep { /^gmk_/ } @keys), 20, '5b.2 twenty servers');
	open my $fh, '<', "$root/tests/fixtures/snapshot-debian12-vm.json"
	    or die "fixture: $!";
	my $snapshot = do { local $/; <$fh> };
	close $fh;
	# [server index, body]
	my @pushes = ((map { [$_, $snapshot] } 0 .. 17),
	    [18, '{"system":'], [19, '{"system":{}, "cpu":'],
	    [0, $snapshot], [1, $snapshot]);
	my $dir = "$tmp/pushes";
	mkdir $dir or die "mkdir: $!";
	pipe(my $go_r, my $go_w) or die "pipe: $!";
	my @pids;
	for my $i (0 .. $#pushes) {
		my $pid = fork // die "fork: $!";
		if ($pid) {
			push @pids, $pid;
			next;
		}
		close $go_w;
		$http = HTTP::Tiny->new(timeout => 30);
		<$go_r>;
		my $x = api('POST', '/api/v1/ingest',
		    token => $keys[$pushes[$i][0]], body => $pushes[$i][1]);
		open my $o, '>', "$dir/$i" or _exit(2);
		print $o encode_json({ status => $x->{status},
		    json => $x->{json} // {} });
		close $o or _exit(2);
		_exit(0);
	}
	close $go_r;
	close $go_w;
	my $died = 0;
	for (@pids) {
		waitpid $_, 0;
		$died++ if $?;
	}
	is($died, 0, '5b.3 every agent got an answer');
	my (@res, %by_server);
	for my $i (0 .. $#pushes) {
		open my $in, '<', "$dir/$i" or next;
		$res[$i] = decode_json(do { local $/; <$in> });
		push @{ $by_server{$pushes[$i][0]} }, $res[$i]{status};
	}
	my @lone = grep { $_->{status} == 200 } @res[2 .. 17];
	is(scalar @lone, 16, '5b.4 each server pushed once: 200');
	my %new = map { ($_->{json}{new_alerts} // 'none') => 1 } @lone;
	ok(keys %new == 1 && (keys %new)[0] =~ /^[1-9]/ &&
	    !grep({ ($_->{json}{active_alerts} // -1) !=
	    $_->{json}{new_alerts} } @lone),
	    '5b.5 each answer counts its own server\'s alerts, not the batch\'s')
	    or diag(encode_json(\@lone));
	for my $s (0, 1) {
		is_deeply([sort { $a <=> $b } @{ $by_server{$s} || [] }],
		    [200, 429], "5b.6.$s server pushed twice at once: one 200, "
		    . "one 429");
	}
	ok(($res[18]{status} // 0) == 400 && ($res[19]{status} // 0) == 400 &&
	    ($res[18]{json}{error} // '') eq 'invalid_json',
	    '5b.7 broken JSON in the crowd: its own 400');
	my $in = join ',', map { "'$_'" } @ids;
	my $rows = `sqlite3 '$tmp/var/kiln.db' "SELECT s.public_id, count(r.id)
	    FROM server s LEFT JOIN snapshot_raw r ON r.server_id = s.id
	    WHERE s.public_id IN ($in) GROUP BY s.id"`;
	my %stored = map { split /\|/ } split /\n/, $rows;
	is_deeply([map { $stored{$_} // 'missing' } @ids],
	    [(1) x 18, 0, 0], '5b.8 one snapshot stored per accepted push');
	my @commits = server_log() =~ /one commit for (\d+) requests/g;
	ok(@commits > 0, '5b.9 pushes were committed together (batches: '
	    . join(' ', @commits) . ')');
}

# --- 6. the WAL, the server log and shutdown -----------------------------

# Every request takes from rate buckets, in the fixed-size table of
# rate.shm: it must not grow. (Requests no longer write rate.db, whose
# WAL this section once watched; unit tests 14.x watch the main WAL.)
my $bad = 0;
my $shm = -s "$tmp/var/rate.shm" // 0;
for (1 .. 2000) {
	$bad++ if api('GET', '/api/v1/healthz')->{status} != 200;
}
is($bad, 0, '6.1 2000 requests answered');
ok($shm > 0 && (-s "$tmp/var/rate.shm" // 0) == $shm,
    '6.2 the rate table keeps its size');

sub cmdline {
	open my $fh, '<', "$_[0]/cmdline" or return '';
	local $/;
	return <$fh> // '';
}

my $text = server_log();
unlike($text, qr/AddressSanitizer|LeakSanitizer|runtime error:/,
    '6.3 no sanitizer report') or diag($text);
unlike($text, qr/database is locked/i, '6.4 no locked database logged');
unlike($text, qr/child (exited|signaled)/, '6.5 no backend died')
    or diag($text);
ok(stop_server(), '6.6 lighttpd stops on SIGTERM');
my @left;
for (1 .. 100) {
	@left = grep { index(cmdline($_), "$tmp/") >= 0 } glob '/proc/[0-9]*';
	last unless @left;
	sleep 0.05;
}
is(scalar @left, 0, '6.7 no FastCGI process left behind')
    or diag("left: @left");

done_testing();
