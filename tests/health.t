#!/usr/bin/perl
# health: GET /servers/:id/health, /health/history and /health/alerts
# through kiln-health as plain CGI against a fresh database. Snapshots
# go in through kiln-ingest (the real fixture, and edits of it); long
# histories are written straight into metric / metric_hour with the
# sqlite3 CLI. The time is KILN_FAKE_NOW throughout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use KilnTest;

new_env(rate_ip => 100000);

my $ISO_RE = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $T0 = 1779444000;		# 2026-05-22T10:00:00Z, the first push
my $D = 1779235200;		# 2026-05-20T00:00:00Z, a day of raw rows
my $E = $D - 86400;		# 2026-05-19T00:00:00Z, a few odd rows
my $R0 = 1735689600;		# 2025-01-01T00:00:00Z, 90 days of roll-ups
my $FIXTURE = fixture('snapshot-debian12-vm.json');
my $UPTIME0 = 317;		# the fixture's uptime_seconds

# Every route process must exit 0: under `make sanitize` a leak or UB
# report makes the process fail after it has already answered.
my @bad_exits;

sub iso {
	my @g = gmtime $_[0];
	return sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900,
	    $g[4] + 1, @g[3, 2, 1, 0];
}

sub at { $ENV{KILN_FAKE_NOW} = iso($_[0]) }

# One request to a route binary (kiln-health unless named).
sub req {
	my ($method, $uri, %o) = @_;
	my $bin = delete $o{bin} // 'health';
	my $r = cgi($bin, $method, $uri, %o);
	push @bad_exits, "$bin $method $uri: exit $r->{exit}\n$r->{stderr}"
	    if $r->{exit} != 0;
	return $r;
}

