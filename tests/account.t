#!/usr/bin/perl
# account: the programmatic API (SPEC 13) through kiln-account and the
# route binaries a key is used on, as plain CGI against a fresh database.
# Account keys: mint (shown once, never stored), list, revoke, expiry,
# last use, scopes on real endpoints, where keys are refused. The audit
# log: the row each management request leaves (success, 401, 403, 404,
# 405, 429), GET /account/audit (admin only, pagination, filters), its
# retention, and a failed audit write that must not fail the request.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(strftime);
use KilnTest;

# A large per-IP bucket (this file makes hundreds of requests from one
# address); one rotate-key per hour, so that the second is a 429.
new_env(rate_ip => 100000, rate_rotate_key => 1);

my $KEY_RE = qr/^gmk_acct_live_[0-9A-Za-z]{43}_[0-9A-Za-z]{4}$/;
my $ISO_RE = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $ELLIPSIS = "\xe2\x80\xa6";	# KilnTest's JSON is bytes, as sent

# Every route process must exit 0 (under `make sanitize` a leak or UB
# report fails the process after it answered).
my @bad_exits;

sub req {
	my ($bin, $method, $uri, %o) = @_;
	my $r = cgi($bin, $method, $uri, %o);
	push @bad_exits, "$bin $method $uri: exit $r->{exit}\n$r->{stderr}"
	    if $r->{exit} != 0;
	return $r;
}

sub iso { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_[0]) }

# Mints a key with a session; returns the 201 body's key object.
sub mint {
	my ($token, %body) = @_;
	$body{name} //= 'key-' . int(rand(1e9));
	my $r = req('account', 'POST', '/api/v1/account/keys', token => $token,
	    body => \%body);
	die "mint: $r->{status} $r->{raw}" unless $r->{status} == 201;
	return $r->{json}{key};
}

sub keys_of {
	my ($token) = @_;
	my $r = req('account', 'GET', '/api/v1/account/keys', token => $token);
	die "keys: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return $r->{json}{keys};
}

# The audit row of the request that answered $r (by its request id).
sub audit_row {
	my ($r) = @_;
	my $id = $r->{headers}{'x-request-id'};
	my $row = sql("SELECT json_object('who', who, 'account', account_id,"
	    . " 'ip', ip, 'method', method, 'route', route, 'resource',"
	    . " resource, 'action', action, 'result', result, 'status',"
	    . " status, 'request_id', request_id) FROM audit_log"
	    . " WHERE request_id = '$id'");
	return length $row ? json_of($row) : undef;
}

sub audit_count { sql('SELECT count(*) FROM audit_log') }

my $alice = register_user('alice@example.com');
my $bob = register_user('bob@example.com');
admin('plan', 'alice@example.com', 'pro');
my $alice_id = req('auth', 'GET', '/api/v1/auth/me', token => $alice)
    ->{json}{id};
my $alice_acct = sql("SELECT account_id FROM user WHERE email = "
    . "'alice\@example.com'");

# --- 1. mint -------------------------------------------------------------

my $r = req('account', 'POST', '/api/v1/account/keys', token => $alice,
    body => { name => 'ci deploy', scope => 'read' });
status_is($r, 201, '1.1 mint answers 201');
my $k = $r->{json}{key};
my $read_key = $k->{api_key};
like($read_key, $KEY_RE, '1.2 the raw key: gmk_acct_live_<43>_<4>');
like($k->{id}, qr/^key_[0-9a-f]{20}$/, '1.3 id is key_ + 20 hex');
is($k->{name}, 'ci deploy', '1.4 name');
is($k->{scope}, 'read', '1.5 scope');
is($k->{prefix}, substr($read_key, 0, 18) . $ELLIPSIS,
    '1.6 prefix: the first 18 characters and an ellipsis');
like($k->{created_at}, $ISO_RE, '1.7 created_at');
ok(exists $k->{expires_at} && !defined $k->{expires_at},
    '1.8 expires_at null: never');
ok(exists $k->{last_used_at} && !defined $k->{last_used_at},
    '1.9 last_used_at null');
is_deeply([sort keys %$k], [qw(api_key created_at expires_at id
    last_used_at name prefix scope)], '1.10 exactly these fields');
like($r->{json}{message}, qr/not be shown again/, '1.11 shown once');
ok(JSON::PP::is_bool($r->{json}{success}) && $r->{json}{success},
    '1.12 success true');
