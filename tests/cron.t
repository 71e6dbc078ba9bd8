#!/usr/bin/perl
# cron: the jobs watchdog, alert-ttl and retention, each run as cron runs
# it (one pass, then exit) with KILN_FAKE_NOW at the moment of interest,
# against servers made through kiln-servers and rows written with the
# sqlite3 CLI; and their lock.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl qw(:flock);
use POSIX ();
use IPC::Open2 ();
use JSON::PP;
use KilnTest;

my $T0 = 1767225600;		# 2026-01-01T00:00:00Z: servers are made then
my $MIN = 60;
my $HOUR = 3600;
my $DAY = 86400;

# Runs bin/kiln-cron-<job> once at Unix time $now. Returns { exit => code,
# out => stdout, err => stderr }. %env adds to the environment.
sub job {
	my ($job, $now, %env) = @_;
	my $dir = $ENV{KILN_VAR_DIR};
	local %ENV = (%ENV, KILN_FAKE_NOW => $now, %env);
	system(bin_dir() . "/kiln-cron-$job >'$dir/job.out' 2>'$dir/job.err'");
	my %r = (exit => $? == -1 ? -1 : $? & 127 ? 128 + ($? & 127) : $? >> 8);
	for my $k (qw(out err)) {
		open my $fh, '<', "$dir/job.$k" or die "$dir/job.$k: $!";
		local $/;
		$r{$k} = <$fh> // '';
	}
	print STDERR "kiln-cron-$job: $r{err}"
	    if $ENV{KILN_TEST_VERBOSE} && length $r{err};
	return \%r;
}

# Asserts a clean run; diagnoses with stderr.
sub job_ok {
	my ($r, $name) = @_;
	is($r->{exit}, 0, $name) or diag($r->{err});
}

# A server made through the API at $T0; returns its row id.
my %api_key;
sub server {
	my ($token, $name) = @_;
	my $s = create_server($token, name => $name);
	my $id = sql("SELECT id FROM server WHERE public_id = "
	    . "'$s->{server}{id}'");
	$api_key{$id} = $s->{server}{api_key};
	return $id;
}

