#!/usr/bin/perl
# servers: every /api/v1/servers endpoint through kiln-servers as plain CGI
# against a fresh database: create, quota, Idempotency-Key, list and
# pagination, get, patch, delete, rotate-key, restore, methods, auth and
# the per-account sub-limits.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use KilnTest;

# A large per-IP bucket: this file makes a few hundred requests from one
# address in a few seconds; the per-IP limit is not what is tested here.
new_env(rate_ip => 100000);

my $KEY_RE = qr/^gmk_cru_live_[0-9A-Za-z]{43}_[0-9A-Za-z]{4}$/;
my $ID_RE = qr/^srv_[0-9a-f]{20}$/;
my $ISO_RE = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

# Every route process must exit 0: under `make sanitize` a leak or UB
# report makes the process fail after it has already answered.
my @bad_exits;

# One request to kiln-servers.
sub req {
	my ($method, $uri, %o) = @_;
	# A route may answer (413) without reading the body it refuses.
	local $SIG{PIPE} = 'IGNORE';
	my $r = cgi('servers', $method, $uri, %o);
	push @bad_exits, "$method $uri: exit $r->{exit}\n$r->{stderr}"
	    if $r->{exit} != 0;
	return $r;
}

sub account_id {
	my ($email) = @_;
	return sql("SELECT account_id FROM user WHERE email = '$email'");
}

sub list_ids {
	my ($token, $query) = @_;
	my $r = req('GET', '/api/v1/servers' . ($query // ''), token => $token);
	die "list: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return [ map { $_->{id} } @{ $r->{json}{servers} } ];
}

sub get_server {
	my ($token, $id) = @_;
	return req('GET', "/api/v1/servers/$id", token => $token);
}

# Asserts a JSON boolean (not 1, "true" or 0).
sub bool_is {
	my ($v, $want, $name) = @_;
	ok(JSON::PP::is_bool($v) && !!$v == !!$want, $name)
	    or diag('got ' . (defined $v ? "'$v'" : 'undef'));
}

sub admin_ok {
	my ($name, @args) = @_;
	my ($rc, $out) = admin(@args);
	is($rc, 0, $name) or diag("kiln-admin @args: $out");
}

my $alice = register_user('alice@example.com');
my $bob = register_user('bob@example.com');
# alice is pro for the create cases: more than three servers.
admin('plan', 'alice@example.com', 'pro');

# --- 1. create ---------------------------------------------------------

my $r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"web-prod-01","hostname":"web-prod-01.example.com",'
    . '"tags":["production","web"]}');
status_is($r, 201, '1.1 create answers 201');
my $j = $r->{json};
bool_is($j->{success}, 1, '1.2 success true');
like($j->{server}{id}, $ID_RE, '1.3 id is srv_ + 20 hex');
is($j->{server}{name}, 'web-prod-01', '1.4 name');
is($j->{server}{hostname}, 'web-prod-01.example.com', '1.5 hostname');
is_deeply($j->{server}{tags}, ['production', 'web'], '1.6 tags');
like($j->{server}{api_key}, $KEY_RE, '1.7 api_key format');
is($j->{ingest_url}, 'http://kiln.test/api/v1/ingest', '1.8 ingest_url');
like($j->{message}, qr/not be shown again/, '1.9 message');
is_deeply([sort keys %{ $j->{server} }],
    [qw(api_key hostname id name tags)], '1.10 server has exactly these fields');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    '1.11 content type');
ok(!exists $r->{headers}{'idempotency-replayed'},
    '1.12 no Replayed header without a key');
my $web1 = $j->{server};

$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"db-1"}');
status_is($r, 201, '1.13 name only');
is($r->{json}{server}{hostname}, 'db-1', '1.14 hostname defaults to name');
is_deeply($r->{json}{server}{tags}, [], '1.15 tags default to []');
isnt($r->{json}{server}{api_key}, $web1->{api_key}, '1.16 keys differ');
isnt($r->{json}{server}{id}, $web1->{id}, '1.17 ids differ');

my $extra = {
	name => 'mass-1', os => 'linux', plan => 'pro',
	id => 'srv_00000000000000000000', api_key => $web1->{api_key},
	status => 'suspended', ip => '10.9.9.9', os_type => 'evil',
	config_overrides => { cpu_high => { warning => 1 } },
	free_analysis_used => JSON::PP::true, account_id => 1,
	created_at => '2000-01-01T00:00:00Z', last_seen_at => 1,
};
$r = req('POST', '/api/v1/servers', token => $alice, body => $extra);
status_is($r, 201, '1.18 extra fields are not an error');
my $mass = $r->{json}{server};
isnt($mass->{id}, 'srv_00000000000000000000', '1.19 given id ignored');
isnt($mass->{api_key}, $web1->{api_key}, '1.20 given api_key ignored');
ok(!exists $mass->{os} && !exists $mass->{plan}, '1.21 extras not echoed');
$r = get_server($alice, $mass->{id});
$j = $r->{json};
status_is($r, 200, '1.22 GET the server');
ok(!exists $j->{os} && !exists $j->{plan} && !exists $j->{account_id},
    '1.23 no extra keys stored');
is($j->{status}, 'active', '1.24 status not assignable');
ok(!defined $j->{ip} && !defined $j->{os_type} && !defined $j->{last_seen_at},
    '1.25 snapshot fields not assignable');
is_deeply($j->{config_overrides}, {}, '1.26 config_overrides not assignable');
bool_is($j->{free_analysis_used}, 0, '1.27 free_analysis_used not assignable');
like($j->{created_at}, qr/^20[2-9]\d-/, '1.28 created_at is the real time');
# The old key of web-prod-01 still belongs to web-prod-01 only.
$r = req('GET', '/api/v1/servers', token => $web1->{api_key});
err_is($r, 403, 'insufficient_scope', '1.29 given api_key did not move');

# name limits (hostname given so only the name is at stake)
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => '', hostname => 'h1' });
err_is($r, 400, 'validation_failed', '1.30 empty name', field => 'name');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 'a' x 101, hostname => 'h1' });
err_is($r, 400, 'validation_failed', '1.31 101-char name', field => 'name');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 'a' x 100, hostname => 'h1' });
status_is($r, 201, '1.32 100-char name');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"' . ("\xc3\xa9" x 100) . '","hostname":"h2"}');
status_is($r, 201, '1.33 100 two-byte characters are 100 characters');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"' . ("\xc3\xa9" x 101) . '","hostname":"h2"}');
err_is($r, 400, 'validation_failed', '1.34 101 two-byte characters',
    field => 'name');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { hostname => 'h1' });
err_is($r, 400, 'validation_failed', '1.35 name missing', field => 'name');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":null,"hostname":"h1"}');
err_is($r, 400, 'validation_failed', '1.36 name null', field => 'name');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"a\u0001b","hostname":"h1"}');
err_is($r, 400, 'validation_failed', '1.37 control character in name',
    field => 'name');

# hostname
my @bad_hosts = ('bad_host', '-a', 'a-', 'a..b', '.a', 'a.-b.c', 'a b',
    ('a' x 64) . '.example.com', 'ex\u00e4mple.com', 'a/b', '');
