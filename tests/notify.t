#!/usr/bin/perl
# notify: the delivery job kiln-cron-notify against real peers on
# loopback (tests/peers/: an HTTP stub for Telegram, Slack, Discord,
# PagerDuty and signed webhooks, and an SMTP server). Alerts are real:
# the fixture snapshot pushed through kiln-ingest. Time is KILN_FAKE_NOW,
# stepped to exercise the backoff, Retry-After and the lease of a
# delivery whose sender was killed mid-send.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use KilnTest;
use KilnPeers;

my $http = start_http_stub();
my $smtp = start_smtp_stub();
my $H = $http->{url};
new_env(rate_ip => 100000, allow_http => 'yes', allow_private_targets => 'yes',
    telegram_api_base => "$H/tg", pagerduty_events_url => "$H/pd/enqueue",
    smtp_url => "smtp://127.0.0.1:$smtp->{port}",
    mail_from => 'alerts@kiln.test');

my $T0 = 1779444000;		# 2026-05-22T10:00:00Z
my $LEASE = 70;			# notify_timeout (10) + 60
my @OTHER_RULES = qw(pending_security_updates unattended_upgrades_disabled
    ntp_not_synced kernel_vulnerabilities);
my @FIXTURE_RULES = sort(@OTHER_RULES, 'no_firewall');
my @bad_exits;

sub at { $ENV{KILN_FAKE_NOW} = $_[0] }

# One run of kiln-cron-notify at the current fake time; %env adds to
# the environment. Returns { exit, out, err, secs }.
sub notify {
	my (%env) = @_;
	my $dir = $ENV{KILN_VAR_DIR};
	local %ENV = (%ENV, %env);
	my $t = time;
	system(bin_dir() . "/kiln-cron-notify >'$dir/n.out' 2>'$dir/n.err'");
	my %r = (exit => $? >> 8 | $? & 127, secs => time - $t);
	for my $k (qw(out err)) {
		open my $fh, '<', "$dir/n.$k" or die "$dir/n.$k: $!";
		local $/;
		$r{$k} = <$fh> // '';
	}
	push @bad_exits, "kiln-cron-notify: exit $r{exit}\n$r{err}"
	    if $r{exit} != 0;
	return \%r;
}

# Starts kiln-cron-notify with @args in the background; returns its pid.
sub notify_bg {
	my (@args) = @_;
	my $dir = $ENV{KILN_VAR_DIR};
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		open STDOUT, '>', "$dir/bg.out";
		open STDERR, '>', "$dir/bg.err";
		{ exec bin_dir() . '/kiln-cron-notify', @args };
		POSIX::_exit(127);
	}
	return $pid;
}

sub route {
	my ($bin, $method, $uri, %o) = @_;
	my $r = cgi($bin, $method, $uri, %o);
	push @bad_exits, "$bin $method $uri: exit $r->{exit}\n$r->{stderr}"
	    if $r->{exit} != 0;
	return $r;
}

sub channel {
	my ($token, $body) = @_;
	my $r = route('channels', 'POST', '/api/v1/channels', token => $token,
	    body => $body);
	die "channel: $r->{status} $r->{raw}" unless $r->{status} == 201;
	return $r->{json}{channel}{id};
}

