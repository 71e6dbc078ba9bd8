#!/usr/bin/perl
# alerts: POST /alerts/:id/acknowledge, POST /alerts/:id/resolve and
# GET/PUT /servers/:id/mutes through kiln-alerts as plain CGI against a
# fresh database. Alerts come from pushing the real fixture through
# kiln-ingest (five open on it); the time is KILN_FAKE_NOW throughout so
# every timestamp can be asserted exactly.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use KilnTest;

new_env(rate_ip => 100000);

my $ISO_RE = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my @FIXTURE_RULES = sort qw(no_firewall pending_security_updates
    unattended_upgrades_disabled ntp_not_synced kernel_vulnerabilities);
my $T0 = 1779444000;		# 2026-05-22T10:00:00Z

# Every route process must exit 0: under `make sanitize` a leak or UB
# report makes the process fail after it has already answered.
my @bad_exits;

sub at {
	my ($t) = @_;
	my @g = gmtime $t;
	$ENV{KILN_FAKE_NOW} = sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ',
	    $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0];
	return $ENV{KILN_FAKE_NOW};
}

# One request to kiln-alerts.
sub req {
	my ($method, $uri, %o) = @_;
	my $r = cgi('alerts', $method, $uri, %o);
	push @bad_exits, "$method $uri: exit $r->{exit}\n$r->{stderr}"
	    if $r->{exit} != 0;
	return $r;
}

sub ack { req('POST', "/api/v1/alerts/$_[1]/acknowledge", token => $_[0]) }
sub resolve { req('POST', "/api/v1/alerts/$_[1]/resolve", token => $_[0]) }
sub mutes_get { req('GET', "/api/v1/servers/$_[1]/mutes", token => $_[0]) }

sub mutes_put {
	my ($token, $srv, $body) = @_;
	return req('PUT', "/api/v1/servers/$srv/mutes", token => $token,
	    body => $body);
}

sub outbox {
	my ($event) = @_;
	return sql("SELECT count(*) FROM notify_outbox WHERE event = '$event'");
}

# The public id of a server's alert of rule (the newest one).
sub alert_id {
	my ($srv, $rule) = @_;
	return sql("SELECT a.public_id FROM alert a JOIN server s"
	    . " ON s.id = a.server_id WHERE s.public_id = '$srv'"
	    . " AND a.rule = '$rule' ORDER BY a.id DESC LIMIT 1");
}

# Pushes the fixture snapshot to a server through kiln-ingest: it opens
# five alerts the first time.
sub push_fixture {
	my ($server) = @_;
	my $r = cgi('ingest', 'POST', '/api/v1/ingest',
	    token => $server->{api_key},
	    body => fixture('snapshot-debian12-vm.json'));
	die "ingest: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return $r;
}

at($T0);
my $alice = register_user('alice@example.com');
my $bob = register_user('bob@example.com');
my $carol = register_user('carol@example.com');
admin('plan', 'alice@example.com', 'pro');
admin('plan', 'bob@example.com', 'pro');
my $s1 = create_server($alice, name => 'web-1')->{server};
my $s2 = create_server($alice, name => 'web-2')->{server};
my $sb = create_server($bob, name => 'bob-1')->{server};
my $sc = create_server($carol, name => 'carol-1')->{server};

# --- 1. the alerts the fixture opens ----------------------------------

my $r = push_fixture($s1);
is($r->{json}{new_alerts}, 5, '1.1 the fixture opens five alerts')
    or diag($r->{raw});
is(sql("SELECT group_concat(rule, ' ') FROM (SELECT a.rule FROM alert a"
    . " JOIN server s ON s.id = a.server_id WHERE s.public_id = '$s1->{id}'"
    . " AND a.status = 'open' ORDER BY a.rule)"), "@FIXTURE_RULES",
    '1.2 exactly the five fixture rules are open');
push_fixture($sc);
my $fw = alert_id($s1->{id}, 'no_firewall');
my $ntp = alert_id($s1->{id}, 'ntp_not_synced');
my $kv = alert_id($s1->{id}, 'kernel_vulnerabilities');
like($fw, qr/^alr_[0-9a-f]{20}$/, '1.3 alert ids are alr_ + 20 hex');

# --- 2. acknowledge ----------------------------------------------------