for my $i (0 .. $#bad_hosts) {
	$r = req('POST', '/api/v1/servers', token => $alice,
	    body => qq({"name":"ok-name","hostname":"$bad_hosts[$i]"}));
	err_is($r, 400, 'validation_failed',
	    "1.38.$i invalid hostname '$bad_hosts[$i]'", field => 'hostname');
}
my $h253 = join '.', 'a' x 63, 'b' x 63, 'c' x 63, 'd' x 61;
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 'long-host', hostname => $h253 });
status_is($r, 201, '1.39 253-char hostname with 63-char labels');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 'long-host', hostname => "$h253.e" });
err_is($r, 400, 'validation_failed', '1.40 255-char hostname',
    field => 'hostname');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 'My Server' });
err_is($r, 400, 'validation_failed',
    '1.41 name that is no hostname, without hostname', field => 'name');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 'My Server', hostname => 'my-server.example.com' });
status_is($r, 201, '1.42 any name with a valid hostname');
is($r->{json}{server}{name}, 'My Server', '1.43 name kept as given');

# tags
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 't1', tags => [ map { "t$_" } 1 .. 21 ] });
err_is($r, 400, 'validation_failed', '1.44 21 tags', field => 'tags');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 't1', tags => [ map { "t$_" } 1 .. 20 ] });
status_is($r, 201, '1.45 20 tags');
is(scalar @{ $r->{json}{server}{tags} }, 20, '1.46 all 20 kept');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 't1', tags => [ 'x' x 51 ] });
err_is($r, 400, 'validation_failed', '1.47 51-char tag', field => 'tags');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => { name => 't1', tags => [ 'x' x 50 ] });
status_is($r, 201, '1.48 50-char tag');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"t1","tags":["ok",5]}');
err_is($r, 400, 'validation_failed', '1.49 non-string tag', field => 'tags');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"t1","tags":["ok",null]}');
err_is($r, 400, 'validation_failed', '1.50 null tag', field => 'tags');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"t1","tags":[""]}');
err_is($r, 400, 'validation_failed', '1.51 empty tag', field => 'tags');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"t1","tags":["b","a","b","c","a"]}');
status_is($r, 201, '1.52 duplicate tags accepted');
is_deeply($r->{json}{server}{tags}, [qw(b a c)],
    '1.53 duplicates collapsed, first order kept');
$r = get_server($alice, $r->{json}{server}{id});
is_deeply($r->{json}{tags}, [qw(b a c)], '1.54 stored collapsed');

# invalid JSON and wrong types
for (['1.55', '{"name":'], ['1.56', 'not json'], ['1.57', '[]'],
    ['1.58', '"web"'], ['1.59', ''], ['1.60', '{"name":"a","name":"b"}']) {
	$r = req('POST', '/api/v1/servers', token => $alice, body => $_->[1],
	    content_type => 'application/json');
	err_is($r, 400, 'invalid_json', "$_->[0] invalid JSON body '$_->[1]'");
}
$r = req('POST', '/api/v1/servers', token => $alice,
    body => qq({"name":"a\xff"}));
err_is($r, 400, 'invalid_json', '1.61 invalid UTF-8');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":123}');
err_is($r, 400, 'validation_failed', '1.62 name a number', field => 'name');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":["a"]}');
err_is($r, 400, 'validation_failed', '1.63 name an array', field => 'name');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"a","hostname":5}');
err_is($r, 400, 'validation_failed', '1.64 hostname a number',
    field => 'hostname');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"a","tags":"web"}');
err_is($r, 400, 'validation_failed', '1.65 tags a string', field => 'tags');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"a","tags":{"a":1}}');
err_is($r, 400, 'validation_failed', '1.66 tags an object', field => 'tags');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"a"}', content_type => 'text/plain');
err_is($r, 415, 'unsupported_media_type', '1.67 text/plain body');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"big","pad":"' . ('x' x 70000) . '"}');
err_is($r, 413, 'payload_too_large', '1.68 a body over max_body_bytes');

# --- 2. free quota -----------------------------------------------------

my $carol = register_user('carol@example.com');
my @c;
push @c, create_server($carol, name => "c$_")->{server}{id} for 1 .. 3;
$r = req('POST', '/api/v1/servers', token => $carol, body => { name => 'c4' });
err_is($r, 402, 'server_quota_exceeded', '2.1 4th active server on free');
is($r->{json}{upgrade_url}, 'http://kiln.test/billing', '2.2 upgrade_url');
is($r->{json}{free_server_quota}, 3, '2.3 quota named');
is(scalar @{ list_ids($carol) }, 3, '2.4 no 4th server created');
admin_ok('2.5 suspend c1', 'suspend', $c[0], 'no_card_on_file');
$r = req('POST', '/api/v1/servers', token => $carol, body => { name => 'c4' });
status_is($r, 201, '2.6 suspended servers do not count');
push @c, $r->{json}{server}{id};
$r = req('POST', '/api/v1/servers', token => $carol, body => { name => 'c5' });
err_is($r, 402, 'server_quota_exceeded', '2.7 full again at 3 active');
admin_ok('2.8 carol to pro', 'plan', 'carol@example.com', 'pro');
$r = req('POST', '/api/v1/servers', token => $carol, body => { name => 'c5' });
status_is($r, 201, '2.9 pro has no quota');
push @c, $r->{json}{server}{id};
admin_ok('2.10 carol back to free', 'plan', 'carol@example.com', 'free');
$r = req('POST', '/api/v1/servers', token => $carol, body => { name => 'c6' });
err_is($r, 402, 'server_quota_exceeded', '2.11 free again: over quota');

# --- 3. Idempotency-Key ------------------------------------------------

my $body = '{"name":"idem-1","tags":["i"]}';
my %k1 = ('Idempotency-Key' => 'key-0001');
my $count0 = scalar @{ list_ids($alice) };
my $r1 = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => \%k1);
status_is($r1, 201, '3.1 first use of a key');
my $idem1 = $r1->{json}{server}{id} // 'none';
ok(!exists $r1->{headers}{'idempotency-replayed'}, '3.2 not a replay');
my $r2 = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => \%k1);
status_is($r2, 201, '3.3 replay has the same status');
is($r2->{raw}, $r1->{raw}, '3.4 replay has the identical body');
is($r2->{headers}{'idempotency-replayed'}, 'true', '3.5 Idempotency-Replayed');
is(scalar @{ list_ids($alice) }, $count0 + 1, '3.6 one server, not two');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"idem-2"}', headers => \%k1);
err_is($r, 422, 'idempotency_key_reused', '3.7 same key, other body');
$r = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => \%k1);
ok($r->{status} == 201 && $r->{raw} eq $r1->{raw},
    '3.8 the 422 did not replace the stored answer');
is(scalar @{ list_ids($alice) }, $count0 + 1, '3.9 still one server');
$r = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => { 'Idempotency-Key' => 'x' x 256 });
err_is($r, 400, 'invalid_idempotency_key', '3.10 256-char key');
$r = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => { 'Idempotency-Key' => "bad\tkey" });
err_is($r, 400, 'invalid_idempotency_key', '3.11 control char in key');
$r = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => { 'Idempotency-Key' => "caf\xc3\xa9" });
err_is($r, 400, 'invalid_idempotency_key', '3.12 non-ASCII key');
$r = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => { 'Idempotency-Key' => '' });
err_is($r, 400, 'invalid_idempotency_key', '3.13 empty key');
is(scalar @{ list_ids($alice) }, $count0 + 1, '3.14 rejected keys created nothing');
$r = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => { 'Idempotency-Key' => '~' x 255 });
status_is($r, 201, '3.15 255-char printable key');
$r = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => { 'Idempotency-Key' => ' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~' });
status_is($r, 201, '3.16 punctuation and space are printable');