sub push_snapshot {
	my ($server, $body) = @_;
	my $r = route('ingest', 'POST', '/api/v1/ingest',
	    token => $server->{api_key},
	    body => $body // fixture('snapshot-debian12-vm.json'));
	die "ingest: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return $r->{json};
}

# An account with one webhook channel to $url and one server whose only
# alert is no_firewall (the other four fixture rules muted), pushed now.
my $nscen = 0;
sub scenario {
	my ($url) = @_;
	my $email = 'scenario' . $nscen++ . '@example.com';
	my $token = register_user($email);
	admin('plan', $email, 'pro');
	my $ch = channel($token, { name => 'hook', type => 'webhook',
	    config => { url => $url } });
	my $srv = create_server($token, name => "srv-$nscen")->{server};
	my $r = route('alerts', 'PUT', "/api/v1/servers/$srv->{id}/mutes",
	    token => $token, body => { muted_rules => \@OTHER_RULES });
	die "mutes: $r->{status}" unless $r->{status} == 200;
	push_snapshot($srv);
	return { token => $token, channel => $ch, server => $srv };
}

# The one delivery job of a scenario: state, attempts, next_attempt_at,
# last_status, last_error, last_duration_ms.
sub job {
	my ($s) = @_;
	my @f = split /\|/, sql("SELECT d.state, d.attempts, d.next_attempt_at,"
	    . " coalesce(d.last_status, 'null'), coalesce(d.last_error, ''),"
	    . " coalesce(d.last_duration_ms, 'null') FROM notify_delivery d"
	    . " JOIN channel c ON c.id = d.channel_id"
	    . " WHERE c.public_id = '$s->{channel}'"), -1;
	return { state => $f[0] // '', attempts => $f[1], next => $f[2],
	    status => $f[3], error => $f[4], ms => $f[5] };
}

sub attempts_of {
	my ($s) = @_;
	return sql("SELECT count(*) FROM notify_attempt a JOIN channel c"
	    . " ON c.id = a.channel_id WHERE c.public_id = '$s->{channel}'");
}

sub bodies {
	my ($path) = @_;
	return [map { eval { decode_json($_->{body}) } || {} }
	    @{ records($http, $path) }];
}

# --- 1. fan-out: every alert to every enabled channel, once ----------------------

at($T0);
my $alice = register_user('alice@example.com');
admin('plan', 'alice@example.com', 'pro');
my $TG = '123456:ABCDEFGHIJKLMNOPQRSTUV';
my $PD = 'PagerDutyRoutingKey0123456789abc';
stub_rule($http, path => '/hook', secret => 'whsec_alice');
my %ch = (
    webhook => channel($alice, { name => 'hook', type => 'webhook',
        config => { url => "$H/hook/alice", secret => 'whsec_alice' } }),
    slack => channel($alice, { name => 'slack', type => 'slack',
        config => { webhook_url => "$H/slack/T0/B0/x" } }),
    discord => channel($alice, { name => 'discord', type => 'discord',
        config => { webhook_url => "$H/discord/api/webhooks/1/t" } }),
    telegram => channel($alice, { name => 'tg', type => 'telegram',
        config => { bot_token => $TG, chat_id => '-100200300' } }),
    pagerduty => channel($alice, { name => 'pd', type => 'pagerduty',
        config => { routing_key => $PD } }),
    email => channel($alice, { name => 'mail', type => 'email',
        config => { recipients => ['ops@example.com', 'oncall@example.com'] } }),
    off => channel($alice, { name => 'off', type => 'slack', enabled => JSON::PP::false,
        config => { webhook_url => "$H/off/x" } }),
);
# The snapshot renames the host to what the agent says: "vm".
my $web = create_server($alice, name => 'web-1')->{server};
my $SRV = $web->{id};
my $LINK = "http://kiln.test/servers/$SRV";
my $j = push_snapshot($web);
is($j->{new_alerts}, 5, '1.1 the fixture opens five alerts');
is(sql("SELECT count(*) FROM notify_outbox WHERE event = 'firing'"), 5,
    '1.2 five firing rows in the outbox');
is(scalar @{ records($http) }, 0, '1.3 ingest itself sends nothing');
is(sql("SELECT count(*) FROM notify_delivery"), 0, '1.4 no delivery job yet');

my $r = notify();
is($r->{exit}, 0, '1.5 kiln-cron-notify exits 0') or diag($r->{err});
like($r->{out}, qr/^notify: fanned=5 sent=30 retrying=0 failed=0 skipped=0/,
    '1.6 it says: 5 fanned out, 30 sent');
is(sql("SELECT count(*) || ' ' || sum(state = 'sent') || ' ' || sum(attempts"
    . " = 1) FROM notify_delivery"), '30 30 30',
    '1.7 thirty jobs, all sent at the first attempt');
is(sql("SELECT count(*) FROM notify_delivery d JOIN channel c ON c.id ="
    . " d.channel_id WHERE c.public_id = '$ch{off}'"), 0,
    '1.8 none for the disabled channel');
is(scalar @{ records($http, '/off') }, 0, '1.9 nothing reached it');
is(sql("SELECT count(*) FROM notify_outbox WHERE fanned_at = $T0"
    . " AND done_at = $T0"), 5, '1.10 the outbox rows are fanned and done');
is(sql("SELECT count(*) || ' ' || sum(ok) FROM notify_attempt"
    . " WHERE delivery_id IS NOT NULL"), '30 30', '1.11 thirty attempts logged');
is(sql("SELECT count(*) FROM notify_delivery WHERE last_status IS NULL"
    . " OR last_duration_ms IS NULL"), 0, '1.12 each with status and duration');

my @hook = @{ records($http, '/hook/alice') };
is(scalar @hook, 5, '1.13 webhook: five requests');
ok(!grep({ $_->{sig} ne 'valid' } @hook), '1.14 every signature verified')
    or diag(join ' ', map { $_->{sig} } @hook);
my @hb = map { decode_json($_->{body}) } @hook;
is_deeply([sort map { $_->{alert}{alert_type} } @hb], \@FIXTURE_RULES,
    '1.15 one per fixture rule');
ok(!grep({ $_->{event} ne 'firing' } @hb), '1.16 event firing');
is_deeply([sort keys %{ $hb[0] }], [qw(alert channel event id sent_at server)],
    '1.17 {id, event, sent_at, alert, server, channel}');
is_deeply([sort keys %{ $hb[0]{alert} }], [sort qw(id alert_type kind severity
    title message status occurrences opened_at resolved_at)],
    '1.18 the alert fields');
is_deeply($hb[0]{server}, { id => $SRV, name => 'web-1',
    hostname => 'vm', url => $LINK }, '1.19 the server and its link');
my %pub = map { $_->{alert}{alert_type} => $_->{alert}{id} } @hb;
is($pub{no_firewall}, sql("SELECT public_id FROM alert WHERE rule ="
    . " 'no_firewall'"), '1.20 the alert id is the public one');
like($hb[0]{id}, qr/^evt_[0-9a-f]{20}$/, '1.21 an event id');
is(scalar(keys %{ { map { $_->{id} => 1 } @hb } }), 5, '1.22 distinct per event');

my @pd = @{ bodies('/pd/') };
is(scalar @pd, 5, '1.23 pagerduty: five events');
is_deeply([sort map { $_->{dedup_key} } @pd], [map { "$SRV:$_" } @FIXTURE_RULES],
    '1.24 dedup_key <server>:<rule>');
ok(!grep({ $_->{event_action} ne 'trigger' || $_->{routing_key} ne $PD } @pd),
    '1.25 trigger with the routing key');
my ($pd_ntp) = grep { $_->{dedup_key} =~ /ntp_not_synced/ } @pd;
is($pd_ntp->{payload}{severity}, 'critical', '1.26 severity from the alert');
is($pd_ntp->{payload}{source}, 'vm', '1.27 source is the hostname');
is($pd_ntp->{links}[0]{href}, $LINK, '1.28 the link');

my @tg = @{ records($http, '/tg/') };
is(scalar @tg, 5, '1.29 telegram: five messages');
is($tg[0]{path}, "/tg/bot$TG/sendMessage", '1.30 <base>/bot<token>/sendMessage');
my $text = decode_json($tg[0]{body})->{text} // '';
like($text, qr/^\[FIRING (CRITICAL|WARNING|INFO)\] /, '1.31 the text starts [FIRING ...]');
like($text, qr/Server: web-1 \(vm\)/, '1.32 server and hostname');
like($text, qr/Rule: \w+/, '1.33 the rule');
like($text, qr/\Q$LINK\E/, '1.34 the link');
is(scalar @{ records($http, '/slack/') }, 5, '1.35 slack: five');
like(bodies('/slack/')->[0]{text} // '', qr/<\Q$LINK\E\|Open in Kiln>/,
    '1.36 with a slack link');
is(scalar @{ records($http, '/discord/') }, 5, '1.37 discord: five');
is(bodies('/discord/')->[0]{embeds}[0]{url}, $LINK, '1.38 the embed links the server');

my @mail = grep { grep { $_ eq 'ops@example.com' } @{ $_->{rcpt} } }
    @{ records($smtp) };
is(scalar @mail, 5, '1.39 email: one message per alert event');
is_deeply($mail[0]{rcpt}, ['ops@example.com', 'oncall@example.com'],
    '1.40 to both recipients');
like($mail[0]{data}, qr/^Subject: \[Kiln\] FIRING \w+: .+ on web-1\r$/m,
    '1.41 Subject');
like($mail[0]{data}, qr/^Message-ID: <[0-9a-f]{20}\.$T0\@kiln\.test>\r$/m,
    '1.42 Message-ID');
like($mail[0]{data}, qr/^Date: Fri, 22 May 2026 10:00:00 \+0000\r$/m, '1.43 Date');
like($mail[0]{data}, qr/\Q$LINK\E/, '1.44 the link in the body');

at($T0 + 60);
my $before = scalar @{ records($http) };
$r = notify();
is($r->{out}, '', '1.45 a run with nothing to do says nothing');
is(scalar @{ records($http) }, $before, '1.46 and sends nothing again');

# --- 2. resolved ----------------------------------------------------------------

at($T0 + 120);
my $snap = decode_json(fixture('snapshot-debian12-vm.json'));
$snap->{security}{firewall}{active} = JSON::PP::true;
push_snapshot($web, encode_json($snap));
is(sql("SELECT status FROM alert WHERE rule = 'no_firewall'"), 'resolved',
    '2.1 a firewall resolves no_firewall');
$r = notify();
like($r->{out}, qr/fanned=1 sent=6 /, '2.2 one resolved row, six sent');
my ($res_hook) = grep { $_->{event} eq 'resolved' } @{ bodies('/hook/alice') };
ok($res_hook, '2.3 webhook: event resolved');
is($res_hook->{alert}{status}, 'resolved', '2.4 alert.status resolved');
is($res_hook->{alert}{resolved_at}, '2026-05-22T10:02:00Z', '2.5 resolved_at');
is($res_hook->{alert}{alert_type}, 'no_firewall', '2.6 the rule');
my ($pd_res) = grep { $_->{event_action} eq 'resolve' } @{ bodies('/pd/') };
is($pd_res->{dedup_key}, "$SRV:no_firewall", '2.7 pagerduty resolve, same dedup_key');
is($pd_res->{routing_key}, $PD, '2.8 with the routing key');
like(decode_json(records($http, '/tg/')->[-1]{body})->{text}, qr/^\[RESOLVED\]/,
    '2.9 telegram [RESOLVED]');
like(records($smtp)->[-1]{data}, qr/^Subject: \[Kiln\] RESOLVED: /m,
    '2.10 email RESOLVED');

# --- 3. acknowledged: nothing more until a new occurrence -------------------------

at($T0 + 3600);
$j = push_snapshot($web);
my $reboot = sql("SELECT public_id FROM alert WHERE rule = 'unexpected_reboot'");
like($reboot, qr/^alr_/, '3.1 the same uptime an hour later is an unexpected reboot');
at($T0 + 3601);
$r = route('alerts', 'POST', "/api/v1/alerts/$reboot/acknowledge", token => $alice);
is($r->{status}, 200, '3.2 acknowledged through kiln-alerts') or diag($r->{raw});
$before = scalar @{ records($http) };
$r = notify();
like($r->{out}, qr/fanned=2 sent=6 retrying=0 failed=0 skipped=6/,
    '3.3 no_firewall again: sent; unexpected_reboot: six skipped');
ok(!grep({ $_->{body} =~ /unexpected_reboot|rebooted/ } @{ records($http) }),
    '3.4 nothing about the acknowledged alert reached anyone');
is(sql("SELECT count(*) FROM notify_delivery d JOIN notify_outbox o ON"
    . " o.id = d.outbox_id JOIN alert a ON a.id = o.alert_id WHERE a.public_id"
    . " = '$reboot' AND d.state = 'skipped' AND d.last_error = 'acknowledged'"
    . " AND d.attempts = 0"), 6, "3.5 its jobs are skipped, 'acknowledged'");
at($T0 + 7200);
push_snapshot($web);
is(sql("SELECT acknowledged_at IS NULL FROM alert WHERE public_id = '$reboot'"),
    1, '3.6 a new reboot clears the acknowledgement');
$r = notify();
like($r->{out}, qr/sent=6 retrying=0 failed=0 skipped=0/, '3.7 ... and notifies');
is(scalar(grep { ($_->{alert}{id} // '') eq $reboot } @{ bodies('/hook/alice') }),
    1, '3.8 the webhook got the new occurrence');

# --- 4. a receiver answering 500: backoff 30 s, 1, 2, 4, 8 min, then failed -------

my $T1 = $T0 + 100000;
at($T1);
stub_rule($http, path => '/b500', status => 500);
my $s500 = scenario("$H/b500");
my @due = (30, 90, 210, 450, 930);
for my $i (0 .. 4) {
	at($T1 + ($i ? $due[$i - 1] : 0));
	notify();
	my $d = job($s500);
	is("$d->{state} $d->{attempts} $d->{next}", 'pending ' . ($i + 1) . ' '
	    . ($T1 + $due[$i]), "4.1.$i attempt " . ($i + 1)
	    . " fails; the next is due at +$due[$i] s");
	at($T1 + $due[$i] - 1);
	notify();
	is(scalar @{ records($http, '/b500') }, $i + 1,
	    "4.2.$i nothing is sent a second early");
}
is(job($s500)->{status}, 500, '4.3 last_status 500');
like(job($s500)->{error}, qr/^HTTP 500/, '4.4 last_error');
at($T1 + 930);
notify();
my $d = job($s500);
is("$d->{state} $d->{attempts}", 'failed 6', '4.5 the sixth failure marks it failed');
is(sql("SELECT count(*) || ' ' || sum(status = 500) || ' ' || sum(ok) FROM"
    . " notify_attempt a JOIN channel c ON c.id = a.channel_id"
    . " WHERE c.public_id = '$s500->{channel}'"), '6 6 0',
    '4.6 six attempts logged, each a 500');
is(sql("SELECT o.done_at FROM notify_outbox o JOIN notify_delivery d ON"
    . " d.outbox_id = o.id JOIN channel c ON c.id = d.channel_id"
    . " WHERE c.public_id = '$s500->{channel}'"), $T1 + 930,
    '4.7 the outbox row is done');
at($T1 + 9999);
notify();
is(scalar @{ records($http, '/b500') }, 6, '4.8 and never tried again');

# --- 5. 429 with Retry-After ---------------------------------------------------------

my $T2 = $T0 + 200000;
at($T2);
stub_rule($http, path => '/b429', status => 429, retry_after => 300, times => 1);
my $s429 = scenario("$H/b429");
notify();
$d = job($s429);
is("$d->{state} $d->{status} $d->{next}", 'pending 429 ' . ($T2 + 300),
    '5.1 a 429 asking for 300 s waits 300 s, not 30');
at($T2 + 299);
notify();
is(scalar @{ records($http, '/b429') }, 1, '5.2 not a second early');
at($T2 + 300);
notify();
$d = job($s429);
is("$d->{state} $d->{attempts}", 'sent 2', '5.3 then sent');
stub_rule($http, path => '/b429s', status => 429, retry_after => 5, times => 1);
my $s429s = scenario("$H/b429s");
notify();
is(job($s429s)->{next}, $T2 + 300 + 30, '5.4 a shorter Retry-After still waits the backoff');

# --- 6. a receiver that is down ---------------------------------------------------------

my $T3 = $T0 + 300000;
at($T3);
my $sdown = scenario('http://127.0.0.1:' . closed_port() . '/down');
notify();
$d = job($sdown);
is("$d->{state} $d->{attempts} $d->{status} $d->{next}",
    'pending 1 null ' . ($T3 + 30), '6.1 pending, no status, due in 30 s');
like($d->{error}, qr/connect/i, '6.2 the connection error is recorded');
is(sql("SELECT count(*) FROM notify_attempt a JOIN channel c ON c.id ="
    . " a.channel_id WHERE c.public_id = '$sdown->{channel}' AND a.ok = 0"
    . " AND a.status IS NULL AND a.error LIKE '%onnect%'"), 1,
    '6.3 and logged as an attempt');
$r = route('channels', 'DELETE', "/api/v1/channels/$sdown->{channel}",
    token => $sdown->{token});
is($r->{status}, 200, '6.4 the channel is deleted');
at($T3 + 30);
notify();
is(sql("SELECT count(*) FROM notify_outbox WHERE done_at IS NULL"), 0,
    '6.5 its outbox row is done (nothing left to deliver)');

# --- 7. a receiver slower than the timeout ---------------------------------------------

my $T4 = $T0 + 400000;
at($T4);
stub_rule($http, path => '/slow', sleep => 4, times => 1);
my $sslow = scenario("$H/slow");
$r = notify(KILN_NOTIFY_TIMEOUT => 2);
$d = job($sslow);
is("$d->{state} $d->{attempts}", 'pending 1', '7.1 a timeout is a failure');
like($d->{error}, qr/timed out/, '7.2 ... recorded as timed out');
ok($d->{ms} >= 1900 && $d->{ms} < 3900, "7.3 with its duration ($d->{ms} ms)");
ok($r->{secs} < 3.9, '7.4 the run did not wait for the receiver');
is(sql("SELECT duration_ms FROM notify_attempt a JOIN channel c ON c.id ="
    . " a.channel_id WHERE c.public_id = '$sslow->{channel}'"), $d->{ms},
    '7.5 the attempt log has the duration');
at($T4 + 30);
notify();
is(job($sslow)->{state}, 'sent', '7.6 the retry gets through');

# --- 8. the sender killed mid-send: delivered anyway -------------------------------------

my $T5 = $T0 + 500000;
at($T5);
stub_rule($http, path => '/crash', sleep => 3, times => 1);
my $scrash = scenario("$H/crash");
my $pid = notify_bg();
ok(wait_for(10, sub { @{ records($http, '/crash') } >= 1 }),
    '8.1 the request is in flight');
$r = notify();
ok($r->{exit} == 0 && $r->{err} =~ /skipped: another run holds/,
    '8.1.1 a second run meanwhile skips (the lock), exit 0') or diag($r->{err});
kill 'KILL', $pid;
waitpid $pid, 0;
is($? & 127, 9, '8.2 kiln-cron-notify killed with SIGKILL');
$d = job($scrash);
is("$d->{state} $d->{attempts} $d->{next}", 'pending 1 ' . ($T5 + $LEASE),
    '8.3 the job stays claimed until its lease ends');
is(attempts_of($scrash), 0, '8.4 no outcome was recorded');
notify();
is(scalar @{ records($http, '/crash') }, 1, '8.5 a run within the lease leaves it');
at($T5 + $LEASE);
$r = notify();
$d = job($scrash);
is("$d->{state} $d->{attempts}", 'sent 2', '8.6 after the lease it is delivered');
my @crash = @{ records($http, '/crash') };
ok(@crash >= 1, '8.7 at least once (' . scalar(@crash) . ' requests)');
my @ids = map { decode_json($_->{body})->{id} } @crash;
is($ids[-1], $ids[0], '8.8 with the same event id, so the receiver can dedupe');

# --- 9. SSRF: private targets refused at delivery --------------------------------------

my $T6 = $T0 + 600000;
at($T6);
my $sname = scenario("http://localhost:$http->{port}/ssrf-name");
my $slit = scenario("http://127.0.0.1:$http->{port}/ssrf-literal");
notify(KILN_ALLOW_PRIVATE_TARGETS => 'no');
like(job($sname)->{error},
    qr/^refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address/,
    '9.1 a name resolving to loopback is refused');
like(job($slit)->{error}, qr/refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, a loopback/,
    '9.2 so is a literal');
is(scalar @{ records($http, '/ssrf') }, 0, '9.3 nothing reached the receiver');
is(job($sname)->{status}, 'null', '9.4 no status');
at($T6 + 30);
notify();
is(job($sname)->{state} . ' ' . job($slit)->{state}, 'sent sent',
    '9.5 allowed when allow_private_targets is on');

# --- 9b. a channel disabled after its jobs were queued ------------------------------

at($T6 + 1000);
stub_rule($http, path => '/disabled', status => 500);
my $sdis = scenario("$H/disabled");
notify();
is(job($sdis)->{state}, 'pending', '9.6 a failing job waits for its retry');
$r = route('channels', 'PUT', "/api/v1/channels/$sdis->{channel}",
    token => $sdis->{token}, body => { name => 'hook', type => 'webhook',
    enabled => JSON::PP::false, config => { url => "$H/disabled" } });
is($r->{status}, 200, '9.7 the channel is disabled') or diag($r->{raw});
at($T6 + 1030);
notify();
$d = job($sdis);
is("$d->{state} $d->{error}", 'skipped channel disabled',
    '9.8 its pending job is skipped, not sent');
is(scalar @{ records($http, '/disabled') }, 1, '9.9 no second request');

# --- 10. the verification email of register ---------------------------------------------

my $T7 = $T0 + 700000;
at($T7);
register_user('newbie@example.com');
is(sql("SELECT count(*) FROM mail_outbox WHERE recipient = 'newbie\@example.com'"
    . " AND sent_at IS NULL"), 1, '10.1 register queued a verification email');
notify(KILN_SMTP_URL => '');
is(sql("SELECT attempts FROM mail_outbox WHERE recipient ="
    . " 'newbie\@example.com'"), 0, '10.2 without smtp_url it waits untouched');
notify(KILN_SMTP_URL => 'smtp://127.0.0.1:' . closed_port());
is(sql("SELECT attempts || ' ' || next_attempt_at || ' ' || (sent_at IS NULL)"
    . " FROM mail_outbox WHERE recipient = 'newbie\@example.com'"),
    '1 ' . ($T7 + 30) . ' 1', '10.3 a relay that is down: retried in 30 s');
like(sql("SELECT last_error FROM mail_outbox WHERE recipient ="
    . " 'newbie\@example.com'"), qr/connect/i, '10.4 the error is kept');
at($T7 + 30);
$r = notify();
like($r->{out}, qr/mail_sent=1/, '10.5 then sent');
my ($verify) = grep { $_->{rcpt}[0] eq 'newbie@example.com' } @{ records($smtp) };
ok($verify, '10.6 it arrived at the SMTP server');
like($verify->{data} // '', qr/^Subject: Confirm your email address\r$/m,
    '10.7 Subject');
like($verify->{data} // '', qr/^To: newbie\@example\.com\r$/m, '10.8 To');
like($verify->{data} // '', qr{http://kiln\.test/verify\?token=kiln_verify_\w+},
    '10.9 with the verification link');
is($verify->{from}, 'alerts@kiln.test', '10.10 from mail_from');
is(sql("SELECT sent_at FROM mail_outbox WHERE recipient = 'newbie\@example.com'"),
    $T7 + 30, '10.11 sent_at');
is(sql("SELECT count(*) FROM notify_attempt a JOIN mail_outbox m ON"
    . " m.id = a.mail_id WHERE m.recipient = 'newbie\@example.com'"), 2,
    '10.12 both attempts logged');
is(sql("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL"), 0,
    '10.13 every verification email of this test went out');
is(sql("SELECT length(body) FROM mail_outbox WHERE recipient ="
    . " 'newbie\@example.com'"), 0,
    '10.14 the sent body (its token) is not kept');

# --- 11. --loop ------------------------------------------------------------------------

my $T8 = $T0 + 800000;
at($T8);
$pid = notify_bg('--loop', '1');
my $sloop = scenario("$H/loop");
ok(wait_for(10, sub { @{ records($http, '/loop') } >= 1 }),
    '11.1 a running loop delivers a new alert within seconds');
kill 'TERM', $pid;
waitpid $pid, 0;
is($?, 0, '11.2 SIGTERM ends the loop with exit 0');
is(job($sloop)->{state}, 'sent', '11.3 recorded as sent');
my $t = time;
$pid = notify_bg('--loop', '1', '--for', '2');
waitpid $pid, 0;
is($?, 0, '11.4 --for ends the loop by itself, exit 0');
ok(time - $t < 5, '11.5 ... on time');
$pid = notify_bg('--loop', '0');
waitpid $pid, 0;
is($? >> 8, 2, '11.6 a bad interval is a usage error');

# --- 12. the processes ----------------------------------------------------------------

ok(!@bad_exits, '12.1 every run exited 0') or diag(join "\n", @bad_exits);

done_testing();