my $read_id = $k->{id};
{
	# The raw key is in neither the database nor its write-ahead log.
	my $found = 0;
	for my $f (map { "$ENV{KILN_VAR_DIR}/kiln.db$_" } ('', '-wal')) {
		open my $fh, '<:raw', $f or next;
		local $/;
		my $bytes = <$fh>;
		$found++ if index($bytes, $read_key) >= 0
		    || index($bytes, substr($read_key, 14, 43)) >= 0;
	}
	is($found, 0, '1.13 the key is never stored in clear');
}
is(sql("SELECT length(key_hash) FROM account_key WHERE public_id = "
    . "'$read_id'"), 32, '1.14 stored as a 32-byte hash');

my $write_key = mint($alice, name => 'writer', scope => 'write')->{api_key};
my $admin = mint($alice, name => 'root', scope => 'admin');
my $admin_key = $admin->{api_key};
isnt($write_key, $admin_key, '1.15 every key is new');

# Validation.
my @bad = (
    [ {}, 'name', '1.16 name required' ],
    [ { name => '', scope => 'read' }, 'name', '1.17 empty name' ],
    [ { name => 'x' x 101, scope => 'read' }, 'name', '1.18 101 chars' ],
    [ { name => 7, scope => 'read' }, 'name', '1.19 name a number' ],
    [ { name => "a\tb", scope => 'read' }, 'name', '1.20 control char' ],
    [ { name => 'k' }, 'scope', '1.21 scope required' ],
    [ { name => 'k', scope => 'owner' }, 'scope', '1.22 unknown scope' ],
    [ { name => 'k', scope => 'READ' }, 'scope', '1.23 scope is exact' ],
    [ { name => 'k', scope => 3 }, 'scope', '1.24 scope a number' ],
    [ { name => 'k', scope => 'read', expires_at => iso(time - 60) },
      'expires_at', '1.25 expiry in the past' ],
    [ { name => 'k', scope => 'read', expires_at => 'tomorrow' },
      'expires_at', '1.26 expiry not ISO 8601' ],
    [ { name => 'k', scope => 'read', expires_at => time + 3600 },
      'expires_at', '1.27 expiry a number' ],
    [ { name => 'k', scope => 'read', expires_at => '2030-01-01T00:00:00' },
      'expires_at', '1.28 expiry without a zone' ],
);
for my $b (@bad) {
	err_is(req('account', 'POST', '/api/v1/account/keys', token => $alice,
	    body => $b->[0]), 400, 'validation_failed', $b->[2],
	    field => $b->[1]);
}
err_is(req('account', 'POST', '/api/v1/account/keys', token => $alice,
    body => '{"name":'), 400, 'invalid_json', '1.29 bad JSON');
$k = mint($alice, name => "\x{e9}" x 100, scope => 'read',
    expires_at => undef, key_hash => 'x', account_id => 99);
is($k->{name}, "\xc3\xa9" x 100, '1.30 100 characters (200 bytes) fit');
ok(!defined $k->{expires_at}, '1.31 expires_at null accepted');
is(sql("SELECT account_id FROM account_key WHERE public_id = '$k->{id}'"),
    $alice_acct, '1.32 other fields are dropped');

# --- 2. list ---------------------------------------------------------------

my $list = keys_of($alice);
is(scalar @$list, 4, '2.1 alice has four keys');
is($list->[0]{id}, $read_id, '2.2 in creation order');
is_deeply([sort keys %{ $list->[0] }], [qw(created_at expires_at id
    last_used_at name prefix scope)], '2.3 no api_key in a list');
$r = req('account', 'GET', '/api/v1/account/keys', token => $alice);
unlike($r->{raw}, qr/gmk_acct_live_[0-9A-Za-z]{20}/,
    '2.4 no raw key anywhere in the list');
is(scalar @{ keys_of($bob) }, 0, '2.5 bob sees none of them');
my $bob_key = mint($bob, name => 'bob', scope => 'admin');
is(scalar @{ keys_of($bob) }, 1, '2.6 bob sees his own');

# --- 3. scopes on real endpoints ------------------------------------------