# A deterministic 4xx is stored too.
$r1 = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"bad name"}', headers => { 'Idempotency-Key' => 'v-1' });
err_is($r1, 400, 'validation_failed', '3.17 a 400 under a key');
$r2 = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"bad name"}', headers => { 'Idempotency-Key' => 'v-1' });
ok($r2->{status} == 400 && $r2->{raw} eq $r1->{raw}
    && ($r2->{headers}{'idempotency-replayed'} // '') eq 'true',
    '3.18 the 400 is replayed');

# The 402 quota answer is replayed, even once the quota would allow it.
my $qbody = '{"name":"c-quota"}';
$r1 = req('POST', '/api/v1/servers', token => $carol, body => $qbody,
    headers => { 'Idempotency-Key' => 'q-1' });
err_is($r1, 402, 'server_quota_exceeded', '3.19 402 under a key');
admin('plan', 'carol@example.com', 'pro');
$r2 = req('POST', '/api/v1/servers', token => $carol, body => $qbody,
    headers => { 'Idempotency-Key' => 'q-1' });
ok($r2->{status} == 402 && $r2->{raw} eq $r1->{raw}
    && ($r2->{headers}{'idempotency-replayed'} // '') eq 'true',
    '3.20 the 402 is replayed') or diag("$r2->{status} $r2->{raw}");
$r = req('POST', '/api/v1/servers', token => $carol, body => $qbody,
    headers => { 'Idempotency-Key' => 'q-2' });
status_is($r, 201, '3.21 a new key goes through');
admin('plan', 'carol@example.com', 'free');

# Keys are per account.
$r = req('POST', '/api/v1/servers', token => $bob, body => $body,
    headers => \%k1);
status_is($r, 201, '3.22 another account may use the same key');
ok(!exists $r->{headers}{'idempotency-replayed'}, '3.23 not a replay of alice');
my $bob_srv = $r->{json}{server};
isnt($bob_srv->{id} // $idem1, $idem1, '3.24 its own server');
is_deeply(list_ids($bob), [ $bob_srv->{id} ], '3.25 bob sees only his');

# In flight: a row with no status yet, as a concurrent first request
# leaves it, with the request hash lib/idem.c computes.
my $acc = account_id('alice@example.com');
my $fbody = '{"name":"flight-1"}';
my $hash = sha256_hex("POST\0/servers\0$fbody");
my $now = time;
sql("INSERT INTO idempotency (account_id, key, request_hash, status,"
    . " response, created_at) VALUES ($acc, 'fly-1', X'$hash', NULL, NULL,"
    . " $now)");
$count0 = scalar @{ list_ids($alice) };
$r = req('POST', '/api/v1/servers', token => $alice, body => $fbody,
    headers => { 'Idempotency-Key' => 'fly-1' });
err_is($r, 409, 'idempotency_key_conflict', '3.26 in flight -> 409');
$r = req('POST', '/api/v1/servers', token => $alice,
    body => '{"name":"flight-2"}', headers => { 'Idempotency-Key' => 'fly-1' });
err_is($r, 422, 'idempotency_key_reused', '3.27 in flight, other body -> 422');
is(scalar @{ list_ids($alice) }, $count0, '3.28 nothing created');
is(sql("SELECT count(*) FROM idempotency WHERE account_id = $acc"
    . " AND key = 'fly-1' AND status IS NULL"), 1,
    '3.29 the in-flight record is left alone');
# A record in flight for over a minute belonged to a dead process.
my $old = $now - 120;
sql("INSERT INTO idempotency (account_id, key, request_hash, status,"
    . " response, created_at) VALUES ($acc, 'fly-2', X'$hash', NULL, NULL,"
    . " $old)");
$r1 = req('POST', '/api/v1/servers', token => $alice, body => $fbody,
    headers => { 'Idempotency-Key' => 'fly-2' });
status_is($r1, 201, '3.30 a stale in-flight record is taken over');
$r2 = req('POST', '/api/v1/servers', token => $alice, body => $fbody,
    headers => { 'Idempotency-Key' => 'fly-2' });
ok($r2->{status} == 201 && $r2->{raw} eq $r1->{raw}
    && ($r2->{headers}{'idempotency-replayed'} // '') eq 'true',
    '3.31 and then replayed');
# A record older than 24 h is forgotten.
my $day_old = $now - 86400 - 10;
sql("UPDATE idempotency SET created_at = $day_old WHERE account_id = $acc"
    . " AND key = 'key-0001'");
$r = req('POST', '/api/v1/servers', token => $alice, body => $body,
    headers => \%k1);
status_is($r, 201, '3.32 a key is fresh again after 24 h');
ok(!exists $r->{headers}{'idempotency-replayed'}, '3.33 not a replay');
isnt($r->{json}{server}{id} // $idem1, $idem1, '3.34 a new server');

# --- 4. list and pagination --------------------------------------------

my $dave = register_user('dave@example.com');
admin('plan', 'dave@example.com', 'pro');
# Distinct creation seconds, so creation order is the list order.
my $t0 = time + 5;
my @d;
my @dtags = (['a', 'b'], ['a'], ['b'], ['a', 'b', 'c'], []);
for my $i (0 .. 4) {
	local $ENV{KILN_FAKE_NOW} = $t0 + $i;
	push @d, create_server($dave, name => "d$i",
	    tags => $dtags[$i])->{server}{id};
}
$r = req('GET', '/api/v1/servers', token => $dave);
status_is($r, 200, '4.1 list answers 200');
is_deeply([ map { $_->{id} } @{ $r->{json}{servers} } ], \@d,
    '4.2 all five in creation order');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor},
    '4.3 next_cursor null on the only page');
is($r->{headers}{'cache-control'}, 'no-store', '4.4 Cache-Control no-store');
my $s = $r->{json}{servers}[0];
is($s->{status}, 'active', '4.5 status');
ok(exists $s->{suspended_at} && !defined $s->{suspended_at}, '4.6 suspended_at null');
ok(exists $s->{suspended_reason} && !defined $s->{suspended_reason},
    '4.7 suspended_reason null');
ok(exists $s->{last_seen_at} && !defined $s->{last_seen_at}, '4.8 last_seen_at null');
is($s->{active_alerts}, 0, '4.9 active_alerts 0');
is($s->{disk_health_rollup}, 'pending', '4.10 disk_health_rollup pending');
is($s->{created_at}, do { my @t = gmtime $t0; sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ',
    $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0] }, '4.11 created_at ISO 8601 Z');
for my $f (qw(ip os_type os_version collector_version dmi_vendor dmi_product
    ipmi_sensors_count)) {
	ok(exists $s->{$f} && !defined $s->{$f}, "4.12 $f present and null");
}
ok(!exists $s->{config_overrides} && !exists $s->{free_analysis_used}
    && !exists $s->{api_key}, '4.13 no detail fields, no key on the list');
is_deeply($s->{tags}, ['a', 'b'], '4.14 tags');

is_deeply(list_ids($dave, '?tag=a'), [ @d[0, 1, 3] ], '4.15 one tag');
is_deeply(list_ids($dave, '?tag=a&tag=b'), [ @d[0, 3] ], '4.16 two tags AND');
is_deeply(list_ids($dave, '?tag=b&tag=a&tag=c'), [ $d[3] ], '4.17 three tags AND');
is_deeply(list_ids($dave, '?tag=zzz'), [], '4.18 no match: empty list');
is_deeply(list_ids($dave, '?tag=a&tag=zzz'), [], '4.19 AND, not OR');
$r = req('GET', '/api/v1/servers?tag=' . ('x' x 51), token => $dave);
err_is($r, 400, 'invalid_tag', '4.20 51-char tag filter');
$r = req('GET', '/api/v1/servers?' . join('&', map { "tag=t$_" } 1 .. 21),
    token => $dave);
err_is($r, 400, 'invalid_tag', '4.21 21 tag filters');

# Walk with limit=2.
my (@seen, $cursor, @pages);
for my $page (1 .. 5) {
	my $q = '?limit=2' . (defined $cursor ? "&cursor=$cursor" : '');
	$r = req('GET', "/api/v1/servers$q", token => $dave);
	last unless $r->{status} == 200;
	push @pages, scalar @{ $r->{json}{servers} };
	push @seen, map { $_->{id} } @{ $r->{json}{servers} };
	$cursor = $r->{json}{next_cursor};
	last unless defined $cursor;
}
is_deeply(\@pages, [2, 2, 1], '4.22 pages of 2, 2, 1');
is_deeply(\@seen, \@d, '4.23 all five, in order, no duplicates');
ok(!defined $cursor, '4.24 next_cursor null on the last page');

$r = req('GET', '/api/v1/servers?limit=2', token => $dave);
my $c1 = $r->{json}{next_cursor};
like($c1, qr/^[0-9a-f]+\.[0-9a-f]{24}$/, '4.25 cursor is opaque hex');
$r = req('GET', "/api/v1/servers?limit=2&cursor=$c1", token => $dave);
is_deeply([ map { $_->{id} } @{ $r->{json}{servers} } ], [ @d[2, 3] ],
    '4.26 the cursor is reusable');
# An insert after the cursor was issued shows up at the end, not twice.
{
	local $ENV{KILN_FAKE_NOW} = $t0 + 10;
	push @d, create_server($dave, name => 'd5')->{server}{id};
}
$r = req('GET', "/api/v1/servers?limit=10&cursor=$c1", token => $dave);
is_deeply([ map { $_->{id} } @{ $r->{json}{servers} } ], [ @d[2 .. 5] ],
    '4.27 stable under inserts');
$r = req('GET', '/api/v1/servers?limit=5', token => $dave);
ok(defined $r->{json}{next_cursor} && @{ $r->{json}{servers} } == 5,
    '4.28 a full page with more to come has a cursor');
$r = req('GET', "/api/v1/servers?limit=5&cursor=$r->{json}{next_cursor}",
    token => $dave);
ok(@{ $r->{json}{servers} } == 1 && !defined $r->{json}{next_cursor},
    '4.29 the last page');

# Pagination within a tag filter.
$r = req('GET', '/api/v1/servers?tag=a&limit=2', token => $dave);
my $ca = $r->{json}{next_cursor};
$r = req('GET', "/api/v1/servers?tag=a&limit=2&cursor=$ca", token => $dave);
is_deeply([ map { $_->{id} } @{ $r->{json}{servers} } ], [ $d[3] ],
    '4.30 filtered walk');

for (['4.31', '0'], ['4.32', '101'], ['4.33', 'abc'], ['4.34', '-1'],
    ['4.35', '2x'], ['4.36', ''], ['4.37', '1.5']) {
	$r = req('GET', "/api/v1/servers?limit=$_->[1]", token => $dave);
	err_is($r, 400, 'invalid_limit', "$_->[0] limit=$_->[1]");
}
is(scalar @{ list_ids($dave, '?limit=100') }, 6, '4.38 limit=100 is fine');
is(scalar @{ list_ids($dave, '?limit=1') }, 1, '4.39 limit=1 is fine');

# Cursors that are not this list's.
(my $tampered = $c1) =~ s/^(.)/$1 eq '3' ? '4' : '3'/e;
my ($payload, $mac) = split /\./, $c1;
my $forged_payload = unpack 'H*', "0|$d[0]";
for (['4.40', 'tampered payload', $tampered],
    ['4.41', 'tampered mac', $payload . '.' . ('0' x 24)],
    ['4.42', 'forged position', "$forged_payload.$mac"],
    ['4.43', 'random', 'deadbeef.0123456789abcdef01234567'],
    ['4.44', 'garbage', 'not-a-cursor'],
    ['4.45', 'truncated', substr($c1, 0, -1)],
    ['4.46', 'upper-case hex', uc $c1]) {
	$r = req('GET', "/api/v1/servers?limit=2&cursor=$_->[2]", token => $dave);
	err_is($r, 400, 'invalid_cursor', "$_->[0] $_->[1] cursor");
}
$r = req('GET', "/api/v1/servers?limit=2&tag=a&cursor=$c1", token => $dave);
err_is($r, 400, 'invalid_cursor', '4.47 cursor with another tag filter');
$r = req('GET', "/api/v1/servers?limit=2&cursor=$ca", token => $dave);
err_is($r, 400, 'invalid_cursor', '4.48 filtered cursor without the filter');
$r = req('GET', "/api/v1/servers?limit=2&cursor=$c1", token => $bob);
err_is($r, 400, 'invalid_cursor', "4.49 another account's cursor");

# Accounts never see each other's servers.
my %dave_ids = map { $_ => 1 } @d;
ok(!grep({ $dave_ids{$_} } @{ list_ids($alice) }), '4.50 alice sees none of dave');
is_deeply(list_ids($bob), [ $bob_srv->{id} ], '4.51 bob sees only his own');
is_deeply(list_ids($bob, '?tag=a'), [], '4.52 not through a tag filter either');
$r = req('GET', '/api/v1/servers?tag=', token => $dave);
err_is($r, 400, 'invalid_tag', '4.56 an empty tag filter');
is_deeply(list_ids($dave, '?tag=a&limit=100&cursor='), [ @d[0, 1, 3] ],
    '4.57 an empty cursor is the first page');
$r = req('GET', '/api/v1/servers?cursor=' . ('a' x 1000) . '.' . ('0' x 24),
    token => $dave);
err_is($r, 400, 'invalid_cursor', '4.58 an overlong cursor');

# Servers made within one second come in (created_at, id) order: the walk
# still gives each exactly once, in the order of the whole list.
my $kim = register_user('kim@example.com');
admin('plan', 'kim@example.com', 'pro');
my @k;
{
	local $ENV{KILN_FAKE_NOW} = time + 60;
	push @k, create_server($kim, name => "k$_")->{server}{id} for 1 .. 5;
}
my $whole = list_ids($kim);
is_deeply([ sort @$whole ], [ sort @k ], '4.59 same-second servers all listed');
my @walk;
$cursor = undef;
for (1 .. 5) {
	$r = req('GET', '/api/v1/servers?limit=2'
	    . (defined $cursor ? "&cursor=$cursor" : ''), token => $kim);
	last unless $r->{status} == 200;
	push @walk, map { $_->{id} } @{ $r->{json}{servers} };
	last unless defined($cursor = $r->{json}{next_cursor});
}
is_deeply(\@walk, $whole, '4.60 the walk matches the whole list, no duplicates');

# Suspended servers are listed with their suspension.
admin('suspend', $d[4], 'no_card_on_file');
$r = req('GET', '/api/v1/servers', token => $dave);
($s) = grep { $_->{id} eq $d[4] } @{ $r->{json}{servers} };
is($s->{status}, 'suspended', '4.53 suspended status listed');
like($s->{suspended_at} // '', $ISO_RE, '4.54 suspended_at ISO 8601');
is($s->{suspended_reason}, 'no_card_on_file', '4.55 suspended_reason');

# --- 5. get ------------------------------------------------------------

$r = get_server($alice, $web1->{id});
status_is($r, 200, '5.1 get answers 200');
$j = $r->{json};
is($j->{id}, $web1->{id}, '5.2 id');
is($j->{name}, 'web-prod-01', '5.3 name');
is($j->{hostname}, 'web-prod-01.example.com', '5.4 hostname');
is_deeply($j->{tags}, ['production', 'web'], '5.5 tags');
is_deeply($j->{config_overrides}, {}, '5.6 config_overrides {}');
bool_is($j->{free_analysis_used}, 0, '5.7 free_analysis_used false');
is($j->{status}, 'active', '5.8 status');
is($j->{disk_health_rollup}, 'pending', '5.9 rollup pending');
is($j->{active_alerts}, 0, '5.10 active_alerts 0');
like($j->{created_at}, $ISO_RE, '5.11 created_at');
ok(!exists $j->{api_key} && !exists $j->{key_hash}, '5.12 no key shown');
is_deeply([sort keys %$j], [sort qw(id name hostname ip os_type os_version
    status suspended_at suspended_reason last_seen_at collector_version
    active_alerts disk_health_rollup created_at tags dmi_vendor dmi_product
    ipmi_sensors_count config_overrides free_analysis_used)],
    '5.13 the list shape plus the detail fields');
$r = get_server($bob, $web1->{id});
err_is($r, 404, 'not_found', "5.14 another account's server is 404");
$r = get_server($alice, $bob_srv->{id});
err_is($r, 404, 'not_found', '5.15 both ways');
for (['5.16', 'srv_zzz'], ['5.17', '%2e%2e%2fetc%2fpasswd'],
    ['5.18', 'srv_' . ('a' x 1000)], ['5.19', 'srv_00000000000000000000'],
    ['5.20', uc $web1->{id}], ['5.21', "$web1->{id}0"],
    ['5.22', substr($web1->{id}, 0, -1)], ['5.23', 'usr_' . substr($web1->{id}, 4)],
    ['5.24', "$web1->{id}%00"], ['5.25', "srv_%27%20OR%201%3D1--"]) {
	$r = get_server($alice, $_->[1]);
	err_is($r, 404, 'not_found', "$_->[0] malformed id $_->[1]");
}

# --- 6. patch ----------------------------------------------------------

my $pid = $web1->{id};
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"name":"web-prod-renamed","tags":["production","web","fra1"]}');
status_is($r, 200, '6.1 patch answers 200');
is($r->{json}{name}, 'web-prod-renamed', '6.2 name changed');
is_deeply($r->{json}{tags}, [qw(production web fra1)], '6.3 tags changed');
is($r->{json}{hostname}, 'web-prod-01.example.com', '6.4 hostname kept');
ok(exists $r->{json}{config_overrides}, '6.5 answers the full server');
$r = get_server($alice, $pid);
ok($r->{json}{name} eq 'web-prod-renamed' && @{ $r->{json}{tags} } == 3,
    '6.6 stored');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"tags":["x","x","y"]}');
ok($r->{status} == 200 && $r->{json}{name} eq 'web-prod-renamed',
    '6.7 absent name is kept');
is_deeply($r->{json}{tags}, ['x', 'y'], '6.8 tags deduplicated on patch');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"tags":[]}');
is_deeply($r->{json}{tags}, [], '6.9 tags cleared with []');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"hostname":"other.example.com"}');
err_is($r, 400, 'validation_failed', '6.10 hostname is not updatable',
    field => 'hostname');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"name":"n","hostname":"web-prod-01.example.com"}');