# GET /servers/ID/health[SUFFIX] as token.
sub health {
	my ($token, $srv, $suffix) = @_;
	return req('GET', "/api/v1/servers/$srv/health" . ($suffix // ''),
	    token => $token);
}

# Asserts a number within 1e-6 (JSON reals need not print short).
sub num_is {
	my ($got, $want, $name) = @_;
	ok(defined $got && !ref $got && abs($got - $want) < 1e-6, $name)
	    or diag('got ' . (defined $got ? $got : 'null') . "; want $want");
}

# Asserts a key that is present and null.
sub null_is {
	my ($h, $key, $name) = @_;
	ok(ref $h eq 'HASH' && exists $h->{$key} && !defined $h->{$key},
	    $name) or diag("$key: " . encode_json([ $h->{$key} ]));
}

sub row_id { sql("SELECT id FROM server WHERE public_id = '$_[0]'") }

# The fixture as a Perl structure, with uptime advanced to time $t as if
# the host had kept running since $T0 (so no unexpected_reboot), then
# edited by $edit.
sub snap {
	my ($t, $edit) = @_;
	my $s = decode_json($FIXTURE);
	$s->{system}{uptime_seconds} = $UPTIME0 + ($t - $T0);
	$edit->($s) if $edit;
	return encode_json($s);
}

# The fixture with its one critical problem fixed: four warnings stay.
sub ntp_ok {
	my ($s) = @_;
	$s->{ntp} = { synced => JSON::PP::true, offset_seconds => 0.001,
	    source => 'chrony', daemon_running => JSON::PP::true,
	    daemon_name => 'chronyd' };
}

# The fixture with all five problems fixed, and a quieter CPU.
sub all_ok {
	my ($s) = @_;
	ntp_ok($s);
	$s->{security}{firewall}{active} = JSON::PP::true;
	$s->{security}{firewall}{source} = 'nftables';
	$s->{security}{pending_updates}{pendingCount} = 0;
	$s->{security}{auto_updates} = { configured => JSON::PP::true,
	    mechanism => 'unattended-upgrades', details => 'enabled' };
	for my $v (@{ $s->{security}{kernel_vulns} }) {
		$v->{mitigated} = JSON::PP::true;
		$v->{status} = 'Mitigation: test';
	}
	$s->{cpu}{idle_percent} = 80;
}

# Pushes a snapshot body at time $t through kiln-ingest.
sub push_at {
	my ($server, $t, $body) = @_;
	at($t);
	my $r = req('POST', '/api/v1/ingest', bin => 'ingest',
	    token => $server->{api_key}, body => $body // snap($t));
	die "ingest at $t: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return $r;
}

at($T0 - 3600);
my $alice = register_user('alice@example.com');
my $bob = register_user('bob@example.com');
admin('plan', 'alice@example.com', 'pro');
my $A = create_server($alice, name => 'web-1')->{server};	# the fixture
my $B = create_server($alice, name => 'web-2')->{server};	# 600 s cadence
my $C = create_server($alice, name => 'web-3')->{server};	# 120 s cadence
my $H = create_server($alice, name => 'hist-1')->{server};	# history rows
my $P = create_server($alice, name => 'page-1')->{server};	# 60 alerts
my $Bob = create_server($bob, name => 'bob-1')->{server};

# --- 1. GET /servers/:id/health ---------------------------------------

my $r = health($alice, $A->{id});
status_is($r, 200, '1.1 a server that never reported answers 200');
my $j = $r->{json};
is($j->{server_id}, $A->{id}, '1.2 server_id');
is($j->{status}, 'pending', '1.3 status pending before any snapshot');
null_is($j, 'last_seen', '1.4 last_seen null');
is_deeply([ sort keys %{ $j->{current} || {} } ],
    [ sort qw(cpu_percent ram_percent swap_used_mb disk_max_percent
    network_rx_mbps network_tx_mbps cpu_temp_c active_alerts) ],
    '1.5 current has exactly the seed\'s fields');
ok(!grep({ defined $j->{current}{$_} } grep { $_ ne 'active_alerts' }
    keys %{ $j->{current} }), '1.6 every current number is null');
is($j->{current}{active_alerts}, 0, '1.7 active_alerts 0');
is_deeply([ sort keys %$j ], [qw(current last_seen server_id status)],
    '1.8 the body has exactly the seed\'s fields');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    '1.9 content type');
is($r->{headers}{'cache-control'}, 'no-store', '1.10 Cache-Control no-store');

$r = push_at($A, $T0, $FIXTURE);
is($r->{json}{active_alerts}, 5, '1.11 set-up: the fixture opens five alerts');
at($T0 + 30);
$r = health($alice, $A->{id});
$j = $r->{json};
status_is($r, 200, '1.12 after the fixture: 200');
is($j->{status}, 'critical', '1.13 critical: ntp_not_synced is critical');
is($j->{last_seen}, iso($T0), '1.14 last_seen is the push time, ISO');
like($j->{last_seen} // '', $ISO_RE, '1.15 last_seen format');
num_is($j->{current}{cpu_percent}, 48.5, '1.16 cpu_percent = 100 - idle 51.5');
num_is($j->{current}{ram_percent}, 1.6, '1.17 ram_percent 377/24106 = 1.6');
num_is($j->{current}{swap_used_mb}, 0, '1.18 swap_used_mb 0');
num_is($j->{current}{disk_max_percent}, 18, '1.19 disk_max_percent 18');
num_is($j->{current}{network_rx_mbps}, 0, '1.20 network_rx_mbps 0');
num_is($j->{current}{network_tx_mbps}, 0, '1.21 network_tx_mbps 0');
null_is($j->{current}, 'cpu_temp_c', '1.22 cpu_temp_c null: no readings');
is($j->{current}{active_alerts}, 5, '1.23 active_alerts 5');

# Offline: one push, cadence unknown: 15 minutes of silence.
at($T0 + 900);
is(health($alice, $A->{id})->{json}{status}, 'critical',
    '1.24 silent exactly 15 min: not offline yet');
at($T0 + 901);
$r = health($alice, $A->{id});
is($r->{json}{status}, 'offline', '1.25 silent over 15 min: offline');
is($r->{json}{last_seen}, iso($T0), '1.26 offline keeps last_seen');
is($r->{json}{current}{active_alerts}, 5,
    '1.27 offline still counts the open alerts');

# A known 600 s cadence: offline after 3 intervals (30 min), not 15.
push_at($B, $T0);
push_at($B, $T0 + 600);
is(sql("SELECT interval_s FROM server WHERE public_id = '$B->{id}'"),
    '600.0', '1.28 set-up: interval_s is 600');
my $b_last = $T0 + 600;
at($b_last + 901);
is(health($alice, $B->{id})->{json}{status}, 'critical',
    '1.29 600 s cadence, silent 15 min: not offline');
at($b_last + 1200);
is(health($alice, $B->{id})->{json}{status}, 'critical',
    '1.30 600 s cadence, silent 20 min: not offline');
at($b_last + 1800);
is(health($alice, $B->{id})->{json}{status}, 'critical',
    '1.31 silent exactly 3 intervals: not offline');
at($b_last + 1801);
is(health($alice, $B->{id})->{json}{status}, 'offline',
    '1.32 silent over 3 intervals: offline');

# A 120 s cadence: 3 intervals is 6 minutes, but 15 minutes is longer.
push_at($C, $T0);
push_at($C, $T0 + 120);
my $c_last = $T0 + 120;
at($c_last + 361);
is(health($alice, $C->{id})->{json}{status}, 'critical',
    '1.33 120 s cadence, silent 6 min: not offline');
at($c_last + 900);
is(health($alice, $C->{id})->{json}{status}, 'critical',
    '1.34 120 s cadence, silent 15 min: not offline');
at($c_last + 901);
is(health($alice, $C->{id})->{json}{status}, 'offline',
    '1.35 120 s cadence, over 15 min: offline');

# Warning: the critical problem fixed; and a CPU temperature reading.
push_at($A, $T0 + 1000, snap($T0 + 1000, sub {
	ntp_ok($_[0]);
	$_[0]{thermal}{cpu_readings} = [
	    { label => 'Core 0', celsius => 55.5 },
	    { label => 'Core 1', celsius => 61 } ];
}));
at($T0 + 1010);
$r = health($alice, $A->{id});
$j = $r->{json};
is($j->{status}, 'warning', '1.36 only warnings open: warning');
is($j->{current}{active_alerts}, 4, '1.37 active_alerts 4');
is($j->{last_seen}, iso($T0 + 1000), '1.38 last_seen is the newest push');
num_is($j->{current}{cpu_temp_c}, 61, '1.39 cpu_temp_c: hottest reading');

push_at($A, $T0 + 1100, snap($T0 + 1100, \&all_ok));
at($T0 + 1110);
$r = health($alice, $A->{id});
$j = $r->{json};
is($j->{status}, 'healthy', '1.40 no open alert: healthy');
is($j->{current}{active_alerts}, 0, '1.41 active_alerts 0');
num_is($j->{current}{cpu_percent}, 20, '1.42 current is the latest snapshot');
null_is($j->{current}, 'cpu_temp_c', '1.43 no reading in it: cpu_temp_c null');

my $aid = row_id($A->{id});
sql("INSERT INTO alert (public_id, server_id, rule, kind, severity, title,"
    . " message, opened_at, last_seen_at) VALUES ('alr_00000000000000000001',"
    . " $aid, 'nvme_wear_high', 'state', 'info', 't', 'm', $T0 + 1105,"
    . " $T0 + 1105)");
$r = health($alice, $A->{id});
is($r->{json}{status}, 'healthy', '1.44 an open info alert stays healthy');
is($r->{json}{current}{active_alerts}, 1, '1.45 but it is counted');
sql("DELETE FROM alert WHERE public_id = 'alr_00000000000000000001'");

sql("UPDATE alert SET status = 'open', resolved_at = NULL,"
    . " resolve_reason = NULL WHERE server_id = $aid AND rule = 'no_firewall'");
is(health($alice, $A->{id})->{json}{status}, 'warning',
    '1.46 a warning reopened by hand: warning');
sql("UPDATE alert SET status = 'resolved', resolved_at = $T0 + 1100,"
    . " resolve_reason = 'cleared' WHERE server_id = $aid"
    . " AND rule = 'no_firewall'");
is(health($alice, $A->{id})->{json}{status}, 'healthy',
    '1.47 resolved again by hand: healthy');

# The fixture again: five new alerts, critical.
push_at($A, $T0 + 1200);
at($T0 + 1210);
$r = health($alice, $A->{id});
is($r->{json}{status}, 'critical', '1.48 the fixture again: critical');
is($r->{json}{current}{active_alerts}, 5, '1.49 five open again');

# Suspended wins over everything, even over offline and pending.
my ($rc, $out) = admin('suspend', $B->{id});
is($rc, 0, '1.50 kiln-admin suspend') or diag($out);
$r = health($alice, $B->{id});
is($r->{json}{status}, 'suspended', '1.51 suspended (it was offline)');
is($r->{json}{last_seen}, iso($b_last), '1.52 suspended keeps last_seen');
admin('suspend', $H->{id});
is(health($alice, $H->{id})->{json}{status}, 'suspended',
    '1.53 suspended before any snapshot: suspended, not pending');
sql("UPDATE server SET status = 'active', suspended_at = NULL,"
    . " suspended_reason = NULL WHERE public_id = '$H->{id}'");
is(health($alice, $H->{id})->{json}{status}, 'pending',
    '1.54 active again, never reported: pending');

# --- 2. GET /servers/:id/health/history: from ingest ------------------

# A's pushes: T0 (fixture, cpu 48.5), T0+1000 (ntp fixed, 61 C),
# T0+1100 (all fixed, cpu 20), T0+1200 (fixture).
at($T0 + 1260);
$r = health($alice, $A->{id}, '/history');
status_is($r, 200, '2.1 history with no parameters');
$j = $r->{json};
is($j->{server_id}, $A->{id}, '2.2 server_id');
is($j->{metric}, 'cpu', '2.3 default metric cpu');
is($j->{resolution}, '1m', '2.4 default window, auto resolution 1m');
is($j->{to}, iso($T0 + 1260), '2.5 to defaults to now');
is($j->{from}, iso($T0 + 1260 - 3600), '2.6 from defaults to an hour ago');
is_deeply([ map { $_->{t} } @{ $j->{points} || [] } ],
    [ map { iso($_) } $T0, $T0 + 960, $T0 + 1080, $T0 + 1200 ],
    '2.7 one point per pushed minute, sorted, empty minutes omitted');
my $p = $j->{points}[0] || {};
is_deeply([ sort keys %$p ], [qw(avg max min t)],
    '2.8 point {t, avg, min, max}');
num_is($p->{avg}, 48.5, '2.9 avg');
num_is($p->{min}, 48.5, '2.10 min');
num_is($p->{max}, 48.5, '2.11 max');
num_is($j->{points}[2]{avg}, 20, '2.12 the all-fixed snapshot: cpu 20');

my $q = '?from=' . iso($T0 - 60) . '&to=' . iso($T0 + 1260);
$r = health($alice, $A->{id}, "/history$q&metric=memory");
num_is($r->{json}{points}[0]{avg}, 1.56, '2.13 memory: 377/24106 -> 1.56');
is($r->{json}{metric}, 'memory', '2.14 metric echoed');
$r = health($alice, $A->{id}, "/history$q&metric=disk");
num_is($r->{json}{points}[0]{max}, 18, '2.15 disk: 18');
$r = health($alice, $A->{id}, "/history$q&metric=network");
$p = $r->{json}{points}[0] || {};
is_deeply([ sort keys %$p ], [qw(rx t tx)], '2.16 network point {t, rx, tx}');
is_deeply([ map { sort keys %{ $p->{$_} || {} } } qw(rx tx) ],
    [qw(avg max min avg max min)], '2.17 rx and tx are {avg, min, max}');
num_is($p->{rx}{avg}, 0, '2.18 rx 0');
num_is($p->{tx}{max}, 0, '2.19 tx 0');
$r = health($alice, $A->{id}, "/history$q&metric=temperature");
is_deeply([ map { $_->{t} } @{ $r->{json}{points} || [] } ],
    [ iso($T0 + 960) ], '2.20 temperature: only the snapshot with readings');
num_is($r->{json}{points}[0]{avg}, 61, '2.21 the hottest CPU reading');

# The same pushes from the hourly roll-up ingest wrote.
$r = health($alice, $A->{id},
    '/history?resolution=1h&from=' . iso($T0) . '&to=' . iso($T0 + 1800));
is($r->{json}{resolution}, '1h', '2.22 resolution 1h as asked');
is(scalar @{ $r->{json}{points} || [] }, 1, '2.23 one hour bucket');
$p = $r->{json}{points}[0] || {};
is($p->{t}, iso($T0), '2.24 bucket at the hour start');
num_is($p->{avg}, 41.38, '2.25 avg of 48.5, 48.5, 20, 48.5');
num_is($p->{min}, 20, '2.26 min');
num_is($p->{max}, 48.5, '2.27 max');

# --- 3. history: windows, buckets, resolutions ------------------------

my $hid = row_id($H->{id});
# A day of one-minute rows from $D: cpu k % 100, ram 50 + k % 5, ...
sql("WITH RECURSIVE k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k"
    . " WHERE k < 1439) INSERT INTO metric (server_id, ts, cpu, ram, disk,"
    . " rx_mbps, tx_mbps, temp) SELECT $hid, $D + 60 * k, k % 100,"
    . " 50 + k % 5, 30, (k % 5) * 1.5, 2, 40 + k % 5 FROM k");
# A few rows on $E: several in one minute, gaps, NULLs.
my @erows = (
	# ts offset, cpu, ram, rx, tx, temp
	[ 300, 7, 7, 5, undef, undef ],
	[ 600, 10, 40, 1, 3, 50 ],
	[ 615, 20, 40, 2, 3, undef ],
	[ 630, 30, 41, 3, 4, undef ],
	[ 645, 70, 41, 4, 4, 52 ],
	[ 900, 5, 42, undef, 8, undef ],
	[ 1200, 1, 43, undef, undef, undef ],
	[ 1210, 2, 43, undef, undef, undef ],
	[ 1220, 2, 43, undef, undef, undef ],
);
sql('INSERT INTO metric (server_id, ts, cpu, ram, disk, rx_mbps, tx_mbps,'
    . ' temp) VALUES ' . join(', ', map {
	my @v = map { defined $_ ? $_ : 'NULL' } @$_;
	"($hid, $E + $v[0], $v[1], $v[2], 20, $v[3], $v[4], $v[5])"
    } @erows));
# 90 days of hourly roll-ups from $R0, and no metric rows there. Hour h
# of day d: value v = 10d + offset - 1 (even hours, 3 samples) or + 1
# (odd hours, 1 sample); min v - 0.5, max v + 0.5.
# Metric m's offset is 1000 times its place in @ROLLED.
my @ROLLED = qw(cpu memory disk rx tx temperature);
sql("WITH RECURSIVE h(h) AS (SELECT 0 UNION ALL SELECT h + 1 FROM h"
    . " WHERE h < 2159) INSERT INTO metric_hour (server_id, bucket, "
    . join(', ', map { ("${_}_n", "${_}_sum", "${_}_min", "${_}_max") }
    @ROLLED) . ") SELECT $hid, $R0 + 3600 * h, "
    . join(', ', map { my $v = "(b + " . 1000 * $_ . ")";
    ('n', "n * $v", "$v - 0.5", "$v + 0.5") } 0 .. $#ROLLED)
    . " FROM (SELECT h, 3 - 2 * (h % 2) AS n,"
    . " (h / 24) * 10 - 1 + 2 * (h % 2) AS b FROM h)");

sub hist {
	my ($query) = @_;
	return health($alice, $H->{id}, "/history?$query");
}

# Several rows in one bucket; empty buckets omitted; NULLs skipped.
my $ew = 'from=' . iso($E) . '&to=' . iso($E + 3000);
$r = hist("metric=cpu&$ew");
$j = $r->{json};
is($j->{resolution}, '1m', '3.1 50 minutes: auto 1m');
is_deeply([ map { $_->{t} } @{ $j->{points} || [] } ],
    [ map { iso($E + $_) } 300, 600, 900, 1200 ],
    '3.2 only minutes with rows, in time order');
$p = $j->{points}[1] || {};
num_is($p->{avg}, 32.5, '3.3 avg of 10, 20, 30, 70');
num_is($p->{min}, 10, '3.4 min of the bucket');
num_is($p->{max}, 70, '3.5 max of the bucket');
num_is($j->{points}[3]{avg}, 1.67, '3.6 avg 5/3 rounds to 1.67');
$r = hist("metric=memory&$ew");
num_is($r->{json}{points}[1]{avg}, 40.5, '3.7 memory avg');
num_is($r->{json}{points}[1]{min}, 40, '3.8 memory min');
$r = hist("metric=disk&$ew");
is(scalar @{ $r->{json}{points} || [] }, 4, '3.9 disk: four buckets');
num_is($r->{json}{points}[0]{avg}, 20, '3.10 disk value');
$r = hist("metric=temperature&$ew");
is_deeply([ map { [ $_->{t}, $_->{min}, $_->{max} ] }
    @{ $r->{json}{points} || [] } ], [ [ iso($E + 600), 50, 52 ] ],
    '3.11 temperature: NULL readings are not zeros');
$r = hist("metric=network&$ew");
$j = $r->{json};
is_deeply([ map { $_->{t} } @{ $j->{points} || [] } ],
    [ map { iso($E + $_) } 300, 600, 900 ],
    '3.12 network: rx-only and tx-only minutes merged in time order');
$p = $j->{points}[1] || {};
num_is($p->{rx}{avg}, 2.5, '3.13 rx avg');
num_is($p->{rx}{min}, 1, '3.14 rx min');
num_is($p->{rx}{max}, 4, '3.15 rx max');
num_is($p->{tx}{avg}, 3.5, '3.16 tx avg');
ok(!defined $j->{points}[0]{tx} && defined $j->{points}[0]{rx},
    '3.17 a minute with rx only has no tx');
ok(!defined $j->{points}[2]{rx} && defined $j->{points}[2]{tx},
    '3.18 a minute with tx only has no rx');

# 5m buckets of five one-minute rows; a day is auto 5m.
my $dw = 'from=' . iso($D) . '&to=' . iso($D + 86400 - 60);
$r = hist("metric=cpu&$dw");
$j = $r->{json};
status_is($r, 200, '3.19 a day of cpu');
is($j->{resolution}, '5m', '3.20 a day: auto 5m');
my @pts = @{ $j->{points} || [] };
is(scalar @pts, 288, '3.21 288 five-minute points');
my $bad = 0;
for my $i (0 .. $#pts) {
	my $k = 5 * $i % 100;
	$bad++ unless $pts[$i]{t} eq iso($D + 300 * $i)
	    && $pts[$i]{min} == $k && $pts[$i]{max} == $k + 4
	    && $pts[$i]{avg} == $k + 2;
}
is($bad, 0, '3.22 each 5m point: the avg, min and max of its five rows');
$r = hist("metric=memory&resolution=5m&from=" . iso($D) . '&to='
    . iso($D + 3599));
@pts = @{ $r->{json}{points} || [] };
is(scalar @pts, 12, '3.23 an hour at 5m: 12 points');
is_deeply([ map { [ $_->{avg}, $_->{min}, $_->{max} ] } @pts[0, 11] ],
    [ [ 52, 50, 54 ], [ 52, 50, 54 ] ], '3.24 memory 5m buckets');
$r = hist('metric=cpu&resolution=1m&from=' . iso($D) . '&to='
    . iso($D + 3599));
is(scalar @{ $r->{json}{points} || [] }, 60, '3.25 an hour at 1m: 60 points');
num_is($r->{json}{points}[59]{avg}, 59, '3.26 1m: a bucket is one row');

# Auto resolution by window.
for (['3.27', 3600, '1m'], ['3.28', 86400, '5m'], ['3.29', 7 * 86400, '1h'],
    ['3.30', 90 * 86400, '1d'], ['3.31', 60, '1m'],
    ['3.32', 500 * 60, '1m'], ['3.33', 500 * 60 + 60, '5m']) {
	my ($n, $len, $want) = @$_;
	$r = hist('from=' . ($T0 - $len) . "&to=$T0");
	is($r->{json}{resolution} // $r->{raw}, $want,
	    "$n a window of $len s: auto $want");
}

# Too many points.
$r = hist('resolution=1m&from=' . ($T0 - 2 * 86400) . "&to=$T0");
err_is($r, 400, 'too_many_points', '3.34 1m over two days (2880 points)');
$r = hist('resolution=1m&from=' . ($T0 - 1500 * 60) . "&to=$T0");
status_is($r, 200, '3.35 exactly 1500 points is allowed');
is($r->{json}{resolution}, '1m', '3.36 at the resolution asked for');
$r = hist('resolution=1m&from=' . ($T0 - 1501 * 60) . "&to=$T0");
err_is($r, 400, 'too_many_points', '3.37 1501 points');
$r = hist('resolution=5m&from=' . ($T0 - 2 * 86400) . "&to=$T0");
status_is($r, 200, '3.38 two days at 5m (576 points)');
$r = hist('resolution=1h&from=' . ($T0 - 90 * 86400) . "&to=$T0");
err_is($r, 400, 'too_many_points', '3.39 90 days at 1h (2160 points)');
$r = hist('from=' . ($T0 - 3650 * 86400) . "&to=$T0");
err_is($r, 400, 'too_many_points', '3.40 ten years even at auto 1d');

# 1h and 1d come from metric_hour: there are no metric rows at $R0.
$r = hist('metric=cpu&resolution=1m&from=' . iso($R0) . '&to='
    . iso($R0 + 3600));
is_deeply($r->{json}{points}, [], '3.41 no raw rows in the roll-up window');
$r = hist('metric=cpu&from=' . iso($R0) . '&to=' . iso($R0 + 7 * 86400 - 60));
$j = $r->{json};
is($j->{resolution}, '1h', '3.42 seven days: auto 1h');
@pts = @{ $j->{points} || [] };
is(scalar @pts, 168, '3.43 168 hourly points from the roll-ups');
$bad = 0;
for my $h (0 .. $#pts) {
	my $v = int($h / 24) * 10 - 1 + 2 * ($h % 2);
	$bad++ unless $pts[$h]{t} eq iso($R0 + 3600 * $h)
	    && $pts[$h]{avg} == $v && $pts[$h]{min} == $v - 0.5
	    && $pts[$h]{max} == $v + 0.5;
}
is($bad, 0, '3.44 each 1h point: sum/n, min, max of its roll-up');
$r = hist('metric=cpu&from=' . iso($R0) . '&to=' . iso($R0 + 90 * 86400 - 60));
$j = $r->{json};
is($j->{resolution}, '1d', '3.45 90 days: auto 1d');
@pts = @{ $j->{points} || [] };
is(scalar @pts, 90, '3.46 90 daily points');
$bad = 0;
for my $d (0 .. $#pts) {
	$bad++ unless $pts[$d]{t} eq iso($R0 + 86400 * $d)
	    && $pts[$d]{avg} == 10 * $d - 0.5
	    && $pts[$d]{min} == 10 * $d - 1.5
	    && $pts[$d]{max} == 10 * $d + 1.5;
}
is($bad, 0, '3.47 each 1d point: sample-weighted avg, min, max of 24 hours')
    or diag(encode_json([ @pts[0, 1] ]));
my $day = '&resolution=1d&from=' . iso($R0 + 86400) . '&to='
    . iso($R0 + 2 * 86400 - 60);
for (['3.48', 'memory', 1000], ['3.49', 'disk', 2000],
    ['3.50', 'temperature', 5000]) {
	my ($n, $m, $off) = @$_;
	$r = hist("metric=$m$day");
	is_deeply([ map { [ $_->{t}, $_->{avg}, $_->{min}, $_->{max} ] }
	    @{ $r->{json}{points} || [] } ],
	    [ [ iso($R0 + 86400), 10 + $off - 0.5, 10 + $off - 1.5,
	    10 + $off + 1.5 ] ], "$n $m from its roll-up");
}
$r = hist("metric=network$day");
$p = $r->{json}{points}[0] || {};
is_deeply([ $p->{t}, $p->{rx}{avg}, $p->{tx}{avg}, $p->{rx}{max},
    $p->{tx}{min} ], [ iso($R0 + 86400), 3009.5, 4009.5, 3011.5, 4008.5 ],
    '3.51 network rx and tx from the rx / tx roll-ups');
$r = hist('metric=cpu&resolution=1h&from=' . iso($R0 + 1800) . '&to='
    . iso($R0 + 3 * 3600 - 60));
is_deeply([ map { $_->{t} } @{ $r->{json}{points} || [] } ],
    [ map { iso($R0 + 3600 * $_) } 0 .. 2 ],
    '3.52 1h: the hour holding from counts');

# --- 4. history: parameters -------------------------------------------

$r = hist('from=2026-05-20T00:00:00Z&to=2026-05-20T01:00:00Z');
status_is($r, 200, '4.1 ISO with Z');
is_deeply([ $r->{json}{from}, $r->{json}{to} ],
    [ '2026-05-20T00:00:00Z', '2026-05-20T01:00:00Z' ], '4.2 echoed');
is(scalar @{ $r->{json}{points} || [] } >= 60, 1,
    '4.3 the hour\'s rows come back');
$r = hist('from=2026-05-20T02:00:00%2B02:00&to=2026-05-19T20:00:00-05:00');
status_is($r, 200, '4.4 ISO with offsets');
is_deeply([ $r->{json}{from}, $r->{json}{to} ],
    [ '2026-05-20T00:00:00Z', '2026-05-20T01:00:00Z' ],
    '4.5 offsets converted to UTC');
$r = hist("from=$D&to=" . ($D + 3600));
status_is($r, 200, '4.6 Unix seconds');
is($r->{json}{from}, '2026-05-20T00:00:00Z', '4.7 Unix seconds read right');
$r = hist('from=2026-05-20T00:00:00.999Z&to=2026-05-20T00:10:00Z');
is($r->{json}{from}, '2026-05-20T00:00:00Z', '4.8 fractional seconds');
at($D + 7200);
$r = hist('from=' . iso($D));
is_deeply([ $r->{json}{from}, $r->{json}{to} ], [ iso($D), iso($D + 7200) ],
    '4.9 from alone: to is now');
$r = hist('to=' . iso($D + 600));
is_deeply([ $r->{json}{from}, $r->{json}{to} ],
    [ iso($D - 3000), iso($D + 600) ], '4.10 to alone: from is an hour before');
$r = hist('');
@pts = map { $_->{t} } @{ $r->{json}{points} || [] };
ok(@pts >= 60 && !grep({ $_ lt iso($D + 3540) || $_ gt iso($D + 7200) } @pts),
    '4.11 the default window is the last hour of rows') or diag($r->{raw});
at($T0 + 1300);
my $n = 0;
for my $v ('yesterday', '2026-05-20T00:00:00', '2026-02-30T00:00:00Z',
    '2026-05-20T24:00:00Z', '-5', '1e9', '2026-05-20T00:00:00Zjunk',
    '2026-05-20T00:00:00+25:00', '9999999999999') {
	$n++;
	(my $e = $v) =~ s/\+/%2B/g;
	$r = hist("from=$e&to=" . iso($T0));
	err_is($r, 400, 'validation_failed', "4.12.$n bad from '$v'",
	    field => 'from');
	$r = hist('from=' . iso($T0 - 60) . "&to=$e");
	err_is($r, 400, 'validation_failed', "4.13.$n bad to '$v'",
	    field => 'to');
}
$r = hist('from=' . iso($T0) . '&to=' . iso($T0));
err_is($r, 400, 'validation_failed', '4.14 from = to');
like($r->{json}{field} // '', qr/^(from|to)$/, '4.15 names from or to');
$r = hist('from=' . iso($T0) . '&to=' . iso($T0 - 60));
err_is($r, 400, 'validation_failed', '4.16 from after to');
like($r->{json}{field} // '', qr/^(from|to)$/, '4.17 names from or to');
for my $m (qw(load CPU ram mem network_rx)) {
	$r = hist("metric=$m");
	err_is($r, 400, 'validation_failed', "4.18 unknown metric '$m'",
	    field => 'metric');
}
for my $res (qw(2m 1M 1H 60 1w 5min)) {
	$r = hist("resolution=$res");
	err_is($r, 400, 'validation_failed', "4.19 unknown resolution '$res'",
	    field => 'resolution');
}
for my $res (qw(1m 5m 1h 1d)) {
	$r = hist("resolution=$res");
	ok($r->{status} == 200 && $r->{json}{resolution} eq $res,
	    "4.20 resolution $res accepted") or diag($r->{raw});
}

# --- 5. GET /servers/:id/health/alerts --------------------------------

# A: five opened at T0 (ntp resolved at T0+1000, the others at T0+1100),
# five opened at T0+1200, open.
sub alerts {
	my ($query, $token, $srv) = @_;
	return health($token // $alice, $srv // $A->{id},
	    '/alerts' . (defined $query ? "?$query" : ''));
}

$r = alerts();
status_is($r, 200, '5.1 alerts with no parameters');
$j = $r->{json};
is($j->{server_id}, $A->{id}, '5.2 server_id');
my @al = @{ $j->{alerts} || [] };
is(scalar @al, 10, '5.3 no filter: active and resolved');
is_deeply([ map { $_->{opened_at} } @al ],
    [ (iso($T0 + 1200)) x 5, (iso($T0)) x 5 ], '5.4 newest first');
is($j->{page}, 1, '5.5 page 1');
is($j->{per_page}, 50, '5.6 per_page 50');
ok(JSON::PP::is_bool($j->{has_more}) && !$j->{has_more}, '5.7 has_more false');

my ($ntp) = grep { $_->{alert_type} eq 'ntp_not_synced' && $_->{opened_at}
    eq iso($T0) } @al;
$ntp ||= {};
is_deeply([ sort keys %$ntp ], [ sort qw(id server_id alert_type kind
    severity title message evidence status occurrences opened_at
    last_seen_at acknowledged_at resolved_at resolve_reason) ],
    '5.8 the alert object\'s fields');
like($ntp->{id} // '', qr/^alr_[0-9a-f]{16,}$/, '5.9 id alr_ + hex');
is($ntp->{server_id}, $A->{id}, '5.10 server_id is the public id');
is($ntp->{kind}, 'state', '5.11 kind state');
is($ntp->{severity}, 'critical', '5.12 severity critical');
ok(length($ntp->{title} // '') && length($ntp->{message} // ''),
    '5.13 title and message');
ok(ref $ntp->{evidence} eq 'HASH' && JSON::PP::is_bool($ntp->{evidence}{synced})
    && !$ntp->{evidence}{synced}, '5.14 evidence is an object: synced false')
    or diag(encode_json([ $ntp->{evidence} ]));
is($ntp->{status}, 'resolved', '5.15 status resolved');
is($ntp->{occurrences}, 1, '5.16 occurrences');
is($ntp->{last_seen_at}, iso($T0), '5.17 last_seen_at');
null_is($ntp, 'acknowledged_at', '5.18 acknowledged_at null');
is($ntp->{resolved_at}, iso($T0 + 1000), '5.19 resolved_at');
is($ntp->{resolve_reason}, 'cleared', '5.20 resolve_reason cleared');
my ($open) = grep { $_->{alert_type} eq 'no_firewall'
    && $_->{opened_at} eq iso($T0 + 1200) } @al;
$open ||= {};
is($open->{status}, 'active', '5.21 an open alert is active');
null_is($open, 'resolved_at', '5.22 resolved_at null');
null_is($open, 'resolve_reason', '5.23 resolve_reason null');
is($open->{severity}, 'warning', '5.24 warning');
my %types = map { $_->{alert_type} => 1 } @al;
is_deeply([ sort keys %types ], [ sort qw(no_firewall pending_security_updates
    unattended_upgrades_disabled ntp_not_synced kernel_vulnerabilities) ],
    '5.25 the fixture\'s five rules');

sub alert_count {
	my ($query) = @_;
	my $x = alerts($query);
	return $x->{status} == 200 ? scalar @{ $x->{json}{alerts} }
	    : "$x->{status} $x->{raw}";
}

is(alert_count('status=active'), 5, '5.26 status=active');
ok(!grep({ $_->{status} ne 'active' }
    @{ alerts('status=active')->{json}{alerts} }), '5.27 only active ones');
is(alert_count('status=resolved'), 5, '5.28 status=resolved');
ok(!grep({ $_->{status} ne 'resolved' }
    @{ alerts('status=resolved')->{json}{alerts} }), '5.29 only resolved ones');
is(alert_count('status=all'), 10, '5.30 status=all');
is(alert_count('severity=critical'), 2, '5.31 severity=critical');
is(alert_count('severity=warning'), 8, '5.32 severity=warning');
is(alert_count('severity=info'), 0, '5.33 severity=info');
is(alert_count('status=active&severity=critical'), 1, '5.34 both filters');
is(alert_count('from=' . iso($T0 + 600)), 5, '5.35 from: opened since');
is(alert_count('from=' . iso($T0 + 1200)), 5, '5.36 from is inclusive');
is(alert_count('to=' . iso($T0 + 600)), 5, '5.37 to: opened before');
is(alert_count('from=' . iso($T0 - 60) . '&to=' . iso($T0 + 60)), 5,
    '5.38 from and to');
is(alert_count('from=' . ($T0 + 1)), 5, '5.39 from in Unix seconds');
is(alert_count('from=' . iso($T0 - 60) . '&to=' . iso($T0 + 60)
    . '&status=active'), 0, '5.40 all filters together');
is(alert_count('page=2'), 0, '5.41 page 2 of 10 alerts: empty');
err_is(alerts('from=' . iso($T0 + 60) . '&to=' . iso($T0 - 60)), 400,
    'validation_failed', '5.42 from after to is refused', field => 'from');

# 60 more alerts on P, opened a minute apart: 50 warnings, 10 info.
my $pid = row_id($P->{id});
sql("WITH RECURSIVE k(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM k"
    . " WHERE k < 60) INSERT INTO alert (public_id, server_id, rule, kind,"
    . " severity, title, message, status, opened_at, last_seen_at,"
    . " resolved_at, resolve_reason) SELECT printf('alr_%020x', 1000 + k),"
    . " $pid, 'rule_' || k, 'state', CASE WHEN k <= 50 THEN 'warning'"
    . " ELSE 'info' END, 'title ' || k, 'message ' || k, 'resolved',"
    . " $T0 - 60 * k, $T0 - 60 * k, $T0, 'manual' FROM k");
my @want = map { sprintf 'alr_%020x', 1000 + $_ } 1 .. 60;
$r = alerts(undef, $alice, $P->{id});
$j = $r->{json};
is_deeply([ map { $_->{id} } @{ $j->{alerts} || [] } ], [ @want[0 .. 49] ],
    '5.42 page 1: the newest 50');
ok($j->{has_more}, '5.43 has_more true');
$r = alerts('page=2', $alice, $P->{id});
$j = $r->{json};
is_deeply([ map { $_->{id} } @{ $j->{alerts} || [] } ], [ @want[50 .. 59] ],
    '5.44 page 2: the other 10');
ok(JSON::PP::is_bool($j->{has_more}) && !$j->{has_more},
    '5.45 has_more false on the last page');
is($j->{page}, 2, '5.46 page 2 echoed');
$r = alerts('page=3', $alice, $P->{id});
ok($r->{status} == 200 && !@{ $r->{json}{alerts} } && !$r->{json}{has_more},
    '5.47 past the end: empty');
$r = alerts('severity=warning', $alice, $P->{id});
ok(@{ $r->{json}{alerts} } == 50 && !$r->{json}{has_more},
    '5.48 exactly 50: has_more false');
$r = alerts('severity=info&page=1', $alice, $P->{id});
is(scalar @{ $r->{json}{alerts} }, 10, '5.49 filters apply before paging');
is(alert_count('status=resolved'), 5, '5.50 other servers\' alerts stay out');
is(scalar @{ alerts(undef, $bob, $Bob->{id})->{json}{alerts} }, 0,
    '5.51 a server without alerts: empty list');

for (['5.52', 'status=open', 'status'], ['5.53', 'status=ACTIVE', 'status'],
    ['5.54', 'severity=high', 'severity'],
    ['5.55', 'severity=Critical', 'severity'],
    ['5.56', 'from=yesterday', 'from'], ['5.57', 'to=22/05/2026', 'to'],
    ['5.58', 'to=2026-05-22T10:00:00', 'to'],
    ['5.59', 'page=0', 'page'], ['5.60', 'page=-1', 'page'],
    ['5.61', 'page=abc', 'page'], ['5.62', 'page=1.5', 'page'],
    ['5.63', 'page=2x', 'page'], ['5.64', 'page=10001', 'page'],
    ['5.65', 'page=99999999999999999999', 'page']) {
	my ($num, $qq, $field) = @$_;
	$r = alerts($qq);
	err_is($r, 400, 'validation_failed', "$num $qq", field => $field);
}

# --- 6. auth, ownership, methods, paths -------------------------------

my @paths = map { "/api/v1/servers/$A->{id}/health$_" } '', '/history',
    '/alerts';
for my $i (0 .. $#paths) {
	$r = req('GET', $paths[$i]);
	err_is($r, 401, 'unauthorized', "6.1.$i no token: $paths[$i]");
	$r = req('GET', $paths[$i], token => 'kiln_sess_' . ('A' x 43));
	err_is($r, 401, 'invalid_token', "6.2.$i unknown token");
	$r = req('GET', $paths[$i], token => $A->{api_key});
	err_is($r, 403, 'insufficient_scope', "6.3.$i the server's own "
	    . 'collector key');
	(my $bp = $paths[$i]) =~ s/\Q$A->{id}\E/$Bob->{id}/;
	$r = req('GET', $bp, token => $alice);
	err_is($r, 404, 'not_found', "6.4.$i another account's server: 404");
	$r = req('GET', $paths[$i], token => $bob);
	err_is($r, 404, 'not_found', "6.5.$i and the other way round");
	for my $m (qw(POST PUT PATCH DELETE)) {
		$r = req($m, $paths[$i], token => $alice, body => '{}');
		err_is($r, 405, 'method_not_allowed', "6.6.$i $m");
		is($r->{headers}{allow}, 'GET', "6.7.$i $m: Allow: GET");
	}
}
for my $bad ('srv_zzz', 'srv_', 'srv_' . ('0' x 20), 'usr_' . ('a' x 20),
    'x' x 300) {
	$r = req('GET', "/api/v1/servers/$bad/health", token => $alice);
	err_is($r, 404, 'not_found', '6.8 malformed or unknown id '
	    . substr($bad, 0, 30));
}
for my $path ("/api/v1/servers/$A->{id}/health/nope",
    "/api/v1/servers/$A->{id}/health/history/x",
    "/api/v1/servers/$A->{id}/health/alerts/x",
    "/api/v1/servers/$A->{id}/healthx",
    "/api/v1/servers/$A->{id}") {
	$r = req('GET', $path, token => $alice);
	err_is($r, 404, 'not_found', "6.9 GET $path");
}
$r = health($alice, $A->{id});
like($r->{headers}{'x-request-id'} // '', qr/\S/, '6.10 X-Request-Id');
is($r->{headers}{'x-content-type-options'}, 'nosniff', '6.11 nosniff');

# --- 7. the processes -------------------------------------------------

ok(!@bad_exits, '7.1 every kiln-health and kiln-ingest run exited 0')
    or diag(join "\n", @bad_exits);

done_testing();
