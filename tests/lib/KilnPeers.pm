# KilnPeers: the loopback peers of the notification tests (the Python
# scripts in tests/peers/), started on free 127.0.0.1 ports chosen by the
# kernel and stopped when the test ends, however it ends.
package KilnPeers;
use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

our @EXPORT = qw(start_http_stub start_smtp_stub stop_peer records
    stub_rule stub_reset closed_port wait_for);

my $peers = abs_path(dirname(__FILE__) . '/../peers');
my $dir = tempdir('kiln-peers-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my %running;	# pid => 1
my $n = 0;

# Starts tests/peers/$script with --port-file and --log; returns
# { pid, port, log, url }.
sub start_peer {
	my ($script, @args) = @_;
	my $id = $n++;
	my %p = (log => "$dir/$id.log", portfile => "$dir/$id.port");
	open my $touch, '>', $p{log} or die "$p{log}: $!";
	close $touch;
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		open STDOUT, '>>', "$dir/$id.out";
		open STDERR, '>>', "$dir/$id.out";
		{ exec 'python3', "$peers/$script", '--port-file',
		    $p{portfile}, '--log', $p{log}, @args };
		POSIX::_exit(127);
	}
	$running{$pid} = 1;
	$p{pid} = $pid;
	for (1 .. 200) {
		last if -s $p{portfile};
		die "$script exited: " . slurp("$dir/$id.out")
		    if waitpid($pid, WNOHANG) == $pid;
		sleep 0.05;
	}
	die "$script did not start" unless -s $p{portfile};
	$p{port} = slurp($p{portfile});
	$p{url} = "http://127.0.0.1:$p{port}";
	return \%p;
}

sub start_http_stub { start_peer('http_stub.py', @_) }
sub start_smtp_stub { start_peer('smtp_stub.py', @_) }

sub stop_peer {
	my ($p) = @_;
	return unless $running{$p->{pid}};
	kill 'TERM', $p->{pid};
	waitpid $p->{pid}, 0;
	delete $running{$p->{pid}};
}

sub slurp {
	my ($f) = @_;
	open my $fh, '<', $f or return '';
	local $/;
	return scalar(<$fh>) // '';
}

# The requests (HTTP) or messages (SMTP) a peer recorded, oldest first;
# with $path, only the HTTP requests under it.
sub records {
	my ($p, $path) = @_;
	my @r = map { decode_json($_) } grep { length } split /\n/,
	    slurp($p->{log});
	@r = grep { index($_->{path}, $path) == 0 } @r if defined $path;
	return \@r;
}

# Tells the HTTP stub how to answer under a path prefix.
sub stub_rule {
	my ($p, %rule) = @_;
	my $r = HTTP::Tiny->new(timeout => 5)->post("$p->{url}/__control",
	    { content => encode_json(\%rule) });
	die "stub control: $r->{status}" unless $r->{success};
}

sub stub_reset {
	my ($p) = @_;
	HTTP::Tiny->new(timeout => 5)->post("$p->{url}/__reset");
}

# A loopback port nothing listens on (a receiver that is down).
sub closed_port {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
	    Proto => 'tcp', Listen => 1) or die "bind: $!";
	my $port = $s->sockport;
	close $s;
	return $port;
}

# Polls $cond every 50 ms for up to $secs seconds; returns its last value.
sub wait_for {
	my ($secs, $cond) = @_;
	my $v;
	for (1 .. $secs * 20) {
		last if $v = $cond->();
		sleep 0.05;
	}
	return $v;
}

END {
	my $status = $?;
	for my $pid (keys %running) {
		kill 'TERM', $pid;
		waitpid $pid, 0;
	}
	$? = $status;
}

1;