err_is($r, 400, 'validation_failed', '6.11 even unchanged', field => 'hostname');
is(get_server($alice, $pid)->{json}{name}, 'web-prod-renamed',
    '6.12 a refused patch changes nothing');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"name":""}');
err_is($r, 400, 'validation_failed', '6.13 empty name', field => 'name');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => { name => 'n' x 101 });
err_is($r, 400, 'validation_failed', '6.14 101-char name', field => 'name');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => { tags => [ map { "t$_" } 1 .. 21 ] });
err_is($r, 400, 'validation_failed', '6.15 21 tags', field => 'tags');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice, body => 'nope',
    content_type => 'application/json');
err_is($r, 400, 'invalid_json', '6.16 invalid JSON');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"name":"any name at all"}');
is($r->{json}{name}, 'any name at all', '6.17 a renamed server need not be a hostname');

$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"config_overrides":{"cpu_high":{"warning":85}}}');
status_is($r, 200, '6.18 config_overrides accepted');
is_deeply($r->{json}{config_overrides}, { cpu_high => { warning => 85 } },
    '6.19 returned');
is_deeply(get_server($alice, $pid)->{json}{config_overrides},
    { cpu_high => { warning => 85 } }, '6.20 stored');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"config_overrides":{"cpu_high":{"warning":80.5,"critical":95},'
    . '"disk_space_high":{"critical":99},"oom_kills":{}}}');