$r = req('servers', 'GET', '/api/v1/servers', token => $read_key);
status_is($r, 200, '3.1 read key: GET /servers');
err_is(req('servers', 'POST', '/api/v1/servers', token => $read_key,
    body => { name => 'nope' }), 403, 'insufficient_scope',
    '3.2 read key: POST /servers is 403');
$r = req('servers', 'POST', '/api/v1/servers', token => $write_key,
    body => { name => 'web-1' });
status_is($r, 201, '3.3 write key: POST /servers');
my $srv = $r->{json}{server}{id};
my $collector = $r->{json}{server}{api_key};
$r = req('servers', 'GET', '/api/v1/servers', token => $read_key);
is_deeply([map { $_->{id} } @{ $r->{json}{servers} }], [$srv],
    '3.4 a key acts on its owner\'s account');
status_is(req('servers', 'PATCH', "/api/v1/servers/$srv",
    token => $write_key, body => { name => 'web-01' }), 200,
    '3.5 write key: PATCH');
status_is(req('alerts', 'GET', "/api/v1/servers/$srv/mutes",
    token => $read_key), 200, '3.6 read key: GET mutes');
err_is(req('alerts', 'PUT', "/api/v1/servers/$srv/mutes",
    token => $write_key, body => { muted_rules => [] }), 403,
    'insufficient_scope', '3.7 write key: PUT mutes (Admin) is 403');
status_is(req('alerts', 'PUT', "/api/v1/servers/$srv/mutes",
    token => $admin_key, body => { muted_rules => ['cpu_high'] }), 200,
    '3.8 admin key: PUT mutes');
status_is(req('alerts', 'PUT', "/api/v1/servers/$srv/mutes",
    token => $alice, body => { muted_rules => [] }), 200,
    '3.9 session: PUT mutes');
$r = req('auth', 'GET', '/api/v1/auth/me', token => $read_key);
is($r->{json}{id}, $alice_id, '3.10 /auth/me names the key\'s owner');
my $bob_srv = create_server($bob)->{server}{id};
err_is(req('alerts', 'PUT', "/api/v1/servers/$bob_srv/mutes",
    token => $bob_key->{api_key}, body => { muted_rules => [] }), 402,
    'pro_required', '3.11 a key does not lift the plan gate');
err_is(req('servers', 'GET', "/api/v1/servers/$bob_srv",
    token => $admin_key), 404, 'not_found',
    '3.12 another account\'s server is 404 to a key');

# Where keys are refused.
for my $t ([$read_key, 'read'], [$admin_key, 'admin']) {
	err_is(req('account', 'POST', '/api/v1/account/keys', token => $t->[0],
	    body => { name => 'child', scope => 'read' }), 403,
	    'insufficient_scope', "3.13 a $t->[1] key can't mint a key");
	err_is(req('account', 'GET', '/api/v1/account/keys',
	    token => $t->[0]), 403, 'insufficient_scope',
	    "3.14 a $t->[1] key can't list keys");
	err_is(req('account', 'DELETE', "/api/v1/account/keys/$read_id",
	    token => $t->[0]), 403, 'insufficient_scope',
	    "3.15 a $t->[1] key can't revoke a key");
}
is(scalar @{ keys_of($alice) }, 4, '3.16 nothing was minted or revoked');
err_is(req('account', 'GET', '/api/v1/account/keys', token => $collector),
    403, 'insufficient_scope', '3.17 a collector key on /account/keys');
err_is(req('ingest', 'POST', '/api/v1/ingest', token => $admin_key,
    body => fixture('snapshot-debian12-vm.json')), 401, 'invalid_key',
    '3.18 an account key on /ingest is 401');
err_is(req('servers', 'GET', '/api/v1/servers', token => $collector),
    403, 'insufficient_scope', '3.19 a collector key on /servers');

# Malformed and unknown keys: 401 invalid_token.
(my $typo = $read_key) =~ s/(.)(_....)$/($1 eq 'a' ? 'b' : 'a') . $2/e;
err_is(req('servers', 'GET', '/api/v1/servers', token => $typo), 401,
    'invalid_token', '3.20 a typo (bad checksum)');
err_is(req('servers', 'GET', '/api/v1/servers',
    token => substr($read_key, 0, 40)), 401, 'invalid_token',
    '3.21 a truncated key');
{
	# Well formed, right checksum, but no such key (another pepper).
	local $ENV{KILN_KEY_PEPPER} = 'another-pepper';
	err_is(req('servers', 'GET', '/api/v1/servers', token => $read_key),
	    401, 'invalid_token', '3.22 an unknown key');
}