# Sets a server's reporting state: last seen at $seen (undef: never), the
# cadence $interval (undef: unknown).
sub seen {
	my ($id, $seen, $interval) = @_;
	sql(sprintf('UPDATE server SET last_seen_at = %s, interval_s = %s '
	    . 'WHERE id = %d', $seen // 'NULL', $interval // 'NULL', $id));
}

sub unreachable {
	my ($id, $status) = @_;
	return sql("SELECT count(*) FROM alert WHERE server_id = $id AND "
	    . "rule = 'server_unreachable'"
	    . (defined $status ? " AND status = '$status'" : ''));
}

# The server_unreachable notifications of a server.
sub outbox {
	my ($id, $event) = @_;
	return sql("SELECT count(*) FROM notify_outbox o JOIN alert a ON "
	    . "a.id = o.alert_id WHERE a.server_id = $id AND o.event = '$event' "
	    . "AND a.rule = 'server_unreachable'");
}

# --- 1. watchdog --------------------------------------------------------

new_env(rate_ip => 100000, free_server_quota => 100);
$ENV{KILN_FAKE_NOW} = $T0;
my $token = register_user('cron@example.com');
my %s = map { $_ => server($token, "web-$_") }
    qw(silent fresh muted never unknown patient suspended fast forever);
my $r;
for (['patient', '10'], ['forever', '1e300']) {
	my ($name, $factor) = @$_;
	my $pid = sql("SELECT public_id FROM server WHERE id = $s{$name}");
	$r = cgi('servers', 'PATCH', "/api/v1/servers/$pid", token => $token,
	    body => '{"config_overrides":{"server_unreachable":'
	    . "{\"interval_factor\":$factor}}}");
	is($r->{status}, 200, "1.0 $name: overrides set") or diag($r->{raw});
}
delete $ENV{KILN_FAKE_NOW};

my $t1 = $T0 + 19 * $MIN;		# before the never-reported limit
seen($s{silent}, $t1 - 700, 300);	# 700 s > 2 x 300
seen($s{fresh}, $t1 - 100, 300);
seen($s{muted}, $t1 - 700, 300);
sql("INSERT INTO mute (server_id, rule, created_at) VALUES ($s{muted}, "
    . "'server_unreachable', $T0)");
seen($s{unknown}, $t1 - 590, undef);	# 590 s < 2 x the default 300
seen($s{patient}, $t1 - 700, 300);	# 700 s < 10 x 300
seen($s{suspended}, $t1 - 7000, 300);
sql("UPDATE server SET status = 'suspended', suspended_at = $T0 "
    . "WHERE id = $s{suspended}");
seen($s{fast}, $t1 - 130, 60);		# 130 s > 2 x 60
seen($s{forever}, $t1 - 1000, 60);	# 1e300 x 60 s: never

$r = job('watchdog', $t1);
job_ok($r, '1.1 watchdog exits 0');
is(unreachable($s{silent}, 'open'), 1, '1.2 silent server raised');
my ($title, $sev, $kind, $ev) = split /\|/, sql("SELECT title, severity, "
    . "kind, evidence FROM alert WHERE server_id = $s{silent}");
is($title, 'web-silent stopped reporting', '1.3 title names the server');
is($sev, 'critical', '1.4 critical');
is($kind, 'state', '1.5 a state alert');
my $e = eval { decode_json($ev) } || {};
is($e->{last_seen_at}, '2026-01-01T00:07:20Z', '1.6 evidence last_seen_at');
is($e->{interval_s}, 300, '1.7 evidence interval_s');
is($e->{silent_for_s}, 700, '1.8 evidence silent_for_s');
is(outbox($s{silent}, 'firing'), 1, '1.9 one firing notification queued');
is(sql("SELECT offline_since FROM server WHERE id = $s{silent}"), $t1,
    '1.10 offline_since set');
is(unreachable($s{fresh}), 0, '1.11 fresh server left alone');
is(sql("SELECT offline_since IS NULL FROM server WHERE id = $s{fresh}"), 1,
    '1.12 fresh server not offline');
is(unreachable($s{muted}), 0, '1.13 muted server not raised');
is(sql("SELECT offline_since FROM server WHERE id = $s{muted}"), $t1,
    '1.14 muted server still marked offline');
is(unreachable($s{never}), 0, '1.15 never reported, 19 min: not yet');
is(unreachable($s{unknown}), 0, '1.16 unknown cadence: 300 s default');
is(unreachable($s{patient}), 0, '1.17 interval_factor override honoured');
is(unreachable($s{suspended}), 0, '1.18 suspended server skipped');
is(unreachable($s{fast}, 'open'), 1, '1.19 fast cadence: 2 x 60 s');
is(unreachable($s{forever}), 0, '1.20 a huge interval_factor: never');
like($r->{out}, qr/^watchdog: 3 newly offline, 2 alerts raised$/m,
    '1.21 what it did, on stdout');

# 20 minutes exactly is not more than 20 minutes.
$r = job('watchdog', $T0 + 20 * $MIN);
job_ok($r, '2.1 second run exits 0');
is(unreachable($s{silent}), 1, '2.2 no second alert');
is(outbox($s{silent}, 'firing'), 1, '2.3 no second notification');
$e = eval { decode_json(sql("SELECT evidence FROM alert WHERE "
    . "server_id = $s{silent}")) } || {};
is($e->{silent_for_s}, 700 + $MIN, '2.4 evidence refreshed');
is(sql("SELECT offline_since FROM server WHERE id = $s{silent}"), $t1,
    '2.5 offline_since kept from the first run');
is(unreachable($s{never}), 0, '2.6 never reported, 20 min: not yet');
is(unreachable($s{unknown}, 'open'), 1,
    '2.7 unknown cadence: raised past 600 s');
is($r->{out}, "watchdog: 1 newly offline, 1 alerts raised\n",
    '2.8 only the news said');

sql("INSERT INTO mute (server_id, rule, created_at) VALUES ($s{fast}, "
    . "'server_unreachable', $T0)");
$r = job('watchdog', $T0 + 21 * $MIN);
job_ok($r, '3.1 third run exits 0');
is(unreachable($s{never}, 'open'), 1, '3.2 never reported, 21 min: raised');
like(sql("SELECT title FROM alert WHERE server_id = $s{never}"),
    qr/^web-never .*never reported/, '3.3 title says never');
$e = eval { decode_json(sql("SELECT evidence FROM alert WHERE "
    . "server_id = $s{never}")) } || {};
ok(exists $e->{last_seen_at} && !defined $e->{last_seen_at},
    '3.4 evidence last_seen_at null');
is($e->{silent_for_s}, 21 * $MIN, '3.5 silent since creation');
is(outbox($s{never}, 'firing'), 1, '3.6 its firing notification');
is(sql("SELECT status || ' ' || resolve_reason FROM alert WHERE "
    . "server_id = $s{fast}"), 'resolved muted',
    '3.7 muting resolves the open alert');
is(outbox($s{fast}, 'resolved'), 1, '3.8 with a resolved notification');

# Its next snapshot resolves the alert; then the watchdog leaves it be.
$r = do {
	local $ENV{KILN_FAKE_NOW} = $T0 + 21 * $MIN;
	cgi('ingest', 'POST', '/api/v1/ingest', token => $api_key{$s{silent}},
	    body => fixture('snapshot-debian12-vm.json'));
};
is($r->{status}, 200, '3.9 the silent server reports') or diag($r->{raw});
is(sql("SELECT status || ' ' || resolve_reason FROM alert WHERE "
    . "server_id = $s{silent} AND rule = 'server_unreachable'"),
    'resolved cleared', '3.10 ingest resolves server_unreachable');
is(sql("SELECT offline_since IS NULL FROM server WHERE id = $s{silent}"), 1,
    '3.11 and clears offline_since');
$r = job('watchdog', $T0 + 22 * $MIN);
job_ok($r, '3.12 exits 0');
is(unreachable($s{silent}, 'open'), 0, '3.13 back online: not raised');

# --- 4. alert-ttl -------------------------------------------------------

my $t2 = $T0 + 10 * $DAY;
my $n = 0;
# An alert on a server: rule, kind, last seen, acknowledged?
sub alert {
	my ($server, $rule, $kind, $last, $acked) = @_;
	$n++;
	sql("INSERT INTO alert (public_id, server_id, rule, kind, severity, "
	    . "title, message, opened_at, last_seen_at, acknowledged_at) VALUES "
	    . "('alr_ttl$n', $server, '$rule', '$kind', 'warning', 't', 'm', "
	    . "$T0, $last, " . ($acked ? $last : 'NULL') . ')');
	return sql("SELECT id FROM alert WHERE public_id = 'alr_ttl$n'");
}
my $old = alert($s{fresh}, 'unexpected_reboot', 'event', $t2 - 25 * $HOUR);
my $young = alert($s{unknown}, 'unexpected_reboot', 'event',
    $t2 - 23 * $HOUR);
my $state = alert($s{patient}, 'cpu_high', 'state', $t2 - 48 * $HOUR);
my $acked = alert($s{patient}, 'ipmi_sel_critical', 'event',
    $t2 - 30 * $HOUR, 1);
my $outbox_before = sql('SELECT count(*) FROM notify_outbox');

$r = job('alert-ttl', $t2);
job_ok($r, '4.1 alert-ttl exits 0');
is(sql("SELECT status, resolve_reason, resolved_at FROM alert WHERE "
    . "id = $old"), "resolved|ttl_expired|$t2", '4.2 25 h old event resolved');
is(sql("SELECT count(*) FROM notify_outbox WHERE alert_id = $old AND "
    . "event = 'resolved'"), 0,
    '4.3 an event has no "resolved" news (SPEC 9: state alerts only)');
is(sql("SELECT status FROM alert WHERE id = $young"), 'open',
    '4.4 23 h old event left open');
is(sql("SELECT status FROM alert WHERE id = $state"), 'open',
    '4.5 old state alert left open');
is(sql("SELECT status || ' ' || resolve_reason FROM alert WHERE "
    . "id = $acked"), 'resolved ttl_expired', '4.6 acknowledged event too');
is(sql("SELECT count(*) FROM notify_outbox WHERE alert_id = $acked"), 0,
    '4.7 acknowledged: no notification');
is(sql('SELECT count(*) FROM notify_outbox'), $outbox_before,
    '4.8 no row queued');
like($r->{out}, qr/^alert-ttl: resolved 2$/m, '4.9 summary on stdout');
$r = job('alert-ttl', $t2 + 5 * $MIN);
job_ok($r, '4.10 second run exits 0');
is(sql('SELECT count(*) FROM notify_outbox'), $outbox_before,
    '4.11 second run queues nothing');
is($r->{out}, '', '4.12 and says nothing');
$r = job('alert-ttl', $t2 + 2 * $HOUR);
is(sql("SELECT status FROM alert WHERE id = $young"), 'resolved',
    '4.13 the younger one expires in its turn');

# --- 5. retention -------------------------------------------------------

new_env(rate_ip => 100000);
$ENV{KILN_FAKE_NOW} = $T0;
$token = register_user('keep@example.com');
my ($x, $y) = map { server($token, "ret-$_") } qw(x y);
# A mistyped password: the count is kept in rate.db (which only sign-ins
# open), and forgotten with the stale lock below.
is(cgi('auth', 'POST', '/api/v1/auth/login', body => { email =>
    'keep@example.com', password => 'wrong' })->{status}, 401,
    '5.0 a failed sign-in');
delete $ENV{KILN_FAKE_NOW};
my $acct = sql("SELECT account_id FROM user WHERE email = 'keep\@example.com'");
my $uid = sql("SELECT id FROM user WHERE email = 'keep\@example.com'");
my $t3 = $T0 + 400 * $DAY;
my $ms = $t3 * 1000;

sql(join ';',
    # x: two expired raw snapshots and a recent one; y: only expired ones.
    map({ "INSERT INTO snapshot_raw (server_id, ts_ms, body) VALUES "
	. "($_->[0], $_->[1], '{\"h\":$_->[2]}')" }
	[$x, $ms - 30 * $HOUR * 1000, 1], [$x, $ms - 25 * $HOUR * 1000, 2],
	[$x, $ms - 1 * $HOUR * 1000, 3], [$y, $ms - 48 * $HOUR * 1000, 4],
	[$y, $ms - 30 * $HOUR * 1000, 5]),
    "INSERT INTO metric (server_id, ts, cpu) VALUES ($x, $t3 - 89 * $DAY, 1),"
	. " ($x, $t3 - 91 * $DAY, 2), ($y, $t3 - 91 * $DAY, 3)",
    "INSERT INTO metric_hour (server_id, bucket, cpu_n, cpu_sum, cpu_min,"
	. " cpu_max) VALUES ($x, $t3 - 364 * $DAY, 1, 1, 1, 1),"
	. " ($x, $t3 - 366 * $DAY, 1, 2, 2, 2),"
	. " ($x, $t3 - 367 * $DAY, 1, 3, 3, 3)",
    "INSERT INTO fs_usage (server_id, mount, ts, avail_gb, total_gb) VALUES"
	. " ($x, '/', $t3 - 6 * $DAY, 1, 2), ($x, '/', $t3 - 8 * $DAY, 1, 2)",
    "INSERT INTO alert_occurrence (server_id, rule, key, seen_at) VALUES"
	. " ($x, 'unexpected_reboot', 'keep', $t3 - 29 * $DAY),"
	. " ($x, 'unexpected_reboot', 'old', $t3 - 31 * $DAY)",
    "INSERT INTO session (token_hash, user_id, created_at, expires_at) VALUES"
	. " (x'01', $uid, $t3 - $DAY, $t3), (x'02', $uid, $t3, $t3 + $HOUR)",
    "INSERT INTO email_token (token_hash, user_id, purpose, expires_at,"
	. " used_at) VALUES (x'01', $uid, 'reset', $t3 + $HOUR, $t3 - 1),"
	. " (x'02', $uid, 'reset', $t3 + $HOUR, NULL)",
    "INSERT INTO idempotency (account_id, key, request_hash, created_at)"
	. " VALUES ($acct, 'old', x'00', $t3 - 25 * $HOUR),"
	. " ($acct, 'new', x'00', $t3 - 23 * $HOUR)",
    "INSERT INTO alert (public_id, server_id, rule, kind, severity, title,"
	. " message, opened_at, last_seen_at) VALUES ('alr_r', $x, 'cpu_high',"
	. " 'state', 'warning', 't', 'm', $t3, $t3)",
    "INSERT INTO notify_outbox (alert_id, event, created_at, done_at) SELECT"
	. " id, 'firing', $t3 - 9 * $DAY, $t3 - 8 * $DAY FROM alert UNION ALL"
	. " SELECT id, 'firing', $t3 - 7 * $DAY, $t3 - 6 * $DAY FROM alert"
	. " UNION ALL SELECT id, 'firing', $t3 - 30 * $DAY, NULL FROM alert",
    "INSERT INTO notify_attempt (at, ok, duration_ms) VALUES"
	. " ($t3 - 31 * $DAY, 1, 5), ($t3 - 29 * $DAY, 1, 5)",
    "INSERT INTO mail_outbox (recipient, subject, body, created_at,"
	. " sent_at, failed_at) VALUES"
	. " ('old-sent', 's', '', $t3 - 9 * $DAY, $t3 - 8 * $DAY, NULL),"
	. " ('new-sent', 's', '', $t3 - 7 * $DAY, $t3 - 6 * $DAY, NULL),"
	. " ('old-failed', 's', 'b', $t3 - 9 * $DAY, NULL, $t3 - 8 * $DAY),"
	. " ('pending', 's', 'b', $t3 - 30 * $DAY, NULL, NULL)",
    "INSERT INTO stripe_event (event_id, type, created, received_at) VALUES"
	. " ('evt_old', 'x', 0, $t3 - 31 * $DAY),"
	. " ('evt_new', 'x', 0, $t3 - 29 * $DAY)");
# 12 000 more expired metric rows of y: more than two batches of 5000.
sql("WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i "
    . "WHERE n < 12000) INSERT INTO metric (server_id, ts) "
    . "SELECT $y, $t3 - 100 * $DAY - n FROM i");
sql("INSERT INTO login_failure (email_hash, failures, locked_until) VALUES "
    . "('stale', 5, $t3 - 2 * $DAY), ('locked', 5, $t3 + 10 * $MIN)",
    'rate.db');

$r = job('retention', $t3);
job_ok($r, '5.1 retention exits 0');
is(sql("SELECT group_concat(body, ' ') FROM (SELECT body FROM snapshot_raw "
    . "WHERE server_id = $x ORDER BY ts_ms)"), '{"h":3}',
    '5.2 expired raw snapshots deleted, the recent one kept');
is(sql("SELECT group_concat(body, ' ') FROM snapshot_raw WHERE "
    . "server_id = $y"), '{"h":5}',
    '5.3 the latest raw snapshot is kept even when old');
is(sql("SELECT group_concat(ts) FROM metric WHERE server_id = $x"),
    $t3 - 89 * $DAY,
    '5.4 89-day metric kept, 91-day deleted');
is(sql("SELECT count(*) FROM metric WHERE server_id = $y"), 0,
    '5.5 every expired metric row of y, across batches');
is(sql("SELECT group_concat(cpu_sum) FROM metric_hour"), '1.0',
    '5.6 364-day roll-up kept, 366-day ones deleted');
is(sql("SELECT ts FROM fs_usage"), $t3 - 6 * $DAY,
    '5.7 6-day fs_usage kept, 8-day deleted');
is(sql("SELECT key FROM alert_occurrence"), 'keep',
    '5.8 29-day occurrence kept, 31-day deleted');
is(sql("SELECT hex(token_hash) FROM session"), '02',
    '5.9 expired sessions deleted (the register one too)');
is(sql("SELECT hex(token_hash) FROM email_token"), '02',
    '5.10 used and expired email tokens deleted');
is(sql("SELECT key FROM idempotency"), 'new',
    '5.11 idempotency rows older than 24 h deleted');
is(sql("SELECT group_concat(coalesce(done_at, 'pending')) FROM "
    . "(SELECT done_at FROM notify_outbox ORDER BY id)"),
    ($t3 - 6 * $DAY) . ',pending',
    '5.12 outbox rows delivered over 7 days ago deleted, pending kept');
# The token buckets live in rate.shm, where a full one is a free slot.
is(sql("SELECT count(*) FROM sqlite_schema WHERE name = 'rate_bucket'",
    'rate.db'), 0, '5.13 rate.db has no bucket table to purge');
is(sql('SELECT count(*) FROM server'), 2, '5.14 servers untouched');
is(sql("SELECT count(*) FROM alert"), 1, '5.15 alerts untouched');
is(sql('SELECT at FROM notify_attempt'), $t3 - 29 * $DAY,
    '5.16 29-day delivery attempt kept, 31-day deleted');
is(sql("SELECT group_concat(recipient, ' ') FROM (SELECT recipient FROM"
    . " mail_outbox WHERE recipient <> 'keep\@example.com' ORDER BY id)"),
    'new-sent pending', '5.17 emails sent or given up over 7 days ago'
    . ' deleted; recent and pending ones kept');
is(sql('SELECT event_id FROM stripe_event'), 'evt_new',
    '5.18 Stripe event ids older than 30 days forgotten');
is(sql('SELECT email_hash FROM login_failure', 'rate.db'), 'locked',
    '5.18a a sign-in lock over a day old and a failure never locked '
    . 'forgotten, a current lock kept');
# audit_log: the setup's two POST /servers at $T0, past audit_retention_days.
my $want = 'retention: snapshot_raw=3 metric=12002 metric_hour=2 '
    . 'fs_usage=1 alert_occurrence=1 session=2 email_token=2 idempotency=1 '
    . 'notify_outbox=1 notify_attempt=1 mail_outbox=2 audit_log=2 '
    . 'stripe_event=1 login_failure=2';
is($r->{out}, "$want\n", '5.19 one summary line') or diag($r->{err});

$r = job('retention', $t3 + $MIN);
job_ok($r, '5.20 second run exits 0');
like($r->{out}, qr/^retention:( \w+=0)+\n\z/, '5.21 deletes nothing more');

$r = job('retention', $t3, KILN_RAW_RETENTION_HOURS => 0);
is($r->{exit}, 1, '5.22 raw_retention_hours = 0 is refused');
like($r->{err}, qr/raw_retention_hours/, '5.23 naming the key');
is(sql('SELECT count(*) FROM snapshot_raw'), 2, '5.24 nothing deleted');

# Configured ages: keep raw snapshots 48 h.
sql("INSERT INTO snapshot_raw (server_id, ts_ms, body) VALUES "
    . "($x, $ms - 47 * $HOUR * 1000, 'a'), ($x, $ms - 49 * $HOUR * 1000, 'b')");
$r = job('retention', $t3, KILN_RAW_RETENTION_HOURS => 48);
job_ok($r, '5.25 raw_retention_hours = 48 runs');
is(sql("SELECT group_concat(body, ' ') FROM (SELECT body FROM snapshot_raw "
    . "WHERE server_id = $x ORDER BY ts_ms)"), 'a {"h":3}',
    '5.26 the 47 h one kept, the 49 h one deleted');

# --- 5b. retention does not rewrite what it frees ----------------------

# 3 MB of expired raw snapshots, deleted while a reader holds the WAL
# (so nothing is checkpointed away): the WAL grows by far less than what
# was deleted. With SQLite's secure_delete on (Debian's build), every
# freed page would be written again as zeros.
{
	sql("WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i "
	    . "WHERE n < 2000) INSERT INTO snapshot_raw (server_id, ts_ms, body)"
	    . " SELECT $y, $ms - 100 * $HOUR * 1000 - n, hex(randomblob(750))"
	    . " FROM i");
	sql('PRAGMA wal_checkpoint(TRUNCATE)');
	my $wal = "$ENV{KILN_VAR_DIR}/kiln.db-wal";
	is(-s $wal // 0, 0, '5b.1 the WAL is empty before the run');
	my $reader = IPC::Open2::open2(my $from, my $to, 'sqlite3',
	    "$ENV{KILN_VAR_DIR}/kiln.db");
	print $to "BEGIN; SELECT count(*) FROM server;\n";
	$to->flush;
	my $seen = <$from>;		# the reader's snapshot is taken
	$r = job('retention', $t3);
	job_ok($r, '5b.2 retention with a reader in the WAL exits 0');
	# (and the 47 h one that 5.25 kept under a 48 h setting)
	like($r->{out}, qr/ snapshot_raw=2001 /, '5b.3 it deleted the 2000');
	my $grew = -s $wal // 0;
	ok($grew > 0 && $grew < 750 * 1024, "5b.4 the WAL grew by $grew bytes "
	    . 'for 3 MB deleted');
	print $to "COMMIT;\n.quit\n";
	close $to;
	waitpid($reader, 0);
}

# --- 6. the lock and failures ------------------------------------------

my $dir = $ENV{KILN_VAR_DIR};
seen($y, $t3 - $HOUR, 300);
open my $lock, '>>', "$dir/cron-watchdog.lock" or die "lock: $!";
flock($lock, LOCK_EX) or die "flock: $!";
$r = job('watchdog', $t3);
job_ok($r, '6.1 a run that finds the lock taken exits 0');
like($r->{err}, qr/skipped: another run holds .*cron-watchdog\.lock/,
    '6.2 saying it skipped');
is(unreachable($y), 0, '6.3 and doing nothing');
$r = job('retention', $t3);
job_ok($r, '6.4 another job has its own lock');
close $lock;
$r = job('watchdog', $t3);
job_ok($r, '6.5 lock released: the run goes ahead');
is(unreachable($y, 'open'), 1, '6.6 and raises');

# Two at once: whichever order they take, one alert, one notification.
seen($x, $t3 - $HOUR, 300);
my @kids;
for (1 .. 2) {
	my $kid = fork() // die "fork: $!";
	if ($kid == 0) {
		local %ENV = (%ENV, KILN_FAKE_NOW => $t3);
		exec(bin_dir() . '/kiln-cron-watchdog >/dev/null 2>&1')
		    or POSIX::_exit(127);
	}
	push @kids, $kid;
}
my @exits = map { waitpid($_, 0); $? } @kids;
is("@exits", '0 0', '6.7 two concurrent runs both exit 0');
is(unreachable($x), 1, '6.8 one alert');
is(outbox($x, 'firing'), 1, '6.9 one notification');

$r = job('watchdog', $t3, KILN_DB_PATH => "$dir/empty.db");
is($r->{exit}, 1, '6.10 an unmigrated database fails the run');
like($r->{err}, qr/kiln-migrate/, '6.11 saying what to do');
$r = job('alert-ttl', $t3, KILN_VAR_DIR => '/nonexistent/kiln-var');
is($r->{exit}, 1, '6.12 no var dir: fails');
like($r->{err}, qr/^kiln-cron-alert-ttl: error: /m, '6.13 on stderr, named');

done_testing();