status_is($r, 200, '6.21 several rules, fractions');
is($r->{json}{config_overrides}{cpu_high}{warning}, 80.5, '6.22 fraction kept');
is_deeply($r->{json}{tags}, [], '6.23 absent tags are kept');
for (['6.24', '{"nope":{"warning":1}}', 'config_overrides.nope'],
    ['6.25', '{"cpu_high":{"nope":1}}', 'config_overrides.cpu_high.nope'],
    ['6.26', '{"cpu_high":{"warning":-1}}', 'config_overrides.cpu_high.warning'],
    ['6.27', '{"cpu_high":{"warning":"85"}}', 'config_overrides.cpu_high.warning'],
    ['6.28', '{"cpu_high":{"warning":null}}', 'config_overrides.cpu_high.warning'],
    ['6.29', '{"cpu_high":{"warning":true}}', 'config_overrides.cpu_high.warning'],
    ['6.30', '{"cpu_high":85}', 'config_overrides.cpu_high'],
    ['6.31', '[]', 'config_overrides'],
    ['6.32', '"x"', 'config_overrides'],
    ['6.33', '{"oom_kills":{"warning":1}}', 'config_overrides.oom_kills.warning']) {
	$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
	    body => qq({"config_overrides":$_->[1]}));
	err_is($r, 400, 'validation_failed', "$_->[0] config_overrides $_->[1]",
	    field => $_->[2]);
}
is(get_server($alice, $pid)->{json}{config_overrides}{cpu_high}{warning}, 80.5,
    '6.34 refused overrides change nothing');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"name":"n2","config_overrides":{"nope":{}}}');
err_is($r, 400, 'validation_failed', '6.35 one bad field refuses the whole patch',
    field => 'config_overrides.nope');
is(get_server($alice, $pid)->{json}{name}, 'any name at all', '6.36 name unchanged');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"config_overrides":null}');
status_is($r, 200, '6.37 null clears');
is_deeply($r->{json}{config_overrides}, {}, '6.38 to {}');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice,
    body => '{"config_overrides":{}}');
