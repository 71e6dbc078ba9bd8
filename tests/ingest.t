#!/usr/bin/perl
# ingest: POST /api/v1/ingest through kiln-ingest as plain CGI against a
# fresh database, observed through kiln-health, kiln-servers and the
# sqlite3 CLI: the real fixture, the bare-metal fixtures of
# tests/fixtures, state and event alerts over time, the checks in the
# order of SPEC 6, hostile input, two pushes at once, thermal shapes,
# cadence, methods and paths. Time is KILN_FAKE_NOW throughout, stepped
# past the 55 s gate between pushes of one server.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Compress::Zlib qw(crc32);
use POSIX qw(_exit);
use File::Temp qw(tempfile);
use KilnTest;

new_env(rate_ip => 100000, rate_ingest_ip => 1000000,
    rate_server_create => 100000);

my $T0 = 1795327200;		# 2026-11-22T06:00:00Z
my $ISO_MS_RE = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
my @VM_RULES = sort qw(no_firewall pending_security_updates
    unattended_upgrades_disabled ntp_not_synced kernel_vulnerabilities);
my $VM = fixture('snapshot-debian12-vm.json');
my $HEALTHY = fixture('baremetal-healthy.json');

# Every route process must exit 0: under `make sanitize` a leak or UB
# report makes the process fail after it has already answered.
my @bad_exits;

# The fake clock, Unix seconds (fractions give milliseconds).
my $now;

sub iso {
	my ($t) = @_;
	my @g = gmtime int $t;
	my $s = sprintf '%04d-%02d-%02dT%02d:%02d:%02d', $g[5] + 1900,
	    $g[4] + 1, @g[3, 2, 1, 0];
	my $ms = int(($t - int $t) * 1000 + 0.5);
	return $ms ? sprintf('%s.%03dZ', $s, $ms) : "${s}Z";
}

sub at {
	($now) = @_;
	$ENV{KILN_FAKE_NOW} = iso($now);
}