my $firing = outbox('firing');
my $resolved = outbox('resolved');
my $t_ack = at($T0 + 10);
$r = ack($alice, $ntp);
status_is($r, 200, '2.1 acknowledge answers 200');
my $j = $r->{json} || {};
is_deeply([sort keys %$j], [sort qw(id server_id alert_type kind severity
    title message evidence status occurrences opened_at last_seen_at
    acknowledged_at resolved_at resolve_reason)],
    '2.2 the alert has exactly these fields');
is($j->{id}, $ntp, '2.3 id');
is($j->{server_id}, $s1->{id}, '2.4 server_id is the public id');
is($j->{alert_type}, 'ntp_not_synced', '2.5 alert_type is the rule');
is($j->{kind}, 'state', '2.6 kind');
is($j->{severity}, 'critical', '2.7 severity (no daemon, past grace)');
is($j->{status}, 'active', '2.8 status active');
is($j->{acknowledged_at}, $t_ack, '2.9 acknowledged_at is now');
ok(!defined $j->{resolved_at} && !defined $j->{resolve_reason},
    '2.10 resolved_at and resolve_reason null');
is($j->{opened_at}, at($T0), '2.11 opened_at');
like($j->{last_seen_at} // '', $ISO_RE, '2.12 last_seen_at ISO 8601');
is(ref $j->{evidence}, 'HASH', '2.13 evidence is an object');
is($j->{occurrences}, 1, '2.14 occurrences');
ok(length($j->{title} // '') && length($j->{message} // ''),
    '2.15 title and message');
is(sql("SELECT acknowledged_by = (SELECT id FROM user WHERE email ="
    . " 'alice\@example.com') FROM alert WHERE public_id = '$ntp'"), 1,
    '2.16 acknowledged_by is the caller');
at($T0 + 20);
$r = ack($alice, $ntp);
status_is($r, 200, '2.17 acknowledging again answers 200');
is($r->{json}{acknowledged_at}, $t_ack, '2.18 acknowledged_at unchanged');
is(outbox('firing') . '/' . outbox('resolved'), "$firing/$resolved",
    '2.19 acknowledging queues no notification');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    '2.20 content type');

# --- 3. resolve --------------------------------------------------------

my $t_res = at($T0 + 30);
$r = resolve($alice, $fw);
status_is($r, 200, '3.1 resolve answers 200');
$j = $r->{json} || {};
is($j->{id}, $fw, '3.2 the alert resolved');
is($j->{status}, 'resolved', '3.3 status resolved');
is($j->{resolve_reason}, 'manual', '3.4 resolve_reason manual');
is($j->{resolved_at}, $t_res, '3.5 resolved_at is now');
ok(!defined $j->{acknowledged_at}, '3.6 acknowledged_at null');
is(outbox('resolved'), $resolved + 1,
    '3.7 resolving an unacknowledged alert queues one resolved row');
is(sql("SELECT count(*) FROM notify_outbox o JOIN alert a ON a.id ="
    . " o.alert_id WHERE a.public_id = '$fw' AND o.event = 'resolved'"),
    1, '3.8 the row is for that alert');
at($T0 + 40);
$r = resolve($alice, $fw);
status_is($r, 200, '3.9 resolving again answers 200');
is($r->{json}{resolved_at}, $t_res, '3.10 resolved_at unchanged');
is(outbox('resolved'), $resolved + 1, '3.11 no second outbox row');
$r = resolve($alice, $ntp);
status_is($r, 200, '3.12 resolve an acknowledged alert');
is($r->{json}{status} . '/' . ($r->{json}{resolve_reason} // ''),
    'resolved/manual', '3.13 it is resolved, manual');
is($r->{json}{acknowledged_at}, $t_ack, '3.14 acknowledged_at kept');
is(outbox('resolved'), $resolved + 1,
    '3.15 an acknowledged alert resolves without a notification');
$r = ack($alice, $fw);
err_is($r, 409, 'alert_resolved', '3.16 acknowledging a resolved alert');
is(sql("SELECT acknowledged_at IS NULL FROM alert WHERE public_id = '$fw'"),
    1, '3.17 ... changes nothing');
is(sql("SELECT count(*) FROM alert a JOIN server s ON s.id = a.server_id"
    . " WHERE s.public_id = '$s1->{id}' AND a.status = 'open'"), 3,
    '3.18 the other three stay open');

# --- 4. not found --------------------------------------------------------

$r = ack($bob, $kv);
err_is($r, 404, 'not_found', "4.1 acknowledging another account's alert");
$r = resolve($bob, $kv);
err_is($r, 404, 'not_found', "4.2 resolving another account's alert");
is(sql("SELECT status || '/' || (acknowledged_at IS NULL) FROM alert"
    . " WHERE public_id = '$kv'"), 'open/1', '4.3 ... leaves it untouched');
my @bad_ids = ('alr_0000000000000000000z', 'alr_' . ('0' x 19),
    'alr_' . ('0' x 21), 'ALR_' . ('0' x 20), 'alr_' . ('A' x 20),
    'srv_' . substr($kv, 4), 'x');
for my $i (0 .. $#bad_ids) {
	err_is(ack($alice, $bad_ids[$i]), 404, 'not_found',
	    "4.4.$i acknowledge malformed id '$bad_ids[$i]'");
	err_is(resolve($alice, $bad_ids[$i]), 404, 'not_found',
	    "4.5.$i resolve malformed id '$bad_ids[$i]'");
}
err_is(ack($alice, 'alr_' . ('0' x 20)), 404, 'not_found',
    '4.6 acknowledge an unknown well-formed id');
err_is(resolve($alice, 'alr_' . ('0' x 20)), 404, 'not_found',
    '4.7 resolve an unknown well-formed id');
for my $p ('/alerts', "/alerts/$kv", "/alerts/$kv/close",
    "/alerts/$kv/resolve/now", "/servers/$s1->{id}/mutes/x") {
	err_is(req('POST', "/api/v1$p", token => $alice), 404, 'not_found',
	    "4.8 no endpoint $p");
}

# --- 5. tier, methods, authentication ----------------------------------

my $ckv = alert_id($sc->{id}, 'kernel_vulnerabilities');
$r = ack($carol, $ckv);
err_is($r, 402, 'pro_required', '5.1 acknowledge on the free plan');
is($r->{json}{upgrade_url}, 'http://kiln.test/billing', '5.2 upgrade_url');
err_is(resolve($carol, $ckv), 402, 'pro_required',
    '5.3 resolve on the free plan');
is(sql("SELECT status || '/' || (acknowledged_at IS NULL) FROM alert"
    . " WHERE public_id = '$ckv'"), 'open/1', '5.4 ... changes nothing');
# The gate answers before the lookup: a free account can't probe ids.
err_is(ack($carol, $kv), 402, 'pro_required',
    "5.5 402 (not 404) for another account's alert");
err_is(resolve($carol, 'alr_' . ('0' x 20)), 402, 'pro_required',
    '5.6 402 (not 404) for an unknown alert');
err_is(ack($carol, 'bogus'), 402, 'pro_required',
    '5.7 402 (not 404) for a malformed id');
admin('plan', 'carol@example.com', 'pro');
status_is(ack($carol, $ckv), 200, '5.8 acknowledge once on Pro');
$r = req('GET', "/api/v1/alerts/$kv/acknowledge", token => $alice);
err_is($r, 405, 'method_not_allowed', '5.9 GET acknowledge');
is($r->{headers}{allow}, 'POST', '5.10 Allow: POST');
$r = req('PUT', "/api/v1/alerts/$kv/resolve", token => $alice);
err_is($r, 405, 'method_not_allowed', '5.11 PUT resolve');
is($r->{headers}{allow}, 'POST', '5.12 Allow: POST');
$r = req('POST', "/api/v1/alerts/$kv/acknowledge");
err_is($r, 401, 'unauthorized', '5.13 no token');
$r = req('POST', "/api/v1/alerts/$kv/acknowledge", token => 'nope');
is($r->{status}, 401, '5.14 a bad token');
$r = req('POST', "/api/v1/alerts/$kv/resolve", token => $s1->{api_key});
err_is($r, 403, 'insufficient_scope', '5.15 a collector key');
$r = req('GET', "/api/v1/servers/$s1->{id}/mutes", token => $s1->{api_key});
err_is($r, 403, 'insufficient_scope', '5.16 a collector key on mutes');
is(sql("SELECT status FROM alert WHERE public_id = '$kv'"), 'open',
    '5.17 kernel_vulnerabilities still open');

# --- 6. GET mutes ----------------------------------------------------------

$r = mutes_get($alice, $s1->{id});
status_is($r, 200, '6.1 GET mutes');
$j = $r->{json} || {};
is_deeply([sort keys %$j], [qw(muted_rules rules server_id)],
    '6.2 exactly server_id, muted_rules, rules');
is($j->{server_id}, $s1->{id}, '6.3 server_id');
is_deeply($j->{muted_rules}, [], '6.4 nothing muted yet');
my @catalogue = @{ $j->{rules} || [] };
my %rule = map { $_->{id} => $_ } @catalogue;
ok(@catalogue >= 40, '6.5 the whole catalogue is listed')
    or diag(scalar @catalogue);
is(scalar(keys %rule), scalar @catalogue, '6.6 each rule once');
ok(!grep({ join(',', sort keys %$_) ne 'description,id,kind' } @catalogue),
    '6.7 each rule has exactly id, description, kind');
ok(!grep({ !length($_->{description} // '') } @catalogue),
    '6.8 every rule has a description');
ok((all_in(\%rule, @FIXTURE_RULES, qw(cpu_high server_unreachable))),
    '6.9 the fixture rules and server_unreachable are there');
is($rule{no_firewall}{kind}, 'state', '6.10 a state rule');
is($rule{unexpected_reboot}{kind}, 'event', '6.11 an event rule');
is($rule{ipmi_sel_critical}{kind}, 'event', '6.12 another event rule');
err_is(mutes_get($bob, $s1->{id}), 404, 'not_found',
    "6.13 another account's server");
err_is(mutes_get($alice, 'srv_' . ('0' x 20)), 404, 'not_found',
    '6.14 an unknown server');
err_is(mutes_get($alice, 'srv_nope'), 404, 'not_found',
    '6.15 a malformed server id');
admin('plan', 'carol@example.com', 'free');
status_is(mutes_get($carol, $sc->{id}), 200, '6.16 GET is not Pro-gated');
$r = req('DELETE', "/api/v1/servers/$s1->{id}/mutes", token => $alice);
err_is($r, 405, 'method_not_allowed', '6.17 DELETE mutes');
is($r->{headers}{allow}, 'GET, PUT', '6.18 Allow: GET, PUT');
status_is(req('GET', "/api/v1/servers/$s1->{id}/mutes/", token => $alice),
    200, '6.19 a trailing slash');

sub all_in {
	my ($h, @k) = @_;
	return !grep { !exists $h->{$_} } @k;
}

# --- 7. PUT mutes ---------------------------------------------------------

$r = mutes_put($alice, $s1->{id},
    { muted_rules => [qw(no_firewall cpu_high no_firewall)] });
status_is($r, 200, '7.1 PUT mutes');
is_deeply($r->{json}{muted_rules}, [qw(cpu_high no_firewall)],
    '7.2 sorted, duplicates collapsed');
is($r->{json}{server_id}, $s1->{id}, '7.3 answered like GET: server_id');
is(scalar @{ $r->{json}{rules} || [] }, scalar @catalogue,
    '7.4 answered like GET: the catalogue');
is_deeply(mutes_get($alice, $s1->{id})->{json}{muted_rules},
    [qw(cpu_high no_firewall)], '7.5 GET shows them');
is(sql("SELECT count(*) FROM mute"), 2, '7.6 two mute rows');
my $created = sql("SELECT created_at FROM mute WHERE rule = 'cpu_high'");
at($T0 + 50);
$r = mutes_put($alice, $s1->{id}, { muted_rules => [qw(cpu_high swap_high)] });
is_deeply($r->{json}{muted_rules}, [qw(cpu_high swap_high)],
    '7.7 the list is replaced');
is(sql("SELECT created_at FROM mute WHERE rule = 'cpu_high'"), $created,
    '7.8 a rule that stays muted keeps its row');
$r = mutes_put($alice, $s1->{id},
    { muted_rules => [qw(cpu_high bogus_rule swap_high)] });
err_is($r, 400, 'unknown_rule', '7.9 an unknown rule');
is($r->{json}{rule}, 'bogus_rule', '7.10 the envelope names it');
is_deeply(mutes_get($alice, $s1->{id})->{json}{muted_rules},
    [qw(cpu_high swap_high)], '7.11 nothing changed');
my @bad_bodies = ('{"muted_rules":"no_firewall"}', '{"muted_rules":{}}',
    '{"muted_rules":null}', '{}', '{"muted_rules":[1]}',
    '{"muted_rules":["cpu_high",null]}', '{"muted_rules":[["cpu_high"]]}',
    encode_json({ muted_rules => [('cpu_high') x (@catalogue + 1)] }));
for my $i (0 .. $#bad_bodies) {
	err_is(mutes_put($alice, $s1->{id}, $bad_bodies[$i]), 400,
	    'validation_failed', "7.12.$i invalid body " . substr($bad_bodies[$i],
	    0, 40), field => 'muted_rules');
}
err_is(mutes_put($alice, $s1->{id}, '{"muted_rules":'), 400, 'invalid_json',
    '7.13 malformed JSON');
err_is(mutes_put($alice, $s1->{id}, '["cpu_high"]'), 400, 'invalid_json',
    '7.14 not an object');
$r = mutes_put($alice, $s1->{id},
    { muted_rules => [map { $_->{id} } reverse @catalogue] });
status_is($r, 200, '7.15 the whole catalogue');
is_deeply($r->{json}{muted_rules}, [sort keys %rule], '7.16 all muted');
$r = mutes_put($alice, $s1->{id}, { muted_rules => [] });
status_is($r, 200, '7.17 an empty array');
is_deeply($r->{json}{muted_rules}, [], '7.18 unmutes all');
is(sql("SELECT count(*) FROM mute"), 0, '7.19 no mute rows left');
$r = mutes_put($carol, $sc->{id}, { muted_rules => ['cpu_high'] });
err_is($r, 402, 'pro_required', '7.20 PUT on the free plan');
is($r->{json}{upgrade_url}, 'http://kiln.test/billing', '7.21 upgrade_url');
err_is(mutes_put($carol, $s1->{id}, { muted_rules => [] }), 402,
    'pro_required', "7.22 402 (not 404) for another account's server");
sql("UPDATE user SET role = 'member' WHERE email = 'bob\@example.com'");
$r = mutes_put($bob, $sb->{id}, { muted_rules => ['cpu_high'] });
err_is($r, 403, 'forbidden', '7.23 a member may not change mutes');
status_is(mutes_get($bob, $sb->{id}), 200, '7.24 a member may read them');
sql("UPDATE user SET role = 'admin' WHERE email = 'bob\@example.com'");
status_is(mutes_put($bob, $sb->{id}, { muted_rules => ['cpu_high'] }), 200,
    '7.25 an admin may');
err_is(mutes_put($bob, $s1->{id}, { muted_rules => ['cpu_high'] }), 404,
    'not_found', "7.26 another account's server");
err_is(mutes_put($bob, $s1->{id}, '{"muted_rules":7}'), 404, 'not_found',
    "7.27 404 comes before the body check");
is(sql("SELECT count(*) FROM mute m JOIN server s ON s.id = m.server_id"
    . " WHERE s.public_id = '$s1->{id}'"), 0, '7.28 still nothing muted');
err_is(mutes_put($bob, 'srv_x', { muted_rules => [] }), 404, 'not_found',
    '7.29 a malformed server id');

# --- 8. a mute takes effect at the next ingest -------------------------

at($T0 + 100);
push_fixture($s2);
my $fw2 = alert_id($s2->{id}, 'no_firewall');
$r = mutes_put($alice, $s2->{id}, { muted_rules => ['no_firewall'] });
status_is($r, 200, '8.1 mute no_firewall');
is(sql("SELECT status FROM alert WHERE public_id = '$fw2'"), 'open',
    '8.2 the alert stays open until the next ingest');
$resolved = outbox('resolved');
at($T0 + 161);
$r = push_fixture($s2);
is($r->{json}{new_alerts}, 0, '8.3 the next ingest, 61 s later, opens none');
is($r->{json}{active_alerts}, 4, '8.4 four alerts remain active');
is(sql("SELECT status || '/' || resolve_reason || '/' || resolved_at"
    . " FROM alert WHERE public_id = '$fw2'"), "resolved/muted/"
    . ($T0 + 161), '8.5 no_firewall resolved, reason muted');
is(sql("SELECT count(*) FROM alert a JOIN server s ON s.id ="
    . " a.server_id WHERE s.public_id = '$s2->{id}'"
    . " AND a.rule = 'no_firewall'"), 1, '8.6 and not reopened');
is(outbox('resolved'), $resolved + 1, '8.7 one resolved notification');
mutes_put($alice, $s2->{id}, { muted_rules => [] });
at($T0 + 222);
$r = push_fixture($s2);
is($r->{json}{new_alerts}, 1, '8.8 unmuted, it fires again')
    or diag($r->{raw});
isnt(alert_id($s2->{id}, 'no_firewall'), $fw2, '8.9 as a new alert');

# --- 9. the processes --------------------------------------------------

ok(!@bad_exits, '9.1 every kiln-alerts run exited 0')
    or diag(join "\n", @bad_exits);

done_testing();