is_deeply($r->{json}{config_overrides}, {}, '6.39 {} is fine too');
$r = req('PATCH', "/api/v1/servers/$pid", token => $bob,
    body => '{"name":"stolen"}');
err_is($r, 404, 'not_found', "6.40 another account's server is 404");
is(get_server($alice, $pid)->{json}{name}, 'any name at all', '6.41 unchanged');
$r = req('PATCH', '/api/v1/servers/srv_zzz', token => $alice,
    body => '{"name":"x"}');
err_is($r, 404, 'not_found', '6.42 malformed id');
$r = req('PATCH', '/api/v1/servers/srv_00000000000000000000', token => $alice,
    body => '{"name":"x"}');
err_is($r, 404, 'not_found', '6.43 unknown id');
$r = req('PATCH', "/api/v1/servers/$pid", token => $alice, body => '{}');
ok($r->{status} == 200 && $r->{json}{name} eq 'any name at all',
    '6.44 an empty patch changes nothing');

# --- 7. delete ---------------------------------------------------------

my $victim = create_server($alice, name => 'victim')->{server};
$r = req('DELETE', "/api/v1/servers/$victim->{id}", token => $alice);
err_is($r, 400, 'confirmation_required', '7.1 bare DELETE');
$r = req('DELETE', "/api/v1/servers/$victim->{id}?confirm=yes", token => $alice);
err_is($r, 400, 'confirmation_required', '7.2 confirm=yes is not true');
status_is(get_server($alice, $victim->{id}), 200, '7.3 still there');
$r = req('DELETE', "/api/v1/servers/$victim->{id}?confirm=true", token => $bob);
err_is($r, 404, 'not_found', "7.4 another account's server is 404");
status_is(get_server($alice, $victim->{id}), 200, '7.5 still there');
$r = req('GET', '/api/v1/servers', token => $victim->{api_key});
err_is($r, 403, 'insufficient_scope', '7.6 its key is known before');
$r = req('DELETE', "/api/v1/servers/$victim->{id}?confirm=true", token => $alice);
status_is($r, 200, '7.7 DELETE ?confirm=true');
bool_is($r->{json}{success}, 1, '7.8 success');
is($r->{json}{deleted}, $victim->{id}, '7.9 names the deleted id');
err_is(get_server($alice, $victim->{id}), 404, 'not_found', '7.10 gone');
ok(!grep({ $_ eq $victim->{id} } @{ list_ids($alice) }), '7.11 not listed');
$r = req('GET', '/api/v1/servers', token => $victim->{api_key});
err_is($r, 401, 'invalid_token', '7.12 the collector key is gone');
is(sql("SELECT count(*) FROM server WHERE public_id = '$victim->{id}'"), 0,
    '7.13 the row is gone');
$r = req('DELETE', "/api/v1/servers/$victim->{id}?confirm=true", token => $alice);
err_is($r, 404, 'not_found', '7.14 deleting twice is 404');
$r = req('DELETE', '/api/v1/servers/srv_zzz?confirm=true', token => $alice);
err_is($r, 404, 'not_found', '7.15 malformed id');

# --- 8. rotate-key -----------------------------------------------------