# Moves the clock on, past the per-server gate unless told otherwise.
sub step { at(int($now) + ($_[0] // 61)) }

# One request to a route binary.
sub req {
	my ($bin, $method, $uri, %o) = @_;
	# A route may answer (413) without reading the body it refuses.
	local $SIG{PIPE} = 'IGNORE';
	my $r = cgi($bin, $method, $uri, %o);
	push @bad_exits, "$bin $method $uri: exit $r->{exit}\n"
	    . ($r->{stderr} // '') if $r->{exit} != 0;
	return $r;
}

# Pushes a snapshot with a collector key (undef: no Authorization).
sub push_snap {
	my ($key, $body, %o) = @_;
	return req('ingest', 'POST', '/api/v1/ingest', body => $body,
	    defined $key ? (token => $key) : (), %o);
}

# Asserts a 200 ingest answer with N new and M active alerts.
sub accepted {
	my ($r, $new, $active, $name) = @_;
	my $j = $r->{json} || {};
	ok($r->{status} == 200 && (!defined $new || ($j->{new_alerts} // -1)
	    == $new) && (!defined $active || ($j->{active_alerts} // -1)
	    == $active), $name) or diag("got $r->{status} $r->{raw}; want 200"
	    . (defined $new ? " new_alerts $new" : '')
	    . (defined $active ? " active_alerts $active" : ''));
}

# Rows in the two snapshot tables: "raw/metric".
sub counts {
	return sql('SELECT (SELECT count(*) FROM snapshot_raw) || \'/\' ||'
	    . ' (SELECT count(*) FROM metric)');
}

sub row_id {
	my ($srv) = @_;
	return sql("SELECT id FROM server WHERE public_id = '$srv->{id}'");
}

# The server's newest metric row: column IS NULL, or its value.
sub metric {
	my ($srv, $col) = @_;
	return sql("SELECT coalesce($col, 'NULL') FROM metric WHERE"
	    . " server_id = ${\ row_id($srv)} ORDER BY ts DESC LIMIT 1");
}

# The server's newest raw snapshot as kiln-admin raw prints it, as hex.
sub raw_hex {
	my ($srv) = @_;
	my ($rc, $out) = admin('raw', $srv->{id});
	return $rc == 0 ? uc unpack('H*', $out) : "kiln-admin raw: exit $rc";
}

my $alice = register_user('alice@example.com');
admin('plan', 'alice@example.com', 'pro');

my $nserv = 0;
sub new_server {
	my ($name) = @_;
	return create_server($alice, name => $name // 'srv-' . ++$nserv)
	    ->{server};
}

sub get_server {
	my ($srv) = @_;
	my $r = req('servers', 'GET', "/api/v1/servers/$srv->{id}",
	    token => $alice);
	die "get server: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return $r->{json};
}

sub health {
	my ($srv) = @_;
	my $r = req('health', 'GET', "/api/v1/servers/$srv->{id}/health",
	    token => $alice);
	die "health: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return $r->{json};
}

# The server's alerts (status active, resolved or all), newest first.
sub alerts {
	my ($srv, $status) = @_;
	my $r = req('health', 'GET', "/api/v1/servers/$srv->{id}/health/alerts"
	    . '?status=' . ($status // 'active'), token => $alice);
	die "alerts: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return $r->{json}{alerts};
}

# "type:severity" of the active alerts, sorted.
sub open_types {
	my ($srv) = @_;
	return [ sort map { "$_->{alert_type}:$_->{severity}" }
	    @{ alerts($srv) } ];
}

# The one alert of a type (the newest when status is 'all').
sub alert_of {
	my ($srv, $type, $status) = @_;
	my @a = grep { $_->{alert_type} eq $type } @{ alerts($srv, $status) };
	return $a[0];
}

# Outbox rows of an alert for an event.
sub outbox {
	my ($alert_id, $event) = @_;
	return sql("SELECT count(*) FROM notify_outbox o JOIN alert a"
	    . " ON a.id = o.alert_id WHERE a.public_id = '$alert_id'"
	    . " AND o.event = '$event'");
}

# body with exactly one match of re replaced (the fixtures are
# pretty-printed, so the edits keep the rest byte for byte).
sub edit {
	my ($body, $re, $with) = @_;
	my $n = () = $body =~ /$re/g;
	die "edit: $n matches of $re" unless $n == 1;
	$body =~ s/$re/$with/;
	return $body;
}

# A collector (or account) key of the right shape and checksum that was
# never issued: base62 of CRC-32 of what precedes the '_', last 4 digits.
sub forged_key {
	my ($prefix, $body) = @_;
	my @d = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');
	my $crc = crc32("$prefix$body");
	my $s = '';
	for (1 .. 6) {
		$s = $d[$crc % 62] . $s;
		$crc = int($crc / 62);
	}
	return "$prefix${body}_" . substr($s, 2);
}

# --- 1. the real fixture, byte for byte -------------------------------

at($T0 + 0.123);
my $vm = new_server('vm-1');
my $r = push_snap($vm->{api_key}, $VM);
accepted($r, 5, 5, '1.1 the real fixture: 200, new_alerts 5, active_alerts 5');
my $j = $r->{json};
ok(JSON::PP::is_bool($j->{success}) && $j->{success}, '1.2 success true');
like($j->{received_at}, $ISO_MS_RE, '1.3 received_at ISO with milliseconds');
is($j->{received_at}, '2026-11-22T06:00:00.123Z', '1.4 received_at is now');
is_deeply([ sort keys %$j ], [qw(active_alerts new_alerts received_at
    success)], '1.5 exactly these fields');
is_deeply([ map { s/:.*//r } @{ open_types($vm) } ], \@VM_RULES,
    '1.6 exactly the five fixture rules are active');
is(alert_of($vm, 'ntp_not_synced')->{severity}, 'critical',
    '1.7 ntp_not_synced is critical (no daemon, past the grace)');
is_deeply([ sort map { $_->{severity} } grep { $_->{alert_type} ne
    'ntp_not_synced' } @{ alerts($vm) } ], [ ('warning') x 4 ],
    '1.8 the other four are warnings');
ok((grep { $_->{name} eq 'spec_store_bypass' } @{ alert_of($vm,
    'kernel_vulnerabilities')->{evidence}{unmitigated} || [] }),
    '1.9 kernel_vulnerabilities names spec_store_bypass');
ok(!(grep { $_->{status} ne 'active' || $_->{kind} ne 'state'
    || $_->{occurrences} != 1 || $_->{opened_at} ne '2026-11-22T06:00:00Z' }
    @{ alerts($vm) }), '1.10 active state alerts, one occurrence, opened now');
is(raw_hex($vm), uc unpack('H*', $VM),
    '1.11 the raw body is stored byte for byte');
ok(sql("SELECT body = '' AND length(body_zstd) < " . length($VM) / 2
    . " FROM snapshot_raw WHERE server_id = ${\ row_id($vm)}"),
    '1.11a compressed to less than half its size');
my $sv = get_server($vm);
is($sv->{hostname}, 'vm', '1.12 hostname from the snapshot');
is($sv->{ip}, '192.0.2.2', '1.13 ip');
is($sv->{os_type}, 'debian', '1.14 os_type');
is($sv->{os_version}, '12 (bookworm)', '1.15 os_version');
is($sv->{collector_version}, '0.10.1', '1.16 collector_version');
is($sv->{last_seen_at}, '2026-11-22T06:00:00Z', '1.17 last_seen_at');
ok(!defined $sv->{dmi_vendor} && !defined $sv->{dmi_product},
    '1.18 no DMI on the VM (dmi.available false)');
ok(!defined $sv->{ipmi_sensors_count}, '1.19 no IPMI sensor count (ipmi off)');
is($sv->{disk_health_rollup}, 'healthy', '1.20 disk_health_rollup healthy');
is($sv->{active_alerts}, 5, '1.21 active_alerts 5');
my $h = health($vm);
is($h->{status}, 'critical', '1.22 health critical (worst open alert)');
is($h->{last_seen}, '2026-11-22T06:00:00Z', '1.23 health last_seen');
is_deeply($h->{current}, { cpu_percent => 48.5, ram_percent => 1.6,
    swap_used_mb => 0, disk_max_percent => 18, network_rx_mbps => 0,
    network_tx_mbps => 0, cpu_temp_c => undef, active_alerts => 5 },
    '1.24 health current from the snapshot') or diag explain $h->{current};
is(sql("SELECT kernel || ' ' || uptime_s FROM server WHERE id = "
    . row_id($vm)), '6.1.0-27-amd64 317', '1.25 kernel and uptime kept');
is(sql("SELECT count(*) FROM notify_outbox WHERE event = 'firing'"), 5,
    '1.26 five firing notifications queued');

# --- 2. the bare-metal fixtures ----------------------------------------

step();
my $bm = new_server('bm-healthy');
$r = push_snap($bm->{api_key}, $HEALTHY);
accepted($r, 0, 0, '2.1 the healthy bare-metal fixture fires no rule');
is_deeply(alerts($bm, 'all'), [], '2.2 no alert at all');
$sv = get_server($bm);
is($sv->{dmi_vendor}, 'supermicro', '2.3 dmi_vendor');
is($sv->{dmi_product}, 'SYS-5019C-MR', '2.4 dmi_product');
is($sv->{ipmi_sensors_count},
    scalar @{ decode_json($HEALTHY)->{ipmi}{sensors} },
    '2.5 ipmi_sensors_count is the number of sensors');
is($sv->{disk_health_rollup}, 'healthy', '2.6 disk_health_rollup healthy');
is($sv->{hostname}, 'db-prod-07.example.net', '2.7 hostname');
is($sv->{ip}, '203.0.113.17', '2.8 ip');
is(health($bm)->{status}, 'healthy', '2.9 health healthy');
is_deeply(health($bm)->{current}, { cpu_percent => 22.2, ram_percent => 32.3,
    swap_used_mb => 0, disk_max_percent => 46, network_rx_mbps => 10,
    network_tx_mbps => 3.4, cpu_temp_c => 54, active_alerts => 0 },
    '2.10 health current') or diag explain health($bm)->{current};
is(metric($bm, 'gpu_temp') . ' ' . metric($bm, 'gpu_util') . ' '
    . metric($bm, 'ecc_corr'), '48.0 31.0 0.0',
    '2.11 GPU (the agent\'s gpu.tier1.gpus) and ECC numbers kept');
step();
accepted(push_snap($bm->{api_key}, $HEALTHY), 0, 0,
    '2.12 pushed again a minute later: still nothing');

# fixture => [active "type:severity"], disk_health_rollup
my @variants = (
	['smart-failing', ['smart_failing:critical'], 'failing'],
	['smart-broken', ['smart_failing:critical'], 'broken'],
	['nvme-worn', ['nvme_wear_high:warning'], 'declining'],
	['raid-degraded', ['raid_degraded:critical'], 'healthy'],
	['ipmi-fan-psu', ['ipmi_fan_failure:critical',
	    'psu_redundancy_loss:critical'], 'healthy'],
	['sel-critical', ['ipmi_sel_critical:critical'], 'healthy'],
	['zfs-faulted', ['zfs_pool_unhealthy:critical'], 'healthy'],
	['gpu-hot', ['gpu_temperature_high:critical'], 'healthy'],
	['disk-full', ['disk_space_high:critical'], 'healthy'],
	['ecc', ['ecc_errors:critical'], 'healthy'],
	['cpu-hot', ['cpu_temperature_high:critical'], 'healthy'],
	['cmos-battery', ['cmos_battery_low:warning'], 'healthy'],
	['io-errors', ['disk_io_errors:critical'], 'broken'],
	['systemd-failed', ['systemd_service_failed:critical'], 'healthy'],
);
my $vn = 0;
for my $v (@variants) {
	my ($name, $want, $rollup) = @$v;
	my $n = '2.' . (13 + $vn++);
	my $s = new_server("bm-$name");
	step();
	$r = push_snap($s->{api_key}, fixture("baremetal-$name.json"));
	accepted($r, scalar @$want, scalar @$want, "$n.1 $name: 200, "
	    . scalar(@$want) . ' new');
	is_deeply(open_types($s), $want, "$n.2 $name opens @$want");
	is(get_server($s)->{disk_health_rollup}, $rollup,
	    "$n.3 $name: disk_health_rollup $rollup");
	# Healthy again: state alerts clear, an event alert stays.
	step();
	$r = push_snap($s->{api_key}, $HEALTHY);
	my @left = $name eq 'sel-critical' ? @$want : ();
	accepted($r, 0, scalar @left, "$n.4 $name, then healthy: "
	    . (@left ? 'the event alert stays' : 'its alerts resolve'));
	is(get_server($s)->{disk_health_rollup}, 'healthy',
	    "$n.5 $name, then healthy: rollup healthy again");
}

# A full squashfs snap and a full ISO image beside a 40 % root: health's
# disk_max_percent, the disk rule and the filesystem history agree.
{
	my $snapfs = new_server('bm-snapfs');
	my $j = decode_json($HEALTHY);
	$_->{percent_used} = 40 for grep { $_->{percent_used} > 40 }
	    @{ $j->{disks} };
	push @{ $j->{disks} }, { device => '/dev/loop3', mount => '/snap/core/1',
	    fstype => 'squashfs', total_gb => 0.1, used_gb => 0.1,
	    available_gb => 0, percent_used => 100 },
	    { device => '/dev/sr0', mount => '/media/cdrom', fstype => 'iso9660',
	    total_gb => 0.7, used_gb => 0.7, available_gb => 0,
	    percent_used => 100 };
	step();
	accepted(push_snap($snapfs->{api_key}, encode_json($j)), 0, 0,
	    '2.27 full squashfs and iso9660 mounts: no alert');
	is(health($snapfs)->{current}{disk_max_percent}, 40,
	    '2.28 disk_max_percent 40: the images are skipped');
	is(sql('SELECT count(*) FROM fs_usage WHERE server_id = '
	    . row_id($snapfs) . " AND mount IN ('/snap/core/1',"
	    . " '/media/cdrom')"), 0, '2.29 nor kept in the filesystem history');
}

# --- 3. state alerts over time ----------------------------------------

my $HOT = fixture('baremetal-gpu-hot.json');
my $st = new_server('state-1');
step();
accepted(push_snap($st->{api_key}, $HOT), 1, 1, '3.1 a hot GPU opens an alert');
my $a1 = alert_of($st, 'gpu_temperature_high');
my $t1 = iso($now);
is($a1->{opened_at}, $t1, '3.2 opened now');
step();
accepted(push_snap($st->{api_key}, $HOT), 0, 1,
    '3.3 the same condition again: no new alert');
is(sql("SELECT count(*) FROM alert WHERE server_id = ${\ row_id($st)}"
    . " AND rule = 'gpu_temperature_high' AND status = 'open'"), 1,
    '3.4 exactly one open alert of the rule');
my $a1b = alert_of($st, 'gpu_temperature_high');
is($a1b->{id}, $a1->{id}, '3.5 the same alert');
is($a1b->{last_seen_at}, iso($now), '3.6 last_seen_at moved to now');
is($a1b->{opened_at}, $t1, '3.7 opened_at kept');
is(outbox($a1->{id}, 'firing'), 1, '3.8 notified once');
step();
accepted(push_snap($st->{api_key}, $HEALTHY), 0, 0,
    '3.9 a snapshot that no longer fires it');
my $a1c = alert_of($st, 'gpu_temperature_high', 'resolved');
ok($a1c && $a1c->{id} eq $a1->{id} && $a1c->{status} eq 'resolved',
    '3.10 the alert is resolved') or diag explain $a1c;
is($a1c->{resolve_reason}, 'cleared', '3.11 resolve_reason cleared');
is($a1c->{resolved_at}, iso($now), '3.12 resolved_at now');
is(outbox($a1->{id}, 'resolved'), 1, "3.13 a 'resolved' outbox row");
step();
accepted(push_snap($st->{api_key}, $HOT), 1, 1, '3.14 firing again later');
my $a2 = alert_of($st, 'gpu_temperature_high');
ok($a2 && $a2->{id} ne $a1->{id}, '3.15 is a new alert');
is(alert_of($st, 'gpu_temperature_high', 'resolved')->{id}, $a1->{id},
    '3.16 the old one stays resolved');
is(outbox($a2->{id}, 'firing'), 1, '3.17 the new one is notified');

# warning -> critical -> warning on one alert
my $esc = new_server('state-2');
my $WARM = edit($HEALTHY, qr/"temp_c": 48,/, '"temp_c": 87,');
step();
accepted(push_snap($esc->{api_key}, $WARM), 1, 1, '3.18 87 C opens a warning');
my $e1 = alert_of($esc, 'gpu_temperature_high');
is($e1->{severity}, 'warning', '3.19 severity warning');
step();
accepted(push_snap($esc->{api_key}, $HOT), 0, 1, '3.20 94 C: no new alert');
my $e2 = alert_of($esc, 'gpu_temperature_high');
is($e2->{id}, $e1->{id}, '3.21 the same alert');
is($e2->{severity}, 'critical', '3.22 escalated to critical');
like($e2->{title}, qr/94/, '3.23 the title follows');
is(outbox($e1->{id}, 'firing'), 2, '3.24 getting worse notifies again');
step();
accepted(push_snap($esc->{api_key}, $WARM), 0, 1, '3.25 back to 87 C');
is(alert_of($esc, 'gpu_temperature_high')->{severity}, 'warning',
    '3.26 severity follows down');
is(outbox($e1->{id}, 'firing'), 2, '3.27 getting better is no news');

# --- 4. event alerts ------------------------------------------------------

sub uptime { edit($HEALTHY, qr/"uptime_seconds": 3456789/,
    "\"uptime_seconds\": $_[0]") }
my $rb = new_server('reboot-1');
step();
accepted(push_snap($rb->{api_key}, $HEALTHY), 0, 0, '4.1 up for 40 days');
step();
accepted(push_snap($rb->{api_key}, uptime(45)), 1, 1,
    '4.2 uptime 45 s a minute later: unexpected_reboot');
my $ur = alert_of($rb, 'unexpected_reboot');
ok($ur && $ur->{kind} eq 'event' && $ur->{severity} eq 'warning'
    && $ur->{occurrences} == 1, '4.3 a warning event, one occurrence')
    or diag explain $ur;
is($ur->{title}, 'The server rebooted unexpectedly', '4.4 title');
step();
accepted(push_snap($rb->{api_key}, uptime(106)), 0, 1,
    '4.5 up since (uptime 106 s): no new occurrence');
is(alert_of($rb, 'unexpected_reboot')->{occurrences}, 1, '4.6 still one');
step(1200);
accepted(push_snap($rb->{api_key}, uptime(30)), 0, 1,
    '4.7 a second reboot stacks on the open alert');
$ur = alert_of($rb, 'unexpected_reboot');
is($ur->{occurrences}, 2, '4.8 two occurrences');
is($ur->{title}, 'The server rebooted unexpectedly (2 times)',
    '4.9 title (2 times)');
is(outbox($ur->{id}, 'firing'), 2, '4.10 each occurrence notifies');
step();
accepted(push_snap($rb->{api_key}, uptime(91)), 0, 1,
    '4.11 a quiet snapshot leaves an event alert open');
step(1200);
accepted(push_snap($rb->{api_key}, edit(uptime(20), qr/^\{/,
    "{\n  \"expected_reboot\": true,")), 0, 1,
    '4.12 an announced reboot (expected_reboot) is not an occurrence');
is(alert_of($rb, 'unexpected_reboot')->{occurrences}, 2, '4.13 still two');

my $SEL = fixture('baremetal-sel-critical.json');
my $se = new_server('sel-1');
step();
accepted(push_snap($se->{api_key}, $SEL), 1, 1, '4.14 a critical SEL event');
my $sa = alert_of($se, 'ipmi_sel_critical');
is($sa->{occurrences}, 1, '4.15 one occurrence');
step();
accepted(push_snap($se->{api_key}, $SEL), 0, 1,
    '4.16 the same event in the next snapshot: nothing new');
$sa = alert_of($se, 'ipmi_sel_critical');
is($sa->{occurrences}, 1, '4.17 still one occurrence');
unlike($sa->{title}, qr/times/, '4.18 no "(N times)"');
is(outbox($sa->{id}, 'firing'), 1, '4.19 notified once');
step();
accepted(push_snap($se->{api_key}, $HEALTHY), 0, 1,
    '4.20 the event left the recent list: the alert stays');
my $SEL2 = edit($SEL, qr/"severity": "critical"\n      \}\n    \]/,
    "\"severity\": \"critical\"\n      },\n      {\"id\": 39, \"timestamp\":"
    . " \"2026-11-21T22:40:51Z\", \"sensor\": \"PS2 Status\","
    . " \"sensor_type\": \"Power Supply\", \"event\": \"Power Supply AC lost\","
    . " \"direction\": \"Asserted\", \"severity\": \"critical\"}\n    ]");
step();
accepted(push_snap($se->{api_key}, $SEL2), 0, 1,
    '4.21 a new critical event stacks');
$sa = alert_of($se, 'ipmi_sel_critical');
is($sa->{occurrences}, 2, '4.22 two occurrences');
like($sa->{title}, qr/\(2 times\)$/, '4.23 title (2 times)');

# --- 4b. rules that read the previous snapshot or the history ----------
# Ingest loads these only when a rule asks; what it loads must be the
# snapshots before the one being stored, never that one itself.

sub with_json {
	my ($body, $change) = @_;
	my $j = JSON::PP->new->decode($body);
	$change->($j);
	return JSON::PP->new->canonical->encode($j);
}

# "/" losing 20 GB an hour: empty in under 6 hours.
my $fill = new_server('fill-1');
for my $h (0 .. 3) {
	step($h ? 3600 : 61);
	my $body = with_json($HEALTHY, sub {
		my $d = $_[0]{disks}[0];
		$d->{available_gb} = 114.61 - 20 * $h;
		$d->{used_gb} = 219.94 - $d->{available_gb};
		$d->{percent_used} = int(100 * $d->{used_gb} / 219.94);
	});
	accepted(push_snap($fill->{api_key}, $body), $h == 3 ? 1 : 0,
	    $h == 3 ? 1 : 0, "4b.$h " . ($h == 3 ? 'the fourth snapshot '
	    . 'projects a fill' : 'too few snapshots to project'));
}
my $fa = alert_of($fill, 'disk_fill_projection');
ok($fa && $fa->{severity} eq 'critical', '4b.4 critical: full within 24 h')
    or diag explain $fa;
is($fa->{evidence}{mounts}[0]{points}, 4,
    '4b.5 three stored snapshots and this one, none counted twice');
is($fa->{evidence}{mounts}[0]{gb_per_day}, 480, '4b.6 the rate: 480 GB/day');

# Errors on an interface in two consecutive intervals: a warning.
my $ife = new_server('iferr-1');
my $ERRS = with_json($HEALTHY, sub { $_[0]{network}[0]{rx_errors} = 3 });
step();
accepted(push_snap($ife->{api_key}, $ERRS), 0, 0,
    '4b.7 errors in one interval: quiet');
step();
accepted(push_snap($ife->{api_key}, $ERRS), 1, 1,
    '4b.8 errors again in the next: interface_errors');
my $ia = alert_of($ife, 'interface_errors');
ok($ia && $ia->{severity} eq 'warning'
    && $ia->{evidence}{interfaces}[0]{previous_errors} == 3,
    '4b.9 a warning, with the previous interval\'s errors')
    or diag explain $ia;
step();
accepted(push_snap($ife->{api_key}, $HEALTHY), 0, 0,
    '4b.10 a clean interval resolves it');
# The same, the previous snapshot a row stored before compression
# (schema 010): its text in body, no body_zstd.
my $ifo = new_server('iferr-old');
step();
accepted(push_snap($ifo->{api_key}, $ERRS), 0, 0,
    '4b.10a errors in one interval, the row made as before 010');
sql("UPDATE snapshot_raw SET body = CAST(X'" . unpack('H*', $ERRS)
    . "' AS TEXT), body_zstd = NULL WHERE server_id = ${\ row_id($ifo)}");
is(raw_hex($ifo), uc unpack('H*', $ERRS), '4b.10b kiln-admin raw reads it');
step();
accepted(push_snap($ifo->{api_key}, $ERRS), 1, 1,
    '4b.10c errors again: the rules read the old row');
sql("UPDATE snapshot_raw SET body_zstd = X'28B52FFD00' WHERE server_id"
    . " = ${\ row_id($ifo)}");
my ($arc, $aout) = admin('raw', $ifo->{id});
ok($arc == 1 && $aout =~ /not a zstd frame|does not decompress/,
    '4b.10d a damaged frame: kiln-admin raw fails, saying so') or diag($aout);
is((admin('raw', new_server('never')->{id}))[0], 1,
    '4b.10e no snapshot yet: kiln-admin raw exits 1');

# Correctable ECC errors growing by 10 within a day: a warning.
my $ecc = new_server('ecc-1');
sub ecc_body {
	my ($n) = @_;
	return with_json($HEALTHY, sub {
	    $_[0]{ipmi}{ecc_errors}{correctable} = $n });
}
step();
accepted(push_snap($ecc->{api_key}, ecc_body(5)), 0, 0,
    '4b.11 5 correctable errors: quiet');
step(3600);
accepted(push_snap($ecc->{api_key}, ecc_body(14)), 0, 0,
    '4b.12 14 an hour later: 9 more, quiet');
step(3600);
accepted(push_snap($ecc->{api_key}, ecc_body(15)), 1, 1,
    '4b.13 15: 10 more within 24 h, ecc_errors');
my $ea = alert_of($ecc, 'ecc_errors');
ok($ea && $ea->{severity} eq 'warning'
    && $ea->{evidence}{correctable_24h_ago} == 5,
    '4b.14 a warning, counted from the oldest count of the day')
    or diag explain $ea;

# --- 4c. when an open alert was last seen --------------------------------
# An open state alert seen again, unchanged, costs no write: it follows
# its server's last_seen_at. Every way of leaving that state pins the
# time it was really last seen.

my $seen = new_server('seen-1');
sub seen_at { alert_of($seen, $_[0], $_[1])->{last_seen_at} }
step();
my $seen1 = $now;
accepted(push_snap($seen->{api_key}, $VM), 5, 5, '4c.1 the fixture opens five');
step();
my $seen2 = $now;
accepted(push_snap($seen->{api_key}, $VM), 0, 5, '4c.2 the same again');
my $ntp = alert_of($seen, 'ntp_not_synced');
is($ntp->{last_seen_at}, iso($seen2), '4c.3 last seen in the latest snapshot');
is($ntp->{opened_at}, iso($seen1), '4c.4 opened in the first');
is(sql("SELECT last_seen_at || ' ' || seen_with_server FROM alert"
    . " WHERE public_id = '$ntp->{id}'"), "$seen1 1",
    '4c.5 the unchanged alert was not written again');

step();
my $seen3 = $now;
my $BOOTING = with_json($VM, sub {
	$_[0]{system}{uptime_seconds} = 100;
	$_[0]{expected_reboot} = JSON::PP::true;
});
accepted(push_snap($seen->{api_key}, $BOOTING), 0, 5,
    '4c.6 inside the boot grace ntp_not_synced stays open');
is(seen_at('ntp_not_synced'), iso($seen2),
    '4c.7 ... last seen in the snapshot before the grace');
is(seen_at('no_firewall'), iso($seen3), '4c.8 a rule without grace: seen now');
step();
my $seen4 = $now;
accepted(push_snap($seen->{api_key}, $VM), 0, 5, '4c.9 past the grace');
is(seen_at('ntp_not_synced'), iso($seen4), '4c.10 ntp_not_synced seen again');

step();
my $seen5 = $now;
my $FIREWALLED = with_json($VM, sub {
	$_[0]{security}{firewall}{active} = JSON::PP::true });
accepted(push_snap($seen->{api_key}, $FIREWALLED), 0, 4,
    '4c.11 a firewall: no_firewall resolves');
my $nf = alert_of($seen, 'no_firewall', 'resolved');
is($nf->{last_seen_at}, iso($seen4), '4c.12 last seen in the snapshot before');
is($nf->{resolved_at}, iso($seen5), '4c.13 resolved by this one');

# A rule pass that fails is rolled back; the snapshot stays, and the
# open alerts were not judged on it.
sql("CREATE TRIGGER test_no_alert BEFORE INSERT ON alert"
    . " BEGIN SELECT RAISE(ABORT, 'test: alerts refused'); END");
step();
my $seen6 = $now;
accepted(push_snap($seen->{api_key}, $VM), 0, 4,
    '4c.14 a pass that fails (no_firewall can\'t reopen): still 200');
is(sql("SELECT count(*) FROM metric WHERE server_id = ${\ row_id($seen)}"
    . " AND ts = $seen6"), 1, '4c.15 the snapshot is kept');
is(get_server($seen)->{last_seen_at}, iso($seen6), '4c.16 the server was seen');
is(seen_at('ntp_not_synced'), iso($seen5),
    '4c.17 its alerts were last seen in the snapshot before');
sql('DROP TRIGGER test_no_alert');
step();
my $seen7 = $now;
accepted(push_snap($seen->{api_key}, $VM), 1, 5,
    '4c.18 the next pass opens no_firewall again');
is(seen_at('ntp_not_synced'), iso($seen7), '4c.19 and sees the others now');

# Resolving by hand: last seen in the server's latest snapshot.
my $kv = alert_of($seen, 'kernel_vulnerabilities');
status_is(req('alerts', 'POST', "/api/v1/alerts/$kv->{id}/resolve",
    token => $alice), 200, '4c.20 resolve by hand');
step();
is(seen_at('kernel_vulnerabilities', 'resolved'), iso($seen7),
    '4c.21 last seen in the latest snapshot, and stays so');

# An open alert of a rule this build doesn't know (a newer build's,
# rolled back) is not judged: it stops following the server.
sql("INSERT INTO alert (public_id, server_id, rule, kind, severity, title,"
    . " message, opened_at, last_seen_at, seen_with_server) VALUES"
    . " ('alr_stray', ${\ row_id($seen)}, 'future_rule', 'state',"
    . " 'warning', 'Future', 'Future', $seen7, $seen7, 1)");
accepted(push_snap($seen->{api_key}, $VM), undef, undef,
    '4c.22 a push with an unknown rule\'s alert open');
is(seen_at('future_rule'), iso($seen7),
    '4c.23 that alert was last seen in the snapshot before');

# --- 4d. the open alerts' index ------------------------------------------
# The rule pass reads open alerts from the index alert_open_state, and
# tells an unchanged one by content_hash without reading its row.

is(sql("SELECT count(*) FROM sqlite_master WHERE name IN"
    . " ('alert_open_state', 'alert_content_unhashed')"), 2,
    '4d.0 the index and the trigger that keeps its hashes honest exist');
my $hs = new_server('hash-1');
step();
accepted(push_snap($hs->{api_key}, $VM), 5, 5, '4d.1 the fixture opens five');
my $hid = row_id($hs);
is(sql("SELECT count(*) FROM alert WHERE server_id = $hid"
    . " AND status = 'open' AND content_hash IS NOT NULL"), 5,
    '4d.2 each open alert has its content hash');
my $hntp = alert_of($hs, 'ntp_not_synced');
sql("UPDATE alert SET title = 'Tampered' WHERE public_id = '$hntp->{id}'");
is(sql("SELECT coalesce(content_hash, 'none') FROM alert"
    . " WHERE public_id = '$hntp->{id}'"), 'none',
    '4d.3 content written without a new hash forgets the old one');
step();
accepted(push_snap($hs->{api_key}, $VM), 0, 5, '4d.4 the same snapshot again');
is(alert_of($hs, 'ntp_not_synced')->{title}, $hntp->{title},
    '4d.5 so the next pass writes the alert\'s content again');
ok(sql("SELECT content_hash IS NOT NULL FROM alert"
    . " WHERE public_id = '$hntp->{id}'"), '4d.6 with its hash');
# The evidence alone changing is a change too: the vulnerability's
# status is in the evidence, not in the title or the message.
my $hkv = alert_of($hs, 'kernel_vulnerabilities');
(my $restated = $VM) =~
    s/("name":"spec_store_bypass","status":")[^"]*/$1Vulnerable: restated/
    or die 'no spec_store_bypass in the fixture';
step();
accepted(push_snap($hs->{api_key}, $restated), 0, 5,
    '4d.7 a snapshot where only a vulnerability\'s status differs');
my ($ssb) = grep { $_->{name} eq 'spec_store_bypass' }
    @{ alert_of($hs, 'kernel_vulnerabilities')->{evidence}{unmitigated} };
is($ssb && $ssb->{status}, 'Vulnerable: restated',
    '4d.8 rewrites the alert\'s evidence');
is(alert_of($hs, 'kernel_vulnerabilities')->{title}, $hkv->{title},
    '4d.9 under the same title');

# --- 4e. the hourly roll-ups ---------------------------------------------
# A push adds its numbers to its server's one metric_hour row of that
# hour. Each metric's count, sum, min and max there must equal those of
# the hour's metric rows, a metric not measured (the VM has no
# temperature) counting nothing.

my $hr = new_server('hour-1');
my $h0 = (int($now / 3600) + 1) * 3600;
at($h0 + 5);
accepted(push_snap($hr->{api_key}, $VM), undef, undef, '4e.1 a push');
step();
accepted(push_snap($hr->{api_key}, edit($VM, qr/"idle_percent":51\.5/,
    '"idle_percent":81.5')), undef, undef,
    '4e.2 a push of other numbers in the same hour');
at($h0 + 3600 + 5);
accepted(push_snap($hr->{api_key}, $VM), undef, undef,
    '4e.3 a push the next hour');
my $hrid = row_id($hr);
is(sql("SELECT group_concat(bucket - $h0) FROM metric_hour"
    . " WHERE server_id = $hrid"), '0,3600', '4e.4 one row per hour');
my %col = (cpu => 'cpu', memory => 'ram', disk => 'disk', rx => 'rx_mbps',
    tx => 'tx_mbps', temperature => 'temp');
for my $m (sort keys %col) {
	my $c = $col{$m};
	is(sql("SELECT ${m}_n || '/' || ${m}_sum || '/' || coalesce(${m}_min,"
	    . " '-') || '/' || coalesce(${m}_max, '-') FROM metric_hour WHERE"
	    . " server_id = $hrid AND bucket = $h0"),
	    sql("SELECT count($c) || '/' || total($c) || '/' || coalesce("
	    . "min($c), '-') || '/' || coalesce(max($c), '-') FROM metric"
	    . " WHERE server_id = $hrid AND ts >= $h0 AND ts < $h0 + 3600"),
	    "4e.5 $m: count, sum, min and max of the hour's samples");
}
is(sql("SELECT cpu_n || ' ' || (cpu_min < cpu_max) || ' ' || temperature_n"
    . " FROM metric_hour WHERE server_id = $hrid AND bucket = $h0"), '2 1 0',
    '4e.6 two cpu samples that differ; no temperature');

# --- 5. the checks, in the order of SPEC 6 -----------------------------

my $k = new_server('keys-1');
my $c0 = counts();
step();
$r = push_snap(undef, $HEALTHY);
err_is($r, 401, 'invalid_key', '5.1 no key');
like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/,
    '5.2 WWW-Authenticate');
$r = push_snap(undef, $HEALTHY,
    headers => { Authorization => "Basic $k->{api_key}" });
err_is($r, 401, 'invalid_key', '5.3 not a Bearer token');
err_is(push_snap('gmk_cru_live_short', $HEALTHY), 401, 'invalid_key',
    '5.4 malformed key');
(my $typo = $k->{api_key}) =~
    s/_(....)$/'_' . ($1 eq 'AAAA' ? 'BBBB' : 'AAAA')/e;
err_is(push_snap($typo, $HEALTHY), 401, 'invalid_key', '5.5 bad checksum');
my $forged = forged_key('gmk_cru_live_', 'A' x 43);
err_is(push_snap($forged, $HEALTHY), 401, 'invalid_key',
    '5.6 well-formed, valid checksum, never issued');
# The key's server is looked up in the transaction, the parse after it.
err_is(push_snap($forged, '{not json'), 401, 'invalid_key',
    '5.6a never issued, and a body that is not JSON: the key comes first');
err_is(push_snap($typo, '[1, 2'), 401, 'invalid_key',
    '5.6b a bad checksum and a body that is not JSON: 401');
err_is(push_snap($alice, $HEALTHY), 401, 'invalid_key', '5.7 a session token');
err_is(push_snap(forged_key('gmk_acct_live_', 'B' x 43), $HEALTHY), 401,
    'invalid_key', '5.8 an account key');
my $gone = new_server('gone-1');
status_is(req('servers', 'DELETE', "/api/v1/servers/$gone->{id}?confirm=true",
    token => $alice), 200, '5.9 delete a server');
err_is(push_snap($gone->{api_key}, $HEALTHY), 401, 'invalid_key',
    "5.10 a deleted server's key");
my $rot = new_server('rot-1');
$r = req('servers', 'POST', "/api/v1/servers/$rot->{id}/rotate-key",
    token => $alice);
status_is($r, 200, '5.11 rotate the key');
err_is(push_snap($rot->{api_key}, $HEALTHY), 401, 'invalid_key',
    '5.12 the rotated-away key');
is(counts(), $c0, '5.13 nothing stored by refused keys');
accepted(push_snap($r->{json}{collector_key}, $HEALTHY), 0, 0,
    '5.14 the new key works');
$c0 = counts();
my $sus = new_server('sus-1');
admin('suspend', $sus->{id}, 'no_card_on_file');
err_is(push_snap($sus->{api_key}, $HEALTHY), 402, 'server_suspended',
    '5.15 a suspended server');
err_is(push_snap($sus->{api_key}, '{not json'), 402, 'server_suspended',
    '5.16 suspension is checked before the body is parsed');
# Over 64 KiB a body is parsed only after the key, the suspension and
# the gate (routes/ingest.c EARLY_PARSE_MAX); the answers are the same.
my $BIG_BAD = '{not json' . (' ' x (100 * 1024));
err_is(push_snap($forged, $BIG_BAD), 401, 'invalid_key',
    '5.16a 100 KiB that is not JSON, a never-issued key: 401');
err_is(push_snap($sus->{api_key}, $BIG_BAD), 402, 'server_suspended',
    '5.16b 100 KiB that is not JSON, a suspended server: 402');
is(counts(), $c0, '5.17 nothing stored for it');

my $PAD = $HEALTHY . (' ' x (600 * 1024 - length $HEALTHY));
err_is(push_snap(undef, $PAD), 413, 'payload_too_large',
    '5.18 600 KiB with no key: 413, the size is checked before the key');
err_is(push_snap($forged, $PAD), 413, 'payload_too_large',
    '5.19 600 KiB with a bad key: 413');
err_is(push_snap($k->{api_key}, $PAD), 413, 'payload_too_large',
    '5.20 600 KiB with a good key: 413');
err_is(push_snap($sus->{api_key}, $PAD), 413, 'payload_too_large',
    '5.21 600 KiB for a suspended server: 413');
my $MAX = $HEALTHY . (' ' x (512 * 1024 - length $HEALTHY));
err_is(push_snap($k->{api_key}, "$MAX "), 413, 'payload_too_large',
    '5.22 512 KiB + 1 byte: 413');
is(counts(), $c0, '5.23 nothing stored');
$r = push_snap($k->{api_key}, $MAX);
accepted($r, 0, 0, '5.24 exactly 512 KiB is accepted');
is(raw_hex($k), uc unpack('H*', $MAX), '5.25 and stored as sent');

# the gate: $k pushed at $now
my $tg = $now;
$c0 = counts();
at($tg + 10);
$r = push_snap($k->{api_key}, $HEALTHY);
err_is($r, 429, 'too_frequent', '5.26 a second push 10 s later');
is($r->{headers}{'retry-after'}, 45, '5.27 Retry-After 45');
at($tg + 20);
err_is(push_snap($k->{api_key}, '{not json'), 429, 'too_frequent',
    '5.28 the gate comes before the parse');
err_is(push_snap($k->{api_key}, $BIG_BAD), 429, 'too_frequent',
    '5.28a and before the late parse of 100 KiB');
at($tg + 54);
$r = push_snap($k->{api_key}, $HEALTHY);
err_is($r, 429, 'too_frequent', '5.29 54 s later');
is($r->{headers}{'retry-after'}, 1, '5.30 Retry-After 1');
at($tg + 54.999);
$r = push_snap($k->{api_key}, $HEALTHY);
err_is($r, 429, 'too_frequent', '5.31 54.999 s later');
is($r->{headers}{'retry-after'}, 1, '5.32 Retry-After rounds up to 1');
at($tg + 1);
$r = push_snap($k->{api_key}, $HEALTHY);
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/,
    '5.33 Retry-After whole seconds');
ok(($r->{headers}{'retry-after'} // 0) <= 55, '5.34 and at most 55');
is(counts(), $c0, '5.35 refused pushes store nothing');
at($tg + 55);
accepted(push_snap($k->{api_key}, $HEALTHY), 0, 0,
    '5.36 55 s later the gate is open (refusals did not move it)');

# parse and shape
$c0 = counts();
my $pk = $k->{api_key};
step();
for (['5.37', 'not json', 'not JSON'], ['5.38', '[]', 'an array'],
    ['5.39', '"snapshot"', 'a string'], ['5.40', '', 'an empty body'],
    ['5.41', '{"system":{},"cpu":{},"memory":{},"cpu":{}}', 'a duplicate key'],
    ['5.42', "$HEALTHY x", 'trailing garbage']) {
	err_is(push_snap($pk, $_->[1]), 400, 'invalid_json', "$_->[0] $_->[2]");
}
my $BIG = 'x' x (64 * 1024 + 1);
my $MIN = '"system":{},"cpu":{},"memory":{}';
for (['5.43', "{\"system\":{\"hostname\":\"$BIG\"},\"cpu\":{},\"memory\":{}}",
    'system.hostname', 'system.hostname'],
    ['5.44', "{$MIN,\"disks\":[{},{\"mount\":\"$BIG\"}]}", 'disks[1].mount',
    'disks[1].mount'],
    ['5.45', "{$MIN,\"future\":{\"notes\":[\"a\",\"$BIG\"]}}",
    'future.notes[1]', 'future.notes[1]'],
    ['5.46', "{$MIN,\"a" . ("\xc3\xa9" x 60) . "\":{\"b\":\"$BIG\"}}",
    'a' . ("\xc3\xa9" x 49) . '.b', 'its path, a long key cut whole'],
    ['5.47', "{$MIN,\"x\":" . ('{"' . ("\xc3\xa9" x 30) . '":') x 5
    . "\"$BIG\"" . ('}' x 5) . '}', 'x' . ('.' . ("\xc3\xa9" x 30)) x 4
    . '.' . ("\xc3\xa9" x 4), 'its path, cut at 255 bytes whole']) {
	# KilnTest decodes the body's bytes as they are: compare bytes.
	err_is(push_snap($pk, $_->[1]), 400, 'oversize_field',
	    "$_->[0] a string over 64 KiB names $_->[3]", field => $_->[2]);
}
err_is(push_snap($pk, "{$MIN,\"$BIG\":1}"), 400, 'oversize_field',
    '5.48 a key over 64 KiB');
# Larger than the parse's next chunk of memory (lib/arena.c): it gets
# one of its own, and the values after it still fit (make sanitize
# reports any byte written out of bounds).
err_is(push_snap($pk, "{$MIN,\"note\":\"" . ('x' x (300 * 1024))
    . '","after":[1,2,3]}'), 400, 'oversize_field',
    '5.48a a string of 300 KiB', field => 'note');
my $FIT = 'x' x (64 * 1024);
accepted(push_snap($pk, "{\"system\":{\"hostname\":\"$FIT\"},\"cpu\":{},"
    . '"memory":{}}'), 0, 0, '5.49 a string of exactly 64 KiB is accepted');
step();
$c0 = counts();
for (['5.50', '{"cpu":{},"memory":{}}', 'system', 'system missing'],
    ['5.51', '{"system":[],"cpu":{},"memory":{}}', 'system', 'system an array'],
    ['5.52', '{"system":{},"memory":{}}', 'cpu', 'cpu missing'],
    ['5.53', '{"system":{},"cpu":"busy","memory":{}}', 'cpu', 'cpu a string'],
    ['5.54', '{"system":{},"cpu":{},"memory":null}', 'memory', 'memory null'],
    ['5.55', '{"system":{},"cpu":{},"memory":7}', 'memory', 'memory a number'],
    ['5.56', "{$MIN,\"disks\":{\"/\":{}}}", 'disks', 'disks an object'],
    ['5.57', "{$MIN,\"network\":\"eth0\"}", 'network', 'network a string'],
    ['5.58', "{$MIN,\"smart\":{}}", 'smart', 'smart an object'],
    ['5.59', "{$MIN,\"raid\":true}", 'raid', 'raid a boolean'],
    ['5.60', "{$MIN,\"disks\":[{},5]}", 'disks[1]', 'a disk not an object'],
    ['5.61', "{$MIN,\"os_alerts\":[]}", 'os_alerts', 'os_alerts an array'],
    ['5.62', "{$MIN,\"ipmi\":{\"ecc_errors\":\"none\"}}", 'ipmi.ecc_errors',
    'ipmi.ecc_errors a string'],
    ['5.63', '{"system":{},"cpu":{"cores":{}},"memory":{}}', 'cpu.cores',
    'cpu.cores an object']) {
	err_is(push_snap($pk, $_->[1]), 400, 'invalid_snapshot',
	    "$_->[0] $_->[3]", field => $_->[2]);
}
err_is(push_snap($pk, edit($HEALTHY, qr/"idle_percent": 77.8/,
    '"idle_percent": "50"')), 400, 'invalid_snapshot',
    '5.64 cpu.idle_percent "50"', field => 'cpu.idle_percent');
err_is(push_snap($pk, edit($HEALTHY, qr/"percent_used": 38/,
    '"percent_used": true')), 400, 'invalid_snapshot',
    '5.65 disks[3].percent_used true', field => 'disks[3].percent_used');
is(counts(), $c0, '5.66 nothing stored by any of them');
err_is(push_snap($pk, $HEALTHY, content_type => 'text/plain'), 415,
    'unsupported_media_type', '5.67 a body that is not JSON by type');

# --- 6. hostile input -----------------------------------------------------

# A fractional uptime is a number like any other (the column keeps whole
# seconds).
my $fr = new_server('uptime-frac');
step();
accepted(push_snap($fr->{api_key}, edit($HEALTHY, qr/"uptime_seconds": 3456789/,
    '"uptime_seconds": 3456789.75')), 0, 0, '6.0 a fractional uptime');
is(sql("SELECT uptime_s FROM server WHERE id = ${\ row_id($fr)}"), 3456790,
    '6.0a stored as whole seconds');

my $ho = new_server('hostile-1');
my $hk = $ho->{api_key};
$c0 = counts();
step();
for my $cut (1, 2, int(length($HEALTHY) / 2), length($HEALTHY) - 2) {
	err_is(push_snap($hk, substr($HEALTHY, 0, $cut)), 400, 'invalid_json',
	    "6.1 truncated to $cut bytes");
}
err_is(push_snap($hk, "{$MIN,\"x\":" . ('[' x 10000) . (']' x 10000) . '}'),
    400, 'invalid_json', '6.2 arrays nested 10 000 deep');
err_is(push_snap($hk, "{$MIN,\"x\":" . ('{"a":' x 10000) . '1'
    . ('}' x 10000) . '}'), 400, 'invalid_json',
    '6.3 objects nested 10 000 deep');
# Over 64 KiB, parsed late (after the gate): the same answers.
err_is(push_snap($hk, substr($HEALTHY, 0, 100) . (' ' x (100 * 1024))), 400,
    'invalid_json', '6.3a 100 KiB truncated JSON');
err_is(push_snap($hk, edit($HEALTHY, qr/"idle_percent": 77.8/,
    '"idle_percent": "50"') . (' ' x (100 * 1024))), 400, 'invalid_snapshot',
    '6.3b 100 KiB with cpu.idle_percent "50"', field => 'cpu.idle_percent');
my $i = 0;
for my $lit (qw(NaN -NaN nan Infinity -Infinity inf 1e400 -1e400
    123456789012345678901234567890 -123456789012345678901234567890)) {
	$i++;
	err_is(push_snap($hk, "{$MIN,\"x\":$lit}"), 400, 'invalid_json',
	    "6.4.$i $lit in an unknown field");
	err_is(push_snap($hk, edit($HEALTHY, qr/"idle_percent": 77.8/,
	    "\"idle_percent\": $lit")), 400, 'invalid_json',
	    "6.5.$i $lit in cpu.idle_percent");
}
err_is(push_snap($hk, edit($HEALTHY, qr/"hostname": "db-prod-07.example.net"/,
    '"hostname": "db\u0000prod"')), 400, 'invalid_json',
    '6.6 \u0000 in system.hostname');
err_is(push_snap($hk, "{$MIN,\"note\":\"a\\u0000\"}"), 400, 'invalid_json',
    '6.7 \u0000 in an unknown field');
err_is(push_snap($hk, "{$MIN,\"a\\u0000b\":1}"), 400, 'invalid_json',
    '6.8 \u0000 in a key');
$i = 0;
for my $bad ("\xff", "\xc3\x28", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
    "\xe2\x82") {
	$i++;
	err_is(push_snap($hk, edit($HEALTHY, qr/"os_id": "debian"/,
	    "\"os_id\": \"deb${bad}ian\"")), 400, 'invalid_json',
	    "6.9.$i invalid UTF-8 " . unpack('H*', $bad));
}
err_is(push_snap($hk, "{$MIN,\"\xff\":1}"), 400, 'invalid_json',
    '6.10 invalid UTF-8 in a key');
err_is(push_snap($hk, "\xef\xbb\xbf$HEALTHY"), 400, 'invalid_json',
    '6.11 a byte-order mark');
is(counts(), $c0, '6.12 no refused push left a row behind');

# Deep but within the parser's limit: kept as an unknown block.
step();
my $DEEP = "{$MIN,\"x\":" . ('[' x 2000) . (']' x 2000) . ',"y":'
    . ('{"a":' x 2000) . '1' . ('}' x 2000) . '}';
accepted(push_snap($hk, $DEEP), 0, undef, '6.13 2000 deep is accepted');
is(raw_hex($ho), uc unpack('H*', $DEEP), '6.14 and kept as sent');

# Out-of-range readings are stored, as "not measured".
for (['6.15', '"idle_percent": 77.8', '"idle_percent": -5', 'cpu', 'NULL',
    'idle_percent -5'],
    ['6.16', '"idle_percent": 77.8', '"idle_percent": 250', 'cpu', 'NULL',
    'idle_percent 250'],
    ['6.17', '"used_mb": 20731', '"used_mb": 99999999', 'ram', 'NULL',
    'used_mb above total_mb'],
    ['6.18', '"swap_used_mb": 0', '"swap_used_mb": -1', 'swap_mb', 'NULL',
    'swap_used_mb -1'],
    ['6.19', '"max_cpu_celsius": 54', '"max_cpu_celsius": 4000', 'temp',
    '52.0', 'hwmon at 4000 C: dropped, the BMC\'s CPU Temp stands in'],
    ['6.20', '"iowait_percent": 1.1,', '"iowait_percent": 1e300,', 'iowait',
    'NULL', 'iowait_percent 1e300']) {
	my ($n, $from, $to, $col, $want, $what) = @$_;
	my $body = edit($HEALTHY, qr/\Q$from\E/, $to);
	$body = edit($body, qr/"value_celsius": 54/, '"value_celsius": 4000')
	    if $col eq 'temp';
	step();
	$c0 = counts();
	accepted(push_snap($hk, $body), undef, undef, "$n $what: stored");
	my ($raw, $met) = split m{/}, $c0;
	is(counts(), ($raw + 1) . '/' . ($met + 1), "$n.1 one raw and one metric row");
	is(metric($ho, $col), $want, "$n.2 metric.$col is $want");
}
is(health($ho)->{current}{cpu_percent}, 22.2,
    '6.21 health shows the latest snapshot\'s cpu');
step();
accepted(push_snap($hk, edit($HEALTHY, qr/"idle_percent": 77.8/,
    '"idle_percent": -5')), undef, undef, '6.22 idle_percent -5 again');
ok(!defined health($ho)->{current}{cpu_percent},
    '6.23 health current cpu_percent null');
ok(!(grep { $_->{alert_type} eq 'cpu_high' } @{ alerts($ho) }),
    '6.24 and cpu_high does not fire on it');

# Every known numeric field of the contract, given a wrong type.
my $src = do {
	open my $fh, '<', "$FindBin::Bin/../lib/snapshot.c" or die $!;
	local $/;
	<$fh>;
};
my ($table) = $src =~ /known_numbers\[\]\s*=\s*\{(.*?)\n\};/s;
my @known;
while ($table =~ /\{\s*"([\w.]+)",\s*(\d),\s*\{([^}]*)\}\s*\}/g) {
	my ($block, $each, $fields) = ($1, $2, $3);
	push @known, [ $block, $each, $_ ] for $fields =~ /"(\w+)"/g;
}
ok(@known >= 60 && (grep { "$_->[0].$_->[2]" eq 'cpu.idle_percent' } @known)
    && (grep { "$_->[0].$_->[2]" eq 'ipmi.ecc_errors.uncorrectable' } @known),
    '6.25 the known numeric fields read from lib/snapshot.c') or diag
    scalar(@known) . ' fields';

# A snapshot where every block of the table exists; arrays have two items.
sub typed_body {
	my ($block, $each, $field, $raw) = @_;
	my %s = (system => { hostname => 'typed' }, cpu => { cores => [ {}, {} ] },
	    memory => {}, disks => [ { mount => '/' }, { mount => '/srv' } ],
	    smart => [ {}, {} ], network => [ {}, {} ], os_alerts => {},
	    thermal => {}, conntrack => {}, file_descriptors => {},
	    ipmi => { ecc_errors => {} }, gpu => { devices => [ {}, {} ] });
	my ($top, $sub) = split /\./, $block;
	my $node = defined $sub ? $s{$top}{$sub} : $s{$top};
	die "no block $block" unless defined $node;
	$node = $node->[1] if $each;
	$node->{$field} = '__BAD__';
	my $json = JSON::PP->new->canonical->encode(\%s);
	$json =~ s/"__BAD__"/$raw/;
	return $json;
}
my @wrong = ('"12"', 'true', '{}', '[]', 'false', '"NaN"', '[1]', '{"v":1}');
step();
$c0 = counts();
$i = 0;
my @misses;
for my $kf (@known) {
	my ($block, $each, $field) = @$kf;
	my $want = $each ? "${block}[1].$field" : "$block.$field";
	for my $raw ('"12"', $wrong[1 + $i++ % (@wrong - 1)]) {
		$r = push_snap($hk, typed_body($block, $each, $field, $raw));
		push @misses, "$want = $raw: $r->{status} $r->{raw}"
		    unless $r->{status} == 400 && $r->{json}
		    && $r->{json}{error} eq 'invalid_snapshot'
		    && ($r->{json}{field} // '') eq $want;
	}
}
ok(!@misses, '6.26 each of ' . scalar(@known) . ' known numeric fields, '
    . 'given a string and another non-number, is 400 invalid_snapshot naming '
    . 'it') or diag join "\n", @misses;
is(counts(), $c0, '6.27 none of them stored anything');
step();
my $nulls;
{
	my $all = decode_json(typed_body('system', 0, 'uptime_seconds', 'null'));
	for my $kf (@known) {
		my ($block, $each, $field) = @$kf;
		my ($top, $sub) = split /\./, $block;
		my $node = defined $sub ? $all->{$top}{$sub} : $all->{$top};
		$_->{$field} = undef for $each ? @$node : ($node);
	}
	$nulls = JSON::PP->new->canonical->encode($all);
}
accepted(push_snap($hk, $nulls), undef, undef,
    '6.28 null in every known numeric field is accepted');
is(sql('SELECT count(*) FROM metric WHERE server_id = ' . row_id($ho)
    . " AND ts = $now AND cpu IS NULL AND iowait IS NULL AND load1 IS NULL"
    . ' AND ram IS NULL AND swap_mb IS NULL AND disk IS NULL AND temp IS NULL'
    . ' AND gpu_util IS NULL AND gpu_temp IS NULL AND ecc_corr IS NULL'), 1,
    '6.29 and is "not measured" in the metric row');

# 10 000 disks: under 512 KiB, the disk rules still run.
my @disks = map { { mount => "/d/$_", percent_used => 50 } } 0 .. 9998;
push @disks, { mount => '/d/9999', percent_used => 96 };
my $MANY = JSON::PP->new->canonical->encode({ system => { uptime_seconds =>
    86400 }, cpu => { idle_percent => 90 }, memory => {}, disks => \@disks });
ok(length $MANY < 512 * 1024, '6.30 10 000 disks fit in 512 KiB')
    or diag length $MANY;
step();
accepted(push_snap($hk, $MANY), undef, undef, '6.31 10 000 disks are accepted');
my $dsh = alert_of($ho, 'disk_space_high');
ok($dsh && $dsh->{severity} eq 'critical' && $dsh->{title} =~ m{/d/9999},
    '6.32 disk_space_high names the last of them') or diag explain $dsh;
is(metric($ho, 'disk'), '96.0', '6.33 metric disk is the fullest');

# Unknown blocks and fields are kept as sent.
my $EXT = edit($HEALTHY, qr/^\{/, "{\n  \"future_block\": {\"nested\": [1,"
    . " 2.50, \"x\", {\"deep\": null}], \"flag\": true},\n  \"zz_count\":"
    . ' 1e2,');
$EXT = edit($EXT, qr/"kernel": "6.1.0-27-amd64",/,
    '"kernel": "6.1.0-27-amd64", "kernel_cmdline": "quiet \u00e9",');
$EXT = edit($EXT, qr/"percent_used": 38,/,
    '"percent_used": 38, "discard_max_bytes": 2199023255040,');
step();
accepted(push_snap($hk, $EXT), undef, undef,
    '6.34 unknown blocks and fields are accepted');
is(raw_hex($ho), uc unpack('H*', $EXT), '6.35 and the raw body is unchanged');

# Long non-ASCII mount points: rules cut them to fit titles and lists,
# never in the middle of a character (the API would drop the field).
my $E100 = "\xc3\xa9" x 100;
my $LONG = edit($HEALTHY, qr/"mount": "\/var\/lib\/postgresql",/,
    "\"mount\": \"/srv/$E100\",");
$LONG = edit($LONG, qr/"percent_used": 38,/, '"percent_used": 98,');
$LONG = edit($LONG, qr/"mount": "\/boot",/, "\"mount\": \"/srv$E100\",");
$LONG = edit($LONG, qr/"percent_used": 22,/, '"percent_used": 97,');
step();
accepted(push_snap($hk, $LONG), undef, undef,
    '6.36 two full disks with 200-byte mount points');
$dsh = alert_of($ho, 'disk_space_high');
like($dsh->{title} // '', qr{^Disk /srv/\xc3\xa9}, '6.37 the alert has a title')
    or diag explain $dsh;
like($dsh->{message} // '', qr{: /srv\xc3\xa9}, '6.38 and a message');

# --- 7. two pushes at the same instant ---------------------------------------

my $cc = new_server('concurrent-1');
for my $round (1 .. 5) {
	step();
	my ($rd, $wr);
	pipe($rd, $wr) or die "pipe: $!";
	my @kids;
	for (1 .. 2) {
		my ($fh, $file) = tempfile(UNLINK => 1);
		my $pid = fork;
		die "fork: $!" unless defined $pid;
		if ($pid == 0) {
			close $wr;
			sysread $rd, my $go, 1;	# EOF: the parent let go
			local $SIG{PIPE} = 'IGNORE';
			my $x = cgi('ingest', 'POST', '/api/v1/ingest',
			    token => $cc->{api_key}, body => $HEALTHY);
			print $fh join("\t", $x->{status}, $x->{json}
			    ? $x->{json}{error} // 'ok' : '-', $x->{exit},
			    $x->{stderr} // ''), "\n";
			close $fh;
			_exit(0);
		}
		push @kids, [ $pid, $file ];
	}
	my $before = sql('SELECT count(*) FROM snapshot_raw WHERE server_id = '
	    . row_id($cc));
	close $rd;
	close $wr;
	waitpid $_->[0], 0 for @kids;
	my @res = map {
		open my $in, '<', $_->[1] or die $!;
		my $l = <$in> // "0\t-\t0\t";
		chomp $l;
		[ split /\t/, $l, 4 ];
	} @kids;
	for (@res) {
		push @bad_exits, "concurrent ingest: exit $_->[2]\n$_->[3]"
		    if $_->[2] != 0;
	}
	is(join(' ', sort map { "$_->[0] $_->[1]" } @res), '200 ok 429 too_frequent',
	    "7.$round.1 one 200 and one 429 too_frequent");
	is(sql('SELECT count(*) FROM snapshot_raw WHERE server_id = '
	    . row_id($cc)), $before + 1, "7.$round.2 exactly one snapshot added");
}

# --- 8. both thermal shapes ------------------------------------------------

my $th = new_server('thermal-1');
my $CONTRACT = '{"chip": "coretemp-isa-0000", "label": "Package id 0",'
    . ' "celsius": 61}';
my $AGENT = '{"label": "k10temp Tctl", "value_celsius": 67.5,'
    . ' "source_chip": "k10temp", "source": "hwmon"}';
for (['8.1', $CONTRACT, 61, '{chip,label,celsius}'],
    ['8.2', $AGENT, 67.5, '{label,value_celsius,source_chip,source}'],
    ['8.3', "$CONTRACT, $AGENT", 67.5, 'both in one list'],
    ['8.4', "$AGENT, " . ($CONTRACT =~ s/61/71/r), 71,
    'both, the other hotter']) {
	my $body = edit($HEALTHY, qr/"max_cpu_celsius": 54/,
	    '"max_cpu_celsius": null');
	$body = edit($body, qr/"cpu_readings": \[.*?\]/s,
	    "\"cpu_readings\": [$_->[1]]");
	step();
	accepted(push_snap($th->{api_key}, $body), 0, undef, "$_->[0] $_->[3]");
	is(health($th)->{current}{cpu_temp_c}, $_->[2],
	    "$_->[0].1 cpu_temp_c $_->[2]");
}

# --- 9. cadence ------------------------------------------------------------

my $ca = new_server('cadence-1');
my $interval = sub { sql('SELECT coalesce(interval_s, \'NULL\') FROM server'
    . ' WHERE id = ' . row_id($ca)) };
step();
push_snap($ca->{api_key}, $HEALTHY);
is($interval->(), 'NULL', '9.1 one push: no cadence yet');
step(120);
push_snap($ca->{api_key}, $HEALTHY);
step(120);
accepted(push_snap($ca->{api_key}, $HEALTHY), 0, 0,
    '9.2 three pushes 120 s apart');
is($interval->(), '120.0', '9.3 interval_s 120');
step(1000);
push_snap($ca->{api_key}, $HEALTHY);
is($interval->(), '180.0', '9.4 a 1000 s gap is clamped to 1.5x: 180');
step(60);
push_snap($ca->{api_key}, $HEALTHY);
is($interval->(), '135.0', '9.5 a 60 s gap is clamped to 0.75x: 135');
step(4000);
push_snap($ca->{api_key}, $HEALTHY);
is($interval->(), '135.0', '9.6 a gap over an hour is not a cadence');

# --- 10. methods and paths ---------------------------------------------------

for my $m (qw(GET PUT DELETE PATCH)) {
	$r = req('ingest', $m, '/api/v1/ingest', token => $k->{api_key});
	err_is($r, 405, 'method_not_allowed', "10.1 $m /api/v1/ingest");
	is($r->{headers}{allow}, 'POST', "10.2 $m: Allow: POST");
}
for my $p ('/api/v1/ingest/x', '/api/v1/ingestx', '/api/v1/ingest/x/y',
    '/api/v1/ingest//') {
	err_is(req('ingest', 'POST', $p, token => $k->{api_key}, body => $HEALTHY),
	    404, 'not_found', "10.3 POST $p");
}

# --- 11. the per-IP bucket comes first -------------------------------------

new_env(rate_ip => 100000, rate_ingest_ip => 3);
for (1 .. 3) {
	err_is(push_snap(undef, $HEALTHY), 401, 'invalid_key', "11.$_ no key");
}
$r = push_snap(undef, $PAD);
err_is($r, 429, 'rate_limited', '11.4 the 4th from the IP, 600 KiB: 429');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, '11.5 Retry-After');
err_is(push_snap(undef, $PAD, ip => '198.51.100.7'), 413, 'payload_too_large',
    '11.6 another address has its own bucket');

# --- 12. the processes --------------------------------------------------------

ok(!@bad_exits, '12.1 every route run exited 0')
    or diag(join "\n", @bad_exits);

done_testing();
