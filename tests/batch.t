#!/usr/bin/perl
# batch: kiln-ingest's FastCGI loop (lib/req.c, lib/fcgi.c), spoken to
# directly (no lighttpd) on a unix socket that is its fd 0: a batch of
# queued pushes answered together, each with its own answer in SPEC 6's
# order; a kept connection (FCGI_KEEP_CONN) closed after its reply;
# SIGTERM while a connection stalls mid-request; the protocol's corners
# (management records, other roles, records split and padded, oversized
# or foreign records); and a connection that stalls with no signal. The
# client, like a slow front end, holds its connections open.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);
use File::Temp qw(tempdir);
use KilnTest;

new_env(rate_ip => 100000, rate_ingest_ip => 1000000,
    rate_server_create => 100000, free_server_quota => 100);
my $bin = bin_dir();
my $VM = fixture('snapshot-debian12-vm.json');
my $tmp = tempdir('kiln-batch-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# One server per push: two pushes of one server in a minute meet the gate.
my $token = register_user('batch@example.com');
my @keys = map { create_server($token)->{server}{api_key} } 1 .. 27;
$ENV{KILN_LOG_LEVEL} = 'debug';		# 1.2 reads the group commit

# --- the process and its client ------------------------------------------

my $main_pid = $$;
my %running;				# pid => 1, for END

# Starts kiln-ingest with a fresh listening socket as its fd 0, the way
# spawn-fcgi and lighttpd do (a unix socket; with tcp, one on 127.0.0.1);
# its stderr goes to $tmp/$name.log.
sub start_ingest {
	my ($name, %o) = @_;
	my $p = { sock => "$tmp/$name.sock", log => "$tmp/$name.log" };
	my $l = $o{tcp} ? IO::Socket::INET->new(LocalAddr => '127.0.0.1',
	    LocalPort => 0, Proto => 'tcp', Listen => 64)
	    : IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $p->{sock},
	    Listen => 64) or die "listen $name: $!";
	$p->{port} = $l->sockport if $o{tcp};
	$p->{pid} = fork // die "fork: $!";
	if ($p->{pid} == 0) {
		open STDIN, '<&', $l or _exit(127);
		open STDOUT, '>', '/dev/null' or _exit(127);
		open STDERR, '>', $p->{log} or _exit(127);
		{ exec "$bin/kiln-ingest" }
		_exit(127);
	}
	$running{$p->{pid}} = 1;
	return $p;
}

# 1 once the process has exited within $secs ($p->{status} its status).
sub exited_within {
	my ($p, $secs) = @_;
	my $end = time + $secs;
	do {
		if (waitpid($p->{pid}, WNOHANG) == $p->{pid}) {
			$p->{status} = $?;
			delete $running{$p->{pid}};
			return 1;
		}
		sleep 0.05;
	} while (time < $end);
	return 0;
}

# Stops it by its PID: SIGTERM, then SIGKILL if it does not go.
sub stop {
	my ($p) = @_;
	return unless $running{$p->{pid}};
	kill 'TERM', $p->{pid};
	return if exited_within($p, 5);
	kill 'KILL', $p->{pid};
	exited_within($p, 5);
}

END {
	if ($$ == $main_pid) {
		local $?;
		for (keys %running) {
			kill 'KILL', $_;
			waitpid $_, 0;
		}
	}
}
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

sub connect_to {
	my ($p) = @_;
	my $s = $p->{port} ? IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $p->{port}, Proto => 'tcp')
	    : IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $p->{sock});
	return $s // die "connect: $!";
}