my $erin = register_user('erin@example.com');
my $rs = create_server($erin, name => 'rot-1')->{server};
my $rot_other = create_server($erin, name => 'rot-2')->{server};
$r = req('POST', "/api/v1/servers/$rs->{id}/rotate-key", token => $erin);
status_is($r, 200, '8.1 rotate answers 200');
$j = $r->{json};
bool_is($j->{success}, 1, '8.2 success');
is_deeply($j->{server}, { id => $rs->{id} }, '8.3 server {id}');
like($j->{collector_key}, $KEY_RE, '8.4 collector_key format');
ok(!exists $j->{api_key}, '8.5 collector_key, not api_key');
isnt($j->{collector_key}, $rs->{api_key}, '8.6 a new key');
like($j->{rotated_at}, $ISO_RE, '8.7 rotated_at');
like($j->{message}, qr/not be shown again/, '8.8 message');
my $new_key = $j->{collector_key};
$r = req('GET', '/api/v1/servers', token => $rs->{api_key});
err_is($r, 401, 'invalid_token', '8.9 the old key stops working at once');
$r = req('GET', '/api/v1/servers', token => $new_key);
err_is($r, 403, 'insufficient_scope', '8.10 the new key is a known collector key');
$r = req('GET', '/api/v1/servers', token => $rot_other->{api_key});
err_is($r, 403, 'insufficient_scope', "8.11 the other server's key is untouched");
$r = req('POST', "/api/v1/servers/$rs->{id}/rotate-key", token => $bob);
err_is($r, 404, 'not_found', "8.12 another account's server is 404");
$r = req('GET', '/api/v1/servers', token => $new_key);
err_is($r, 403, 'insufficient_scope', '8.13 and its key still works');
$r = req('POST', '/api/v1/servers/srv_zzz/rotate-key', token => $erin);
err_is($r, 404, 'not_found', '8.14 malformed id');
# One rotation done (8.1); the 404s above cost nothing. Nine more fit.
my @keys = ($rs->{api_key}, $new_key);
my $fine = 1;
for my $n (2 .. 10) {
	$r = req('POST', "/api/v1/servers/$rs->{id}/rotate-key", token => $erin);
	$fine = 0 unless $r->{status} == 200;
	push @keys, $r->{json}{collector_key} // '';
}
ok($fine, '8.15 ten rotations within the hour') or diag($r->{raw});
my %uniq = map { $_ => 1 } @keys;
is(scalar keys %uniq, 11, '8.16 every key is new');
$r = req('POST', "/api/v1/servers/$rot_other->{id}/rotate-key", token => $erin);
err_is($r, 429, 'rate_limited', '8.17 the 11th, on any server of the account');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, '8.18 Retry-After seconds');
cmp_ok($r->{headers}{'retry-after'} // 0, '<=', 360, '8.19 one token is 6 min');
$r = req('GET', '/api/v1/servers', token => $rot_other->{api_key});
err_is($r, 403, 'insufficient_scope', '8.20 a limited rotation changes no key');
$r = req('POST', "/api/v1/servers/$bob_srv->{id}/rotate-key", token => $bob);
status_is($r, 200, "8.21 another account's budget is its own");

# --- 9. restore and restore-all ----------------------------------------

my $frank = register_user('frank@example.com');
my @f = map { create_server($frank, name => "f$_")->{server}{id} } 1 .. 3;
admin('suspend', $f[0], 'no_card_on_file');
$r = req('POST', "/api/v1/servers/$f[0]/restore", token => $frank);
err_is($r, 400, 'no_card_on_file', '9.1 no card: 400');
like($r->{json}{message}, qr/payment method/, '9.2 message');
is(get_server($frank, $f[0])->{json}{status}, 'suspended', '9.3 still suspended');
admin_ok('9.4 card on file', 'payment-method', 'frank@example.com', 'present');
# The switch restored f1 as a card arriving does (tests/billing.t); suspend
# it again to try the route with a card on file.
admin('suspend', $f[0], 'no_card_on_file');
my $f4 = create_server($frank, name => 'f4')->{server}{id};
$r = req('POST', "/api/v1/servers/$f[0]/restore", token => $frank);
err_is($r, 402, 'server_quota_exceeded', '9.5 free and at quota: 402');
is(get_server($frank, $f[0])->{json}{status}, 'suspended', '9.6 still suspended');
req('DELETE', "/api/v1/servers/$f4?confirm=true", token => $frank);
$r = req('POST', "/api/v1/servers/$f[0]/restore", token => $bob);
err_is($r, 404, 'not_found', "9.7 another account's server is 404");
$r = req('POST', "/api/v1/servers/$f[0]/restore", token => $frank);
status_is($r, 200, '9.8 restore with a card and room');
bool_is($r->{json}{success}, 1, '9.9 success');
is($r->{json}{server}{id}, $f[0], '9.10 the server');
is($r->{json}{server}{status}, 'active', '9.11 active');
ok(exists $r->{json}{server}{suspended_at}
    && !defined $r->{json}{server}{suspended_at}
    && !defined $r->{json}{server}{suspended_reason}, '9.12 suspension cleared');
is(get_server($frank, $f[0])->{json}{status}, 'active', '9.13 stored');
$r = req('POST', "/api/v1/servers/$f[0]/restore", token => $frank);
ok($r->{status} == 200 && $r->{json}{server}{status} eq 'active',
    '9.14 restoring an active server is a 200 no-op');
admin('payment-method', 'frank@example.com', 'absent');
$r = req('POST', "/api/v1/servers/$f[1]/restore", token => $frank);
ok($r->{status} == 200 && $r->{json}{server}{status} eq 'active',
    '9.15 the no-op needs no card');
$r = req('POST', '/api/v1/servers/srv_zzz/restore', token => $frank);
err_is($r, 404, 'not_found', '9.16 malformed id');

my $gina = register_user('gina@example.com');
my $g1 = create_server($gina, name => 'g1')->{server}{id};
admin('suspend', $g1, 'no_card_on_file');
$r = req('POST', "/api/v1/servers/$g1/restore", token => $gina);
err_is($r, 400, 'no_card_on_file', '9.17 not exempt, no card');
admin_ok('9.18 exempt on', 'exempt', 'gina@example.com', 'on');
$r = req('POST', "/api/v1/servers/$g1/restore", token => $gina);
ok($r->{status} == 200 && $r->{json}{server}{status} eq 'active',
    '9.19 an exempt account restores without a card') or diag($r->{raw});

# restore-all: hank (free) has h1 h2 suspended for no card, h3 suspended
# by the operator, h4 h5 active: room for one more.
my $hank = register_user('hank@example.com');
my $th = time + 30;
my @h;
for my $i (1 .. 3) {
	local $ENV{KILN_FAKE_NOW} = $th + $i;
	push @h, create_server($hank, name => "h$i")->{server}{id};
}
admin('suspend', $h[0], 'no_card_on_file');
admin('suspend', $h[1], 'no_card_on_file');
admin('suspend', $h[2], 'operator');
create_server($hank, name => "h$_") for 4, 5;
my %st = sub { map { $_->{id} => $_->{status} } @{ $_[0] } }
    ->(req('GET', '/api/v1/servers', token => $hank)->{json}{servers});
is_deeply([ @st{@h} ], [qw(suspended suspended suspended)], '9.20 set up');
$r = req('POST', '/api/v1/servers/restore-all', token => $hank);
err_is($r, 400, 'no_card_on_file', '9.21 restore-all without a card');
admin('payment-method', 'hank@example.com', 'present');
admin('suspend', $h[0], 'no_card_on_file');	# the switch restored it
$r = req('POST', '/api/v1/servers/restore-all', token => $hank);
status_is($r, 200, '9.22 restore-all answers 200');
is_deeply($r->{json}, { success => JSON::PP::true, restored => 1 },
    '9.23 restored 1: up to the free quota');
my $hstat = sub {
	my %m = map { $_->{id} => $_->{status} }
	    @{ req('GET', '/api/v1/servers', token => $hank)->{json}{servers} };
	return [ @m{@h} ];
};
is_deeply($hstat->(), [qw(active suspended suspended)], '9.24 the oldest first');
$r = req('POST', '/api/v1/servers/restore-all', token => $hank);
is($r->{json}{restored}, 0, '9.25 at quota: restored 0');
admin('plan', 'hank@example.com', 'pro');
$r = req('POST', '/api/v1/servers/restore-all', token => $hank);
is($r->{json}{restored}, 1, '9.26 pro: every no-card server');
is_deeply($hstat->(), [qw(active active suspended)],
    '9.27 only no_card_on_file servers come back');
$r = req('POST', '/api/v1/servers/restore-all', token => $hank);
ok($r->{status} == 200 && $r->{json}{restored} == 0, '9.28 nothing left: 0');
$r = req('POST', '/api/v1/servers/restore-all', token => $bob);
err_is($r, 400, 'no_card_on_file', '9.29 per account');

# --- 10. methods and paths ---------------------------------------------

for (['10.1', 'PUT', '/api/v1/servers', 'GET, POST'],
    ['10.2', 'DELETE', '/api/v1/servers', 'GET, POST'],
    ['10.3', 'PUT', "/api/v1/servers/$pid", 'GET, PATCH, DELETE'],
    ['10.4', 'POST', "/api/v1/servers/$pid", 'GET, PATCH, DELETE'],
    ['10.5', 'GET', "/api/v1/servers/$pid/rotate-key", 'POST'],
    ['10.6', 'GET', "/api/v1/servers/$pid/restore", 'POST'],
    ['10.7', 'GET', '/api/v1/servers/restore-all', 'POST']) {
	$r = req($_->[1], $_->[2], token => $alice);
	err_is($r, 405, 'method_not_allowed', "$_->[0] $_->[1] $_->[2]");
	is($r->{headers}{allow}, $_->[3], "$_->[0] Allow: $_->[3]");
}
for (['10.8', 'GET', "/api/v1/servers/$pid/nope"],
    ['10.9', 'POST', "/api/v1/servers/$pid/rotate-key/x"],
    ['10.10', 'GET', "/api/v1/servers/$pid/a/b/c"],
    ['10.11', 'GET', '/api/v1/serversx'],
    ['10.12', 'GET', '/api/v1/servers//x'],
    ['10.13', 'GET', '/api/v1/servers/../etc/passwd'],
    ['10.14', 'POST', '/api/v1/servers/restore-all/x']) {
	$r = req($_->[1], $_->[2], token => $alice);
	err_is($r, 404, 'not_found', "$_->[0] $_->[1] $_->[2]");
}
$r = req('GET', '/api/v1/servers/', token => $alice);
status_is($r, 200, '10.15 a trailing slash is the list');

# --- 11. auth ----------------------------------------------------------

for (['11.1', 'GET', '/api/v1/servers'], ['11.2', 'POST', '/api/v1/servers'],
    ['11.3', 'GET', "/api/v1/servers/$pid"],
    ['11.4', 'PATCH', "/api/v1/servers/$pid"],
    ['11.5', 'DELETE', "/api/v1/servers/$pid?confirm=true"],
    ['11.6', 'POST', "/api/v1/servers/$pid/rotate-key"],
    ['11.7', 'POST', "/api/v1/servers/$pid/restore"],
    ['11.8', 'POST', '/api/v1/servers/restore-all'],
    ['11.9', 'PUT', '/api/v1/servers']) {
	$r = req($_->[1], $_->[2], body => '{"name":"x"}');
	err_is($r, 401, 'unauthorized', "$_->[0] $_->[1] $_->[2] without a token");
}
like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, '11.10 WWW-Authenticate');
$r = req('GET', '/api/v1/servers', token => 'kiln_sess_' . ('A' x 43));
err_is($r, 401, 'invalid_token', '11.11 unknown session token');
$r = req('GET', '/api/v1/servers', headers => { Authorization => "Basic $alice" });
err_is($r, 401, 'unauthorized', '11.12 not a Bearer token');
$r = req('GET', '/api/v1/servers', token => $keys[-1]);
err_is($r, 403, 'insufficient_scope', '11.13 collector key on GET /servers');
$r = req('POST', '/api/v1/servers', token => $keys[-1], body => '{"name":"x"}');
err_is($r, 403, 'insufficient_scope', '11.14 collector key on POST /servers');
$r = req('GET', "/api/v1/servers/$rs->{id}", token => $keys[-1]);
err_is($r, 403, 'insufficient_scope', '11.15 collector key on its own server');
$r = req('DELETE', "/api/v1/servers/$rs->{id}?confirm=true", token => $keys[-1]);
err_is($r, 403, 'insufficient_scope', '11.16 collector key cannot delete');
status_is(get_server($erin, $rs->{id}), 200, '11.17 still there');
(my $typo = $keys[-1]) =~ s/_(....)$/_AAAA/;
$r = req('GET', '/api/v1/servers', token => $typo);
err_is($r, 401, 'invalid_token', '11.18 a key with a bad checksum');
my $lo = cgi('auth', 'POST', '/api/v1/auth/logout', token => $erin);
$r = req('GET', '/api/v1/servers', token => $erin);
err_is($r, 401, 'invalid_token', '11.19 a logged-out session') or diag($lo->{raw});