# The per-key bucket is named after the key, not the owner's session.
# kiln-admin lists the buckets still refilling: look at the instant of
# the request (a bucket 1000 / 100 s^-1 is full again 10 ms later).
{
	local $ENV{KILN_FAKE_NOW} = time + 1;
	status_is(req('servers', 'GET', '/api/v1/servers', token => $read_key),
	    200, '3.23 a request with the key');
	my ($rc, $out) = admin('rate-buckets');
	ok($rc == 0 && $out =~ /^key:\Q$read_id\E \d+\.\d{3}$/m,
	    '3.24 the key has its own rate bucket') or diag($out);
}
{
	# Looking never makes or replaces the table (an operator's root
	# shell would leave one the web server's user can't open).
	local $ENV{KILN_RATE_SHM_PATH} = "$ENV{KILN_VAR_DIR}/look.shm";
	my ($rc, $out) = admin('rate-buckets');
	ok($rc == 0 && $out eq '' && !-e $ENV{KILN_RATE_SHM_PATH},
	    '3.25 rate-buckets with no table: nothing, and none made')
	    or diag($out);
	open my $fh, '>', $ENV{KILN_RATE_SHM_PATH} or die;
	print $fh 'x' x 100;
	close $fh;
	($rc, $out) = admin('rate-buckets');
	ok($rc == 0 && $out eq '' && -s $ENV{KILN_RATE_SHM_PATH} == 100,
	    '3.26 a stale table is left for the routes to replace') or diag($out);
}

# --- 4. expiry and last use -----------------------------------------------

my $now = time;
my $exp = mint($alice, name => 'temp', scope => 'read',
    expires_at => iso($now + 3600));
is($exp->{expires_at}, iso($now + 3600), '4.1 expires_at shown');
{
	local $ENV{KILN_FAKE_NOW} = $now + 3599;
	status_is(req('servers', 'GET', '/api/v1/servers',
	    token => $exp->{api_key}), 200, '4.2 works until it expires');
	local $ENV{KILN_FAKE_NOW} = $now + 3600;
	err_is(req('servers', 'GET', '/api/v1/servers',
	    token => $exp->{api_key}), 401, 'invalid_token',
	    '4.3 401 invalid_token once expired');
	$r = req('account', 'GET', '/api/v1/account/keys', token => $alice);
	ok((grep { $_->{id} eq $exp->{id} } @{ $r->{json}{keys} }),
	    '4.4 an expired key is still listed (to be deleted)');
}
$exp = mint($alice, name => 'iso-offset', scope => 'read',
    expires_at => strftime('%Y-%m-%dT%H:%M:%S+02:00', gmtime($now + 9000)));
is($exp->{expires_at}, iso($now + 9000 - 7200),
    '4.5 an expiry with an offset is stored in UTC');

my $t = 1893456000;	# 2030-01-01T00:00:00Z
my $used = mint($alice, name => 'used', scope => 'read');
sub last_used {
	sql("SELECT coalesce(last_used_at, 'null') FROM account_key WHERE "
	    . "public_id = '$used->{id}'");
}
sub use_at {
	local $ENV{KILN_FAKE_NOW} = $_[0];
	req('servers', 'GET', '/api/v1/servers', token => $used->{api_key});
}
is(last_used(), 'null', '4.6 never used');
use_at($t);
is(last_used(), $t, '4.7 first use noted');
use_at($t + 30);
is(last_used(), $t, '4.8 not again within the minute (no write)');
use_at($t + 59);
is(last_used(), $t, '4.9 still not at 59 s');
use_at($t + 60);
is(last_used(), $t + 60, '4.10 noted again after a minute');
($k) = grep { $_->{id} eq $used->{id} } @{ keys_of($alice) };
is($k->{last_used_at}, iso($t + 60), '4.11 the list shows last_used_at');

# --- 5. revoke ---------------------------------------------------------------

my $victim = mint($alice, name => 'victim', scope => 'write');
status_is(req('servers', 'GET', '/api/v1/servers',
    token => $victim->{api_key}), 200, '5.1 works before');
$r = req('account', 'DELETE', "/api/v1/account/keys/$victim->{id}",
    token => $alice);