# A FastCGI record of request 1 (or $id; 0 for a management record).
sub rec {
	my ($type, $content, $id) = @_;
	my $pad = (8 - length($content) % 8) % 8;
	return pack('CCnnCC', 1, $type, $id // 1, length $content, $pad, 0)
	    . $content . "\0" x $pad;
}

sub nv {
	my ($k, $v) = @_;
	return join '', (map { $_ < 128 ? pack('C', $_)
	    : pack('N', $_ | 0x80000000) } length $k, length $v), $k, $v;
}

# The bytes of one push of the fixture (or body) with this key: BEGIN_REQUEST
# (responder, or role; FCGI_KEEP_CONN if keep), PARAMS (and any extra),
# STDIN (in records of at most stdin_chunk bytes), each ended empty.
sub push_bytes {
	my ($key, %o) = @_;
	my $body = $o{body} // $VM;
	my %env = (REQUEST_METHOD => 'POST', REQUEST_URI => '/api/v1/ingest',
	    CONTENT_TYPE => 'application/json',
	    CONTENT_LENGTH => length $body, REMOTE_ADDR => '127.0.0.1',
	    HTTP_AUTHORIZATION => "Bearer $key", %{ $o{env} // {} });
	my $chunk = $o{stdin_chunk} // 65535;
	return rec(1, pack('nCx5', $o{role} // 1, $o{keep} ? 1 : 0))
	    . rec(4, join '', map { nv($_, $env{$_}) } sort keys %env)
	    . rec(4, '')
	    . join('', map { rec(5, substr $body, $_ * $chunk, $chunk) }
		length $body ? 0 .. (length($body) - 1) / $chunk : ())
	    . rec(5, '');
}

# A unix socket takes these few KiB at once.
sub send_all {
	my ($s, $bytes) = @_;
	my $n = syswrite($s, $bytes);
	die "write: $!" unless defined $n && $n == length $bytes;
}

# Waits until $s is readable or $secs have passed; true if readable.
sub readable {
	my ($s, $secs) = @_;
	return 0 if $secs <= 0;
	vec(my $v = '', fileno $s, 1) = 1;
	return select($v, undef, undef, $secs) > 0;
}

# Reads one reply within $secs: the Status of its STDOUT (0 if none),
# or undef if no END_REQUEST came in time or the connection closed.
sub reply {
	my ($s, $secs) = @_;
	my ($end, $buf, $out) = (time + $secs, '', '');
	for (;;) {
		my ($type, $len, $pad) = length $buf >= 8
		    ? unpack('xCxxnC', $buf) : (0, 0, 0);
		if (length $buf >= 8 && length $buf >= 8 + $len + $pad) {
			$out .= substr $buf, 8, $len if $type == 6;
			substr($buf, 0, 8 + $len + $pad) = '';
			return ($out =~ /^Status: (\d+)/m)[0] // 0 if $type == 3;
			next;
		}
		return undef unless readable($s, $end - time)
		    && sysread($s, $buf, 65536, length $buf);
	}
}

# Every record that comes on $s until request 1's END_REQUEST, a
# GET_VALUES_RESULT, the close, or $secs: [type, request id, content] each.
sub records {
	my ($s, $secs) = @_;
	my ($end, $buf, @got) = (time + $secs, '');
	for (;;) {
		while (length $buf >= 8) {
			my ($type, $id, $len, $pad) = unpack('xCnnC', $buf);
			last if length $buf < 8 + $len + $pad;
			push @got, [$type, $id, substr($buf, 8, $len)];
			substr($buf, 0, 8 + $len + $pad) = '';
			return @got if $type == 3 && $id == 1 || $type == 10;
		}
		return @got unless readable($s, $end - time)
		    && sysread($s, $buf, 65536, length $buf);
	}
}

# 1 if the other end closes $s (read gives EOF) within $secs.
sub closed_within {
	my ($s, $secs) = @_;
	my $end = time + $secs;
	while (readable($s, $end - time)) {
		my $n = sysread($s, my $junk, 65536);
		return 1 if defined $n && $n == 0;
	}
	return 0;
}

# --- 1. queued pushes: one commit, every reply at once ----------------------

# All eight connect before any request is sent: the process blocks on
# the first, and the other seven are queued by the time it looks again,
# so they make one batch. Each reply must come while the test still
# holds every connection open: a reply that waits for the previous
# connection's close (libfcgi's 2 s linger) comes 2 s after it.
{
	my $p = start_ingest('batch');
	my @c = map { connect_to($p) } 0 .. 7;
	send_all($c[$_], push_bytes($keys[$_])) for 0 .. 7;
	my $t0 = time;
	my @got = map {
		# The first also waits for the batch to run (slow under ASan).
		my $st = reply($c[$_], $_ ? 1.5 : 10);
		sprintf '%s at %.2f s', $st // 'none', time - $t0;
	} 0 .. 7;
	is(scalar(grep { /^200 / } @got), 8,
	    '1.1 eight queued pushes: each 200 within 1.5 s of the one before')
	    or diag(join "\n", map { "connection $_: $got[$_]" } 0 .. 7);
	my $log = do { local (@ARGV, $/) = $p->{log}; <> } // '';
	my @n = $log =~ /one commit for (\d+) requests/g;
	ok(grep({ $_ > 1 } @n), '1.2 they share one commit')
	    or diag($log);
	close $_ for @c;
	stop($p);
	is($p->{status}, 0, '1.3 SIGTERM then: exit 0 (under make sanitize, '
	    . 'no leak)');
}

# --- 1b. the checks keep their order in a batch ----------------------------

# Each push of a batch gets its own answer, in SPEC 6's order of checks.
# Queued together: a push, broken JSON with a good key (400), broken
# JSON with a key no server has (401, not 400), and another push.
{
	my $p = start_ingest('order');
	my $broken = substr $VM, 0, 100;
	my @c = map { connect_to($p) } 0 .. 3;
	my @send = (push_bytes($keys[13]),
	    push_bytes($keys[14], body => $broken),
	    push_bytes($keys[12] =~ s/.{4}$/AAAA/r, body => $broken),
	    push_bytes($keys[15]));
	send_all($c[$_], $send[$_]) for 0 .. 3;
	my @got = map { reply($c[$_], 10) // 'none' } 0 .. 3;
	is("@got", '200 400 401 200',
	    '1.4 a batch with broken JSON: 200, 400, 401 (bad key first), 200');
	close $_ for @c;
	stop($p);
	is($p->{status}, 0, '1.5 SIGTERM then: exit 0');
}

# --- 2. FCGI_KEEP_CONN is not kept -------------------------------------------

# A slot's next request is accepted from the listening socket: a kept
# connection would leave the front end waiting on it for an answer that
# never comes, so the process closes it after the reply.
{
	my $p = start_ingest('keep');
	my $c = connect_to($p);
	send_all($c, push_bytes($keys[8], keep => 1));
	is(reply($c, 10), 200, '2.1 a push asking FCGI_KEEP_CONN: 200');
	ok(closed_within($c, 3), '2.2 its connection is closed after the reply');
	close $c;
	my $d = connect_to($p);
	send_all($d, push_bytes($keys[9]));
	is(reply($d, 10), 200, '2.3 a new connection afterwards: 200');
	close $d;
	stop($p);
	is($p->{status}, 0, '2.4 SIGTERM then: exit 0');
}

# --- 3. SIGTERM while a connection stalls ------------------------------------

# lighttpd stops its FastCGI children with SIGTERM. A connection that
# stalls in its request (in its first record header, or with the end of
# its body unsent) must not keep the process from stopping: the signal
# interrupts the read, the push already read is answered (after libfcgi's
# 2 s linger on the stalled connection it drops), and the process exits
# 0 (under `make sanitize`, also clean of leaks).
my $cut = push_bytes($keys[12]);
$cut = substr $cut, 0, length($cut) - 100;
for (['3.1', '3.2', 'its first record', "\x01\x01", $keys[10]],
    ['3.3', '3.4', 'its body', $cut, $keys[11]]) {
	my ($n1, $n2, $where, $stall, $key) = @$_;
	my $p = start_ingest("term-$n1");
	my $whole = connect_to($p);
	send_all($whole, push_bytes($key));
	my $stalled = connect_to($p);
	send_all($stalled, $stall);
	sleep 0.5;			# both read as far as they go
	kill 'TERM', $p->{pid};
	is(reply($whole, 5), 200,
	    "$n1 SIGTERM while another stalls in $where: a whole push, 200");
	close $whole;			# as a front end does; $stalled stays
	ok(exited_within($p, 5) && $p->{status} == 0,
	    "$n2 and the process exits 0 within 5 s")
	    or diag('status ' . ($p->{status} // 'none (still running)')
	    . "\n" . (do { local (@ARGV, $/) = $p->{log}; <> } // ''));
	close $stalled;
	stop($p);
}

# --- 4. the protocol's corners ----------------------------------------------

{
	my $p = start_ingest('protocol');

	# FCGI_GET_VALUES (a management record, request id 0) is answered
	# on the connection, and a request may follow it there.
	my $c = connect_to($p);
	send_all($c, rec(9, nv('FCGI_MPXS_CONNS', '') . nv('FCGI_MAX_REQS', '')
	    . nv('NO_SUCH_VARIABLE', ''), 0));
	my ($r) = records($c, 5);
	is_deeply($r && [@$r[0, 1]], [10, 0],
	    '4.1 FCGI_GET_VALUES: a GET_VALUES_RESULT record, request id 0');
	is($r && $r->[2], nv('FCGI_MPXS_CONNS', '0') . nv('FCGI_MAX_REQS', '1'),
	    '4.2 one request per connection, none multiplexed; unknown '
	    . 'names left out');
	send_all($c, rec(9, nv('FCGI_MAX_REQS', '') x 100, 0));
	($r) = records($c, 5);
	is($r && $r->[2], nv('FCGI_MAX_REQS', '1'),
	    '4.2a a name asked for 100 times is answered once');
	send_all($c, push_bytes($keys[16]));
	is(reply($c, 10), 200, '4.3 a push after it, on that connection: 200');
	close $c;

	# Another management type: FCGI_UNKNOWN_TYPE naming it.
	$c = connect_to($p);
	send_all($c, rec(42, 'x' x 5, 0) . push_bytes($keys[17]));
	my @r = records($c, 10);
	is_deeply([map { $_->[0] } @r[0, -1]], [11, 3],
	    '4.4 an unknown management type: FCGI_UNKNOWN_TYPE, then the push');
	is(@r && unpack('C', $r[0][2]), 42, '4.5 it names the type');
	close $c;

	# Kiln is a responder only: an authorizer request is refused with
	# FCGI_UNKNOWN_ROLE and its connection closed.
	$c = connect_to($p);
	send_all($c, push_bytes($keys[18], role => 2));
	@r = records($c, 5);
	is_deeply([map { [$_->[0], unpack('x4C', $_->[2])] } @r], [[3, 3]],
	    '4.6 the authorizer role: END_REQUEST with FCGI_UNKNOWN_ROLE');
	ok(closed_within($c, 3), '4.7 and the connection closed');
	close $c;

	# Four-byte name-value lengths, and a body in many padded records.
	$c = connect_to($p);
	send_all($c, push_bytes($keys[19], stdin_chunk => 333,
	    env => { HTTP_USER_AGENT => 'crucible/0.7.1 ' . 'x' x 1000,
	    "HTTP_X\0Y" => 'no C string', 'HTTP_A=B' => 'no name' }));
	is(reply($c, 10), 200, '4.8 a 1 KB header, names with a NUL or an '
	    . '"=" (left out), the body in 333-byte records: 200');
	# The connection is closed after the reply, without waiting for the
	# front end to close its end first.
	ok(closed_within($c, 1), '4.9 and closed right after the reply');
	close $c;

	# A second BEGIN_REQUEST on the connection: FCGI_CANT_MPX_CONN for
	# it, and the first request goes on.
	$c = connect_to($p);
	my $second = rec(1, pack('nCx5', 1, 0), 2);
	send_all($c, push_bytes($keys[20]) =~ s/^(.{16})/$1$second/sr);
	@r = records($c, 10);
	is_deeply([map { [$_->[0], $_->[1]] } grep { $_->[0] == 3 } @r],
	    [[3, 2], [3, 1]], '4.10 a second request id: refused, the first '
	    . 'answered');
	is(unpack('x4C', $r[0][2]), 1, '4.11 with FCGI_CANT_MPX_CONN');
	close $c;

	# Parameters past 256 KiB, or a record of another protocol
	# version: the connection is dropped, with no reply.
	for (['4.12', 'parameters over 256 KiB', rec(1, pack('nCx5', 1, 0))
	    . join('', map { rec(4, nv("HTTP_X_$_", 'y' x 60000)) } 1 .. 5)],
	    ['4.13', 'a version 2 record', pack('CCnnCC', 2, 1, 1, 8, 0, 0)
	    . pack('nCx5', 1, 0)]) {
		my ($n, $what, $bytes) = @$_;
		local $SIG{PIPE} = 'IGNORE';	# it may close mid-write
		$c = connect_to($p);
		syswrite($c, $bytes);
		ok(!defined reply($c, 5) && closed_within($c, 1),
		    "$n $what: closed, no reply");
		close $c;
	}
	$c = connect_to($p);
	send_all($c, push_bytes($keys[21]));
	is(reply($c, 10), 200, '4.14 and the process serves the next: 200');
	close $c;
	stop($p);
	is($p->{status}, 0, '4.15 SIGTERM then: exit 0');
}

# --- 5. a connection that stalls, with no signal -----------------------------

# A front end that stops half way through a request costs that request,
# not its batch: after fastcgi_timeout_ms the connection is dropped and
# the pushes queued behind it are answered.
{
	local $ENV{KILN_FASTCGI_TIMEOUT_MS} = 1000;
	my $p = start_ingest('stall');
	my $stalled = connect_to($p);
	send_all($stalled, $cut);
	sleep 0.2;			# read first: it heads the batch
	my $whole = connect_to($p);
	send_all($whole, push_bytes($keys[22]));
	my $t0 = time;
	is(reply($whole, 10), 200, '5.1 a push queued behind a stalled one: '
	    . '200');
	my $waited = time - $t0;
	ok($waited < 8, sprintf('5.2 within the timeout, not the test\'s '
	    . 'patience (%.1f s)', $waited));
	ok(closed_within($stalled, 5), '5.3 the stalled connection is closed');
	my $log = do { local (@ARGV, $/) = $p->{log}; <> } // '';
	like($log, qr/stalled for 1000 ms/, '5.4 and the log says why');
	my $next = connect_to($p);
	send_all($next, push_bytes($keys[23]));
	is(reply($next, 10), 200, '5.5 the process goes on serving: 200');
	close $_ for $stalled, $whole, $next;
	stop($p);
	is($p->{status}, 0, '5.6 SIGTERM then: exit 0');
}

# --- 5b. idle, the WAL is cut back ------------------------------------------

# A burst leaves a WAL past 64 MiB (here: one transaction from outside,
# while kiln-ingest holds the database open). SQLite would reuse that
# file but never shrink it; the ingest process, idle for a second,
# checkpoints and truncates it.
{
	my $p = start_ingest('trim');
	my $c = connect_to($p);
	send_all($c, push_bytes($keys[26]));
	is(reply($c, 10), 200, '5b.1 a push: the process has the database open');
	close $c;
	my $wal = "$ENV{KILN_VAR_DIR}/kiln.db-wal";
	sql('PRAGMA wal_autocheckpoint=0; CREATE TABLE burst (b BLOB);'
	    . ' WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1'
	    . ' FROM n WHERE i < 72) INSERT INTO burst'
	    . ' SELECT zeroblob(1048576) FROM n');
	my $peak = -s $wal // 0;
	ok($peak > 72 * 1048576, "5b.2 a burst from outside: a WAL of $peak "
	    . 'bytes');
	# The log line follows the truncation: wait for both.
	my ($end, $log) = (time + 15, '');
	until (time > $end || (-s $wal // 0) <= 64 * 1048576
	    && $log =~ /WAL of \d+ bytes checkpointed and truncated/) {
		sleep 0.2;
		$log = do { local (@ARGV, $/) = $p->{log}; <> } // '';
	}
	is(-s $wal, 0, '5b.3 the idle process checkpoints and truncates it');
	like($log, qr/WAL of \d+ bytes checkpointed and truncated/,
	    '5b.4 and says so');
	sql('DROP TABLE burst');
	stop($p);
	is($p->{status}, 0, '5b.5 SIGTERM then: exit 0');
}

# --- 6. over TCP: FCGI_WEB_SERVER_ADDRS -----------------------------------

# Served over TCP (spawn-fcgi -a/-p), the process takes connections only
# from the addresses FCGI_WEB_SERVER_ADDRS lists, when it is set.
for (['6.1', '127.0.0.2, 127.0.0.3', undef, 'not listed: closed, no reply'],
    ['6.2', '127.0.0.9,127.0.0.1', 200, 'listed: 200']) {
	my ($n, $addrs, $want, $what) = @$_;
	local $ENV{FCGI_WEB_SERVER_ADDRS} = $addrs;
	my $p = start_ingest("tcp-$n", tcp => 1);
	my $c = connect_to($p);
	send_all($c, push_bytes($keys[$n eq '6.1' ? 24 : 25]));
	is(reply($c, 5), $want, "$n FCGI_WEB_SERVER_ADDRS $addrs, "
	    . "from 127.0.0.1: $what");
	close $c;
	stop($p);
}

done_testing();