# --- 12. per-account sub-limits ----------------------------------------

new_env(rate_ip => 100000, rate_server_create => 2, rate_server_delete => 2);
my $ivy = register_user('ivy@example.com');
admin('plan', 'ivy@example.com', 'pro');
my @iv = map { create_server($ivy, name => "iv$_")->{server}{id} } 1 .. 2;
$r = req('POST', '/api/v1/servers', token => $ivy, body => '{"name":"iv3"}',
    headers => { 'Idempotency-Key' => 'rl-1' });
err_is($r, 429, 'rate_limited', '12.1 the 3rd create in the window');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, '12.2 Retry-After');
is(scalar @{ list_ids($ivy) }, 2, '12.3 nothing created');
is(sql("SELECT count(*) FROM idempotency WHERE key = 'rl-1'"), 0,
    '12.4 a 429 is not kept for replay');
$r = req('POST', '/api/v1/servers', token => $ivy, body => '{"name":"bad name"}');
err_is($r, 400, 'validation_failed', '12.5 validation answers before the limit');
my $jack = register_user('jack@example.com');
$r = req('POST', '/api/v1/servers', token => $jack, body => '{"name":"j1"}');
status_is($r, 201, '12.6 another account has its own bucket');
$r = req('DELETE', "/api/v1/servers/$iv[0]?confirm=true", token => $ivy);
status_is($r, 200, '12.7 first delete');
$r = req('DELETE', "/api/v1/servers/$iv[1]?confirm=true", token => $ivy);
status_is($r, 200, '12.8 second delete');
$r = req('DELETE', "/api/v1/servers/$iv[1]?confirm=true", token => $ivy);
err_is($r, 404, 'not_found', '12.9 a 404 costs no token');
# A third server, put in behind the create limit's back.
my $ivy_acc = account_id('ivy@example.com');
my $iv3 = 'srv_' . ('ab' x 10);
sql("INSERT INTO server (public_id, account_id, name, hostname, key_hash,"
    . " created_at) VALUES ('$iv3', $ivy_acc, 'iv3', 'iv3', randomblob(32),"
    . " ${\ time})");
$r = req('DELETE', "/api/v1/servers/$iv3", token => $ivy);
err_is($r, 400, 'confirmation_required', '12.10 an unconfirmed delete answers first');
$r = req('DELETE', "/api/v1/servers/$iv3?confirm=true", token => $ivy);
err_is($r, 429, 'rate_limited', '12.11 the 3rd delete in the window');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, '12.12 Retry-After');
status_is(get_server($ivy, $iv3), 200, '12.13 not deleted');

# --- 14. creation order within one second; operator suspensions ----------

{
	local $ENV{KILN_FAKE_NOW} = '2031-01-01T00:00:00Z';
	local $ENV{KILN_RATE_SERVER_CREATE} = 1000;
	my $kim = register_user('kim@example.com');
	admin('plan', 'kim@example.com', 'pro');
	my @made = map { create_server($kim, name => "k$_")->{server}{id} } 1 .. 6;
	is_deeply(list_ids($kim), \@made, '14.1 same-second creates list in creation order');
	my $page = req('GET', '/api/v1/servers?limit=4', token => $kim);
	my @walk = map { $_->{id} } @{ $page->{json}{servers} };
	$page = req('GET', "/api/v1/servers?limit=4&cursor=$page->{json}{next_cursor}",
	    token => $kim);
	push @walk, map { $_->{id} } @{ $page->{json}{servers} };
	is_deeply(\@walk, \@made, '14.2 paging within one second keeps that order');
	admin('payment-method', 'kim@example.com', 'present');
	admin('suspend', $made[0], 'abuse');
	my $r = req('POST', "/api/v1/servers/$made[0]/restore", token => $kim);
	err_is($r, 409, 'not_restorable', '14.3 an operator suspension is not the user\'s to lift');
	is(sql("SELECT status FROM server WHERE public_id = '$made[0]'"), 'suspended',
	    '14.4 still suspended');
	$r = req('POST', '/api/v1/servers/restore-all', token => $kim);
	is($r->{json}{restored}, 0, '14.5 restore-all leaves it too');
	$r = req('GET', '/api/v1/servers?tag=%ff', token => $kim);
	err_is($r, 400, 'invalid_tag', '14.6 a tag filter that is not UTF-8 is refused, not dropped');
	$r = req('POST', '/api/v1/servers', token => $kim,
	    headers => { 'Idempotency-Key' => 'sealed-1' }, body => '{"name":"sealed"}');
	status_is($r, 201, '14.7 an idempotent create');
	my $key = $r->{json}{server}{api_key};
	my $files = '';
	for my $f (glob "$ENV{KILN_VAR_DIR}/kiln.db*") {
		open my $fh, '<:raw', $f or next;
		local $/;
		$files .= <$fh>;
	}
	ok(index($files, $key) < 0, '14.8 the collector key is nowhere in the database files');
	my $replay = req('POST', '/api/v1/servers', token => $kim,
	    headers => { 'Idempotency-Key' => 'sealed-1' }, body => '{"name":"sealed"}');
	is($replay->{json}{server}{api_key}, $key, '14.9 yet the replay shows it again');
	is($replay->{headers}{'idempotency-replayed'}, 'true', '14.10 as a replay');
	{
		local $ENV{KILN_KEY_PEPPER} = 'another-pepper';
		$replay = req('POST', '/api/v1/servers', token => $kim,
		    headers => { 'Idempotency-Key' => 'sealed-1' }, body => '{"name":"sealed"}');
		isnt($replay->{status}, 201, '14.11 under another pepper nothing is replayed');
	}
}

# --- 13. the processes -------------------------------------------------

ok(!@bad_exits, '13.1 every kiln-servers run exited 0')
    or diag(join "\n", @bad_exits);

done_testing();