status_is($r, 204, '5.2 DELETE answers 204');
is($r->{raw} // '', '', '5.3 with no body');
err_is(req('servers', 'GET', '/api/v1/servers',
    token => $victim->{api_key}), 401, 'invalid_token',
    '5.4 the key stops working at once');
ok(!(grep { $_->{id} eq $victim->{id} } @{ keys_of($alice) }),
    '5.5 no longer listed');
err_is(req('account', 'DELETE', "/api/v1/account/keys/$victim->{id}",
    token => $alice), 404, 'not_found', '5.6 a second DELETE is 404');
err_is(req('account', 'DELETE', "/api/v1/account/keys/$bob_key->{id}",
    token => $alice), 404, 'not_found', '5.7 another account\'s key is 404');
status_is(req('servers', 'GET', '/api/v1/servers',
    token => $bob_key->{api_key}), 200, '5.8 and it still works');
err_is(req('account', 'DELETE', '/api/v1/account/keys/key_nope',
    token => $alice), 404, 'not_found', '5.9 a malformed id is 404');
err_is(req('account', 'DELETE', '/api/v1/account/keys', token => $alice),
    405, 'method_not_allowed', '5.10 DELETE on the collection is 405');
is(req('account', 'DELETE', '/api/v1/account/keys', token => $alice)
    ->{headers}{allow}, 'GET, POST', '5.11 Allow: GET, POST');
err_is(req('account', 'PUT', "/api/v1/account/keys/$read_id",
    token => $alice), 405, 'method_not_allowed', '5.12 PUT on a key is 405');
err_is(req('account', 'GET', '/api/v1/account/nothing', token => $alice),
    404, 'not_found', '5.13 unknown path 404');
err_is(req('account', 'GET', '/api/v1/account/keys'), 401, 'unauthorized',
    '5.14 no token: 401');

# --- 6. audit rows -----------------------------------------------------------

$r = req('servers', 'POST', '/api/v1/servers', token => $alice,
    body => { name => 'audited' }, headers => { 'X-Request-Id' => 'audit-1' });
my $asrv = $r->{json}{server}{id};
my $row = audit_row($r);
is_deeply($row, { who => $alice_id, account => $alice_acct + 0,
    ip => '192.0.2.1', method => 'POST', route => '/servers',
    resource => undef, action => 'server.create', result => 'ok',
    status => 201, request_id => 'audit-1' }, '6.1 a create: the full row');

$r = req('servers', 'POST', "/api/v1/servers/$asrv/rotate-key",
    token => $alice, ip => '203.0.113.7');
status_is($r, 200, '6.2 rotate');
$row = audit_row($r);
is($row->{route}, '/servers/:id/rotate-key', '6.3 route is the pattern');
is($row->{resource}, $asrv, '6.4 resource is the id in the path');
is($row->{action}, 'server.rotate_key', '6.5 action');
is($row->{ip}, '203.0.113.7', '6.6 source IP');
is($row->{request_id}, $r->{headers}{'x-request-id'},
    '6.7 request id as in X-Request-Id');

$r = req('servers', 'POST', "/api/v1/servers/$asrv/rotate-key",
    token => $alice);
err_is($r, 429, 'rate_limited', '6.8 a second rotate within the hour');
$row = audit_row($r);
is_deeply([@$row{qw(who route resource status result)}],
    [$alice_id, '/servers/:id/rotate-key', $asrv, 429, 'denied'],
    '6.9 the 429 is logged, denied, with who');

$r = req('servers', 'POST', "/api/v1/servers/$asrv/rotate-key");
err_is($r, 401, 'unauthorized', '6.10 no token');
$row = audit_row($r);
is_deeply([@$row{qw(who account route resource status result)}],
    [undef, undef, '/servers/:id/rotate-key', $asrv, 401, 'denied'],
    '6.11 the 401 is logged, who null');

$r = req('servers', 'DELETE', "/api/v1/servers/$asrv?confirm=true",
    token => 'kiln_sess_nonsense');
err_is($r, 401, 'invalid_token', '6.12 a bad token');
$row = audit_row($r);
is_deeply([@$row{qw(who account route action status result)}],
    [undef, undef, '/servers/:id', 'server.delete', 401, 'denied'],
    '6.13 the bad token is logged, who null');

$r = req('servers', 'POST', '/api/v1/servers', token => $read_key,
    body => { name => 'x' });
$row = audit_row($r);
is_deeply([@$row{qw(who account action status result)}],
    [$read_id, $alice_acct + 0, 'server.create', 403, 'denied'],
    '6.14 the 403 is logged with the key as who');

$r = req('servers', 'GET', '/api/v1/servers/srv_00000000000000000000',
    token => $alice);
err_is($r, 404, 'not_found', '6.15 a missing server');
$row = audit_row($r);
is_deeply([@$row{qw(route resource action status result)}],
    ['/servers/:id', 'srv_00000000000000000000', 'server.get', 404,
    'error'], '6.16 the 404 is logged, error');

$r = req('servers', 'GET', '/api/v1/servers/restore-all', token => $alice);
err_is($r, 405, 'method_not_allowed', '6.17 GET restore-all');
$row = audit_row($r);
is_deeply([@$row{qw(route resource action status)}],
    ['/servers/restore-all', undef, undef, 405],
    '6.18 a literal path is not taken for an id; no action for a 405');

$r = req('servers', 'GET', '/api/v1/servers/a/b/c/d', token => $alice);
$row = audit_row($r);
is_deeply([@$row{qw(route resource action status)}],
    [undef, undef, undef, 404], '6.19 no pattern: route and action null');

$r = req('alerts', 'PUT', "/api/v1/servers/$asrv/mutes", token => $alice,
    body => { muted_rules => [] });
$row = audit_row($r);
is_deeply([@$row{qw(route resource action status)}],
    ['/servers/:id/mutes', $asrv, 'mutes.update', 200],
    '6.20 mutes are audited');
$r = req('alerts', 'POST', '/api/v1/alerts/alr_00000000000000000000/resolve',
    token => $alice);
is(audit_row($r)->{action}, 'alert.resolve', '6.21 alerts are audited');
$r = req('account', 'DELETE', '/api/v1/account/keys/key_nope',
    token => $alice);
is_deeply([@{ audit_row($r) }{qw(route resource action status)}],
    ['/account/keys/:id', 'key_nope', 'key.delete', 404],
    '6.22 account is audited');

my $before = audit_count();
req('auth', 'GET', '/api/v1/auth/me', token => $alice);
req('meta', 'GET', '/api/v1/version');
req('health', 'GET', "/api/v1/servers/$asrv/health", token => $alice);
req('ingest', 'POST', '/api/v1/ingest', token => $collector, body => '{}');
is(audit_count(), $before, '6.23 auth, meta, health, ingest: not audited');

$r = req('servers', 'GET', '/api/v1/servers', token => $alice,
    headers => { 'X-Request-Id' => "bad id\x01" });
is(audit_row($r)->{request_id}, $r->{headers}{'x-request-id'},
    '6.24 a replaced request id is the one logged');

my $ok200 = sql('SELECT count(*) FROM audit_log WHERE status = 200');
system("sqlite3 '$ENV{KILN_VAR_DIR}/kiln.db' "
    . "'UPDATE audit_log SET status = 200' 2>/dev/null");
ok($? != 0, '6.25 rows can\'t be changed (append-only)');
is(sql('SELECT count(*) FROM audit_log WHERE status = 200'), $ok200,
    '6.26 and were not');

# --- 7. GET /account/audit ----------------------------------------------------

sub audit_get {
	my ($token, $query) = @_;
	return req('account', 'GET', '/api/v1/account/audit' . ($query // ''),
	    token => $token);
}

my $mine = sql("SELECT count(*) FROM audit_log WHERE account_id = "
    . "$alice_acct");
$r = audit_get($alice);
status_is($r, 200, '7.1 a session may read the log');
my $entries = $r->{json}{entries};
is_deeply([sort keys %{ $entries->[0] }], [qw(action created_at id ip
    method request_id resource result route status who)],
    '7.2 an entry has these fields');
like($entries->[0]{id}, qr/^aud_[0-9a-f]{20}$/, '7.3 entry id');
like($entries->[0]{created_at},
    qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '7.4 created_at with ms');
my @times = map { $_->{created_at} } @$entries;
is_deeply(\@times, [sort { $b cmp $a } @times], '7.5 newest first');
is(scalar @$entries, $mine < 100 ? $mine : 100,
    '7.6 the account\'s rows (only those)');
ok(!(grep { !defined $_->{who} } @$entries),
    '7.7 unauthenticated rows belong to no account');
ok(!(grep { ($_->{who} // '') eq $bob_key->{id} } @$entries),
    '7.8 none of bob\'s');
$r = audit_get($bob_key->{api_key});
status_is($r, 200, '7.9 an admin key may read the log');
ok(!(grep { ($_->{who} // '') eq $alice_id } @{ $r->{json}{entries} }),
    '7.10 bob sees only his account');
err_is(audit_get($read_key), 403, 'insufficient_scope', '7.11 read key: 403');
err_is(audit_get($write_key), 403, 'insufficient_scope',
    '7.12 write key: 403');
status_is(audit_get($admin_key), 200, '7.13 admin key: 200');
$r = audit_get($read_key);
is(audit_row($r)->{action}, 'audit.list', '7.14 reading the log is logged');
err_is(req('account', 'POST', '/api/v1/account/audit', token => $alice),
    405, 'method_not_allowed', '7.15 POST is 405');
err_is(audit_get(undef), 401, 'unauthorized', '7.16 no token: 401');

# Pagination: walk everything in pages of 3.
my $all = audit_get($alice)->{json}{entries};
my (@walked, $cursor, $pages);
do {
	$r = audit_get($alice, '?limit=3' . (defined $cursor ?
	    "&cursor=$cursor" : ''));
	die "page: $r->{status} $r->{raw}" unless $r->{status} == 200;
	push @walked, map { $_->{id} } @{ $r->{json}{entries} };
	$cursor = $r->{json}{next_cursor};
	$pages++;
} while (defined $cursor && $pages < 100);
# The walk's own requests are logged too, but newer than where it began.
my %seen;
is_deeply([grep { !$seen{$_}++ } @walked], \@walked, '7.17 no duplicates');
my %want = map { $_->{id} => 1 } @$all;
is(scalar(grep { $want{$_} } @walked), scalar @$all,
    '7.18 every entry of the first listing on some page');
ok($pages >= 2, '7.19 more than one page');
$r = audit_get($alice, '?limit=3');
is(scalar @{ $r->{json}{entries} }, 3, '7.20 limit honoured');
$cursor = $r->{json}{next_cursor};
err_is(audit_get($alice, "?limit=3&action=server.create&cursor=$cursor"),
    400, 'invalid_cursor', '7.21 a cursor is tied to its filters');
err_is(audit_get($bob, "?cursor=$cursor"), 400, 'invalid_cursor',
    '7.22 and to its account');
err_is(audit_get($alice, '?cursor=abc'), 400, 'invalid_cursor',
    '7.23 a forged cursor');
err_is(audit_get($alice, '?limit=0'), 400, 'invalid_limit', '7.24 limit 0');
err_is(audit_get($alice, '?limit=101'), 400, 'invalid_limit',
    '7.25 limit 101');

# Filters.
$r = audit_get($alice, '?action=server.rotate_key');
is_deeply([map { $_->{status} } @{ $r->{json}{entries} }], [429, 200],
    '7.26 ?action=: the account\'s rotations, newest first');
$r = audit_get($alice, "?resource=$asrv");
my %actions = map { $_->{action} // 'null' => 1 } @{ $r->{json}{entries} };
is_deeply([sort keys %actions], [qw(mutes.update server.rotate_key)],
    '7.27 ?resource=: what was done to that server (by alice)');
$r = audit_get($alice, "?resource=$asrv&action=mutes.update");
is(scalar @{ $r->{json}{entries} }, 1, '7.28 both filters');
$r = audit_get($alice, '?action=no.such');
is_deeply($r->{json}{entries}, [], '7.29 nothing matches: empty');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor},
    '7.30 next_cursor null');
err_is(audit_get($alice, '?action=a%20b'), 400, 'invalid_filter',
    '7.31 a filter with a space');
err_is(audit_get($alice, '?resource=' . ('x' x 65)), 400, 'invalid_filter',
    '7.32 a filter of 65 characters');
err_is(audit_get($alice, '?action='), 400, 'invalid_filter',
    '7.33 an empty filter');
# A filtered walk in pages of 1.
($cursor, @walked) = (undef);
for (1 .. 5) {
	$r = audit_get($alice, '?action=server.rotate_key&limit=1'
	    . (defined $cursor ? "&cursor=$cursor" : ''));
	push @walked, map { $_->{status} } @{ $r->{json}{entries} };
	last unless defined($cursor = $r->{json}{next_cursor});
}
is_deeply(\@walked, [429, 200], '7.34 a filtered walk, one by one');

# --- 8. retention and failures ---------------------------------------------

{
	local $ENV{KILN_FAKE_NOW} = time - 400 * 86400;
	req('servers', 'GET', '/api/v1/servers', token => $alice,
	    headers => { 'X-Request-Id' => 'ancient' });
}
is(sql("SELECT count(*) FROM audit_log WHERE request_id = 'ancient'"), 1,
    '8.1 an old row');
$before = audit_count();
system(bin_dir() . "/kiln-cron-retention >/dev/null 2>&1");
is($? >> 8, 0, '8.2 retention runs');
is(sql("SELECT count(*) FROM audit_log WHERE request_id = 'ancient'"), 0,
    '8.3 rows older than audit_retention_days deleted');
is(audit_count(), $before - 1, '8.4 the others kept');
{
	local $ENV{KILN_AUDIT_RETENTION_DAYS} = 0;
	system(bin_dir() . "/kiln-cron-retention >/dev/null 2>&1");
	is($? >> 8, 1, '8.5 audit_retention_days = 0 is refused');
}
{
	# Section 4's requests at 2030 are younger than any cutoff here.
	my $at = time + 2 * 86400;
	local $ENV{KILN_AUDIT_RETENTION_DAYS} = 1;
	local $ENV{KILN_FAKE_NOW} = $at;
	system(bin_dir() . "/kiln-cron-retention >/dev/null 2>&1");
	is(sql('SELECT count(*) FROM audit_log WHERE at_ms < '
	    . ($at - 86400) * 1000), 0, '8.6 a shorter retention, configured');
	ok(audit_count() > 0, '8.7 younger rows kept');
}

# The per-IP limit before auth: its 429 leaves no row (a flood must not
# become a flood of database writes); a failed auth still does (6.11).
new_env(rate_ip => 2);
my $carol = register_user('carol@example.com');
for (1 .. 2) {
	req('servers', 'GET', '/api/v1/servers', token => $carol,
	    ip => '198.18.0.1');
}
$r = req('servers', 'GET', '/api/v1/servers/srv_00000000000000000000',
    token => $carol, ip => '198.18.0.1');
err_is($r, 429, 'rate_limited', '8.8 the third request from one IP');
ok(!defined audit_row($r) && audit_count() == 2,
    '8.9 not logged: only the two requests before it are')
    or diag('audit rows: ' . audit_count());

# A failed audit write is logged and does not fail the request.
sql('DROP TRIGGER audit_log_append_only; DROP TABLE audit_log');
$r = cgi('servers', 'GET', '/api/v1/servers', token => $carol);
status_is($r, 200, '8.10 the request still succeeds');
is($r->{exit}, 0, '8.11 and the process exits 0');
like($r->{stderr} // '', qr/audit: GET \/servers \(200\) not recorded/,
    '8.12 the failure is logged');

# A count that fails while minting is a server fault, not too_many_keys:
# account_key becomes a view whose revoked_at can't be read.
sql("INSERT INTO account_key (public_id, account_id, user_id, name, scope,"
    . " key_hash, prefix, created_at) SELECT 'key_broken', account_id, id,"
    . " 'k', 'read', x'00', 'p', 0 FROM user"
    . " WHERE email = 'carol\@example.com'");
sql('ALTER TABLE account_key RENAME TO account_key_real;'
    . ' CREATE VIEW account_key AS SELECT id, public_id, account_id,'
    . ' user_id, name, scope, key_hash, prefix, created_at, expires_at,'
    . " last_used_at, CASE WHEN id > 0 THEN json('{bad') END AS revoked_at"
    . ' FROM account_key_real');
$r = req('account', 'POST', '/api/v1/account/keys', token => $carol,
    ip => '198.18.0.9', body => { name => 'k', scope => 'read' });
err_is($r, 500, 'internal_error', '8.13 a failed key count answers 500');
is(sql("SELECT count(*) FROM account_key_real"), 1, '8.14 nothing minted');

is(join('', @bad_exits), '', '9.1 every route process exited 0');

done_testing();
