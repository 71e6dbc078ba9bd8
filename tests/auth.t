#!/usr/bin/perl
# auth: register, login, logout, me and verify through kiln-auth as CGI.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX qw(strftime);
use Time::Local qw(timegm);
use Compress::Zlib ();
use Digest::SHA qw(sha256_hex);
# All of KilnTest but its err_is: this file's err_is (below) is stricter.
use KilnTest qw(!err_is);

new_env();

# A binary that refuses a body (413, 415) exits without reading it, so
# writing the body may hit EPIPE. A handler (not IGNORE) is reset by exec,
# so the binaries themselves keep the default disposition.
$SIG{PIPE} = sub { };

my $json = JSON::PP->new->utf8->canonical;
my $good_pw = 'correct horse battery';
my $iso_re = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

# Every request comes from its own address unless the case names one, so
# the per-IP bucket (and clock jumps through KILN_FAKE_NOW, which push a
# bucket's clock forward) never bleed from one case into another.
my $ipn = 0;
sub fresh_ip { $ipn++; '10.9.' . int($ipn / 250) . '.' . ($ipn % 250 + 1) }

# One request to kiln-auth; the body is decoded as UTF-8 into {j}.
sub req {
	my ($method, $path, %o) = @_;
	$o{ip} //= fresh_ip();
	my $r = cgi('auth', $method, "/api/v1/auth$path", %o);
	$r->{j} = eval { $json->decode($r->{raw}) }
	    if defined $r->{raw} && length $r->{raw};
	print STDERR "# $method $path -> $r->{status} ", $r->{raw} // '', "\n"
	    if $ENV{KILN_TEST_VERBOSE};
	return $r;
}

sub register {
	my (%body) = @_;
	my $ip = delete $body{ip};
	return req('POST', '/register', body => \%body, ip => $ip);
}

# A fresh user through the route; returns (token, register response).
my $seq = 0;
sub new_user {
	my (%o) = @_;
	my $email = $o{email} // 'user' . ++$seq . '@example.com';
	my $r = register(email => $email, password => $o{password} // $good_pw,
	    name => $o{name} // 'Test User');
	die "register $email: $r->{status} $r->{raw}" unless $r->{status} == 201;
	return ($r->{j}{token}, $r);
}

sub me { req('GET', '/me', token => $_[0]) }

sub login {
	my ($email, $pw, %o) = @_;
	return req('POST', '/login', body => { email => $email,
	    password => $pw }, %o);
}

# The error envelope: status, code, exactly error + message (+ extras).
sub err_is {
	my ($r, $status, $code, $n, @extra) = @_;
	my $ok = is($r->{status}, $status, "$n status $status");
	$ok &= is(ref $r->{j} eq 'HASH' ? $r->{j}{error} : undef, $code,
	    "$n error $code");
	my @keys = ref $r->{j} eq 'HASH' ? sort keys %{ $r->{j} } : ();
	$ok &= is("@keys", join(' ', sort 'error', 'message', @extra),
	    "$n envelope keys");
	$ok &= ok(ref $r->{j} eq 'HASH' && $r->{j}{error} =~ /^[a-z]+(_[a-z]+)*$/
	    && defined $r->{j}{message} && !ref $r->{j}{message}
	    && length $r->{j}{message} > 0, "$n snake_case code, message");
	$ok &= is($r->{headers}{'content-type'},
	    'application/json; charset=utf-8', "$n content type");
	diag("$n got: $r->{status} " . ($r->{raw} // '')) unless $ok;
	return $ok;
}

sub invalid_field {
	my ($r, $field, $n) = @_;
	err_is($r, 400, 'validation_failed', $n, 'field')
	    and is($r->{j}{field}, $field, "$n field is $field");
}

sub at { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + $_[0])) }

sub iso_secs {
	my ($y, $mo, $d, $h, $mi, $s) = ($_[0] // '') =~
	    /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/ or return undef;
	return timegm($s, $mi, $h, $d, $mo - 1, $y);
}

# A collector key with a correct checksum: prefix, 43 base62, _, 4 base62.
sub collector_key {
	my ($body) = @_;
	my @d = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');
	$body //= join '', map { $d[int rand 62] } 1 .. 43;
	my $head = "gmk_cru_live_$body";
	my $crc = Compress::Zlib::crc32($head);
	my $sum = '';
	for (1 .. 4) {
		$sum = $d[$crc % 62] . $sum;
		$crc = int($crc / 62);
	}
	return "${head}_$sum";
}

# --- 1. register --------------------------------------------------------

my $t0 = time;
my $r = register(email => 'Jane.Doe@Example.COM', password => $good_pw,
    name => 'Jane Doe');
is($r->{status}, 201, '1.1 register answers 201');
my $u = $r->{j}{user} // {};
like($u->{id}, qr/^usr_[0-9a-f]{20}$/, '1.2 user id usr_ + 20 hex');
is($u->{email}, 'jane.doe@example.com', '1.3 email lower-cased');
is($u->{name}, 'Jane Doe', '1.4 name');
ok(JSON::PP::is_bool($u->{verified}) && !$u->{verified}, '1.5 verified false (a boolean)');
like($u->{created_at}, $iso_re, '1.6 created_at ISO ...Z');
ok(abs((iso_secs($u->{created_at}) // 0) - $t0) < 60, '1.7 created_at is now');
like($r->{j}{token}, qr/^\S{32,}$/, '1.8 token returned');
my $jane = $r->{j}{token};
is(sql("select count(*) from session where token_hash = X'"
    . sha256_hex($jane // '') . "'"), 1,
    '1.8.1 the session is stored as the token\'s SHA-256 digest');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8', '1.9 content type');
like($r->{headers}{'x-request-id'}, qr/\S/, '1.10 X-Request-Id');
$r = me($jane);
is($r->{status}, 200, '1.11 register token works on me');
is($r->{j}{id}, $u->{id}, '1.12 me is the registered user');
is($r->{j}{email}, 'jane.doe@example.com', '1.13 me email');

$r = register(email => 'JANE.DOE@example.com', password => $good_pw, name => 'X');
err_is($r, 409, 'email_taken', '1.14 duplicate email, other case');
$r = register(email => 'jane.doe@example.com', password => $good_pw, name => 'X');
err_is($r, 409, 'email_taken', '1.15 duplicate email, same case');
is(sql("select count(*) from user where email = 'jane.doe\@example.com'"),
    1, '1.16 still one user row');

# Fields the server sets itself cannot be chosen by the client.
$r = register(email => 'extra@example.com', password => $good_pw,
    name => 'Extra', role => 'admin', verified => JSON::PP::true,
    id => 'usr_00000000000000000000', plan => 'pro', junk => [1, 2]);
is($r->{status}, 201, '1.17 unknown fields ignored');
ok(!$r->{j}{user}{verified}, '1.18 verified not settable');
isnt($r->{j}{user}{id}, 'usr_00000000000000000000', '1.19 id not settable');
$r = me($r->{j}{token});
is($r->{j}{role}, 'owner', '1.20 role not settable');
is($r->{j}{plan}, 'free', '1.21 plan not settable');

# --- 2. register validation -------------------------------------------------

$r = register(email => 'pw11@example.com', password => 'a' x 11, name => 'P');
invalid_field($r, 'password', '2.1 password of 11 bytes');
$r = register(email => 'pw11u@example.com', password => "\x{e9}" x 5 . 'a',
    name => 'P');
invalid_field($r, 'password', '2.2 password of 6 chars but 11 bytes');
$r = register(email => 'pw12@example.com', password => 'a' x 12, name => 'P');
is($r->{status}, 201, '2.3 password of 12 bytes accepted');
$r = register(email => 'pw12u@example.com', password => "\x{e9}" x 6, name => 'P');
is($r->{status}, 201, '2.4 password of 6 two-byte chars (12 bytes) accepted');
$r = register(email => 'pw1024@example.com', password => 'b' x 1024, name => 'P');
is($r->{status}, 201, '2.5 password of 1024 bytes accepted');
$r = register(email => 'pw1025@example.com', password => 'b' x 1025, name => 'P');
invalid_field($r, 'password', '2.6 password of 1025 bytes');
$r = register(email => 'pw1026u@example.com', password => "\x{e9}" x 513,
    name => 'P');
invalid_field($r, 'password', '2.7 password of 513 chars but 1026 bytes');
is(sql("select count(*) from user where email = 'pw1026u\@example.com'"),
    0, '2.8 no user created for it');

$r = register(email => 'n0@example.com', password => $good_pw, name => '');
invalid_field($r, 'name', '2.9 empty name');
$r = register(email => 'n101@example.com', password => $good_pw, name => 'n' x 101);
invalid_field($r, 'name', '2.10 name of 101 chars');
$r = register(email => 'n100@example.com', password => $good_pw, name => 'n' x 100);
is($r->{status}, 201, '2.11 name of 100 chars accepted');
$r = register(email => 'n100u@example.com', password => $good_pw,
    name => "\x{e9}" x 100);
is($r->{status}, 201, '2.12 name of 100 two-byte chars accepted');
is($r->{j}{user}{name}, "\x{e9}" x 100, '2.13 name round-trips as UTF-8');
$r = register(email => 'n101u@example.com', password => $good_pw,
    name => "\x{e9}" x 101);
invalid_field($r, 'name', '2.14 name of 101 two-byte chars');
$r = register(email => 'nctl@example.com', password => $good_pw, name => "a\nb");
invalid_field($r, 'name', '2.15 name with a control character');

my $n = 0;
for my $bad ('plainaddress', '@example.com', 'a@', 'a@b', 'a@b.',
    'a b@example.com', 'a@@example.com', 'a@b@example.com', '',
    'a' x 245 . '@example.com', "a\t\@example.com") {
	$n++;
	$r = register(email => $bad, password => $good_pw, name => 'E');
	invalid_field($r, 'email', "2.16.$n bad email '" . substr($bad, 0, 20) . "'");
}

$r = req('POST', '/register', body => { password => $good_pw, name => 'M' });
invalid_field($r, 'email', '2.17 missing email');
$r = req('POST', '/register', body => { email => 'm1@example.com', name => 'M' });
invalid_field($r, 'password', '2.18 missing password');
$r = req('POST', '/register', body => { email => 'm2@example.com',
    password => $good_pw });
invalid_field($r, 'name', '2.19 missing name');
$r = req('POST', '/register', body => { email => undef, password => $good_pw,
    name => 'M' });
invalid_field($r, 'email', '2.20 null email');
$r = req('POST', '/register', body => {});
err_is($r, 400, 'validation_failed', '2.21 empty object', 'field');
$r = register(email => 12345, password => $good_pw, name => 'T');
invalid_field($r, 'email', '2.22 number for email');
$r = register(email => 't1@example.com', password => $good_pw, name => ['a']);
invalid_field($r, 'name', '2.23 array for name');
$r = register(email => 't2@example.com', password => 123456789012, name => 'T');
invalid_field($r, 'password', '2.24 number for password');
$r = register(email => 't3@example.com', password => $good_pw,
    name => { first => 'a' });
invalid_field($r, 'name', '2.25 object for name');
$r = register(email => 't4@example.com', password => $good_pw,
    name => JSON::PP::true);
invalid_field($r, 'name', '2.26 boolean for name');
is(sql("select count(*) from user where email like 't_\@example.com'"
    . " or email like 'm_\@example.com'"), 0, '2.27 none of them created');

# --- 3. register: bodies that are not a JSON object ------------------------

my %ok_body = (email => 'raw@example.com', password => $good_pw, name => 'R');
$r = req('POST', '/register', body => '{"email": "raw@example.com",');
err_is($r, 400, 'invalid_json', '3.1 truncated JSON');
$r = req('POST', '/register', body => '[' . $json->encode(\%ok_body) . ']');
err_is($r, 400, 'invalid_json', '3.2 JSON array body');
$r = req('POST', '/register', body => '"just a string"');
err_is($r, 400, 'invalid_json', '3.3 JSON string body');
$r = req('POST', '/register', body => '{"email":"dup1@example.com",'
    . '"email":"dup2@example.com","password":"' . $good_pw
    . '","name":"D"}');
err_is($r, 400, 'invalid_json', '3.4 duplicate JSON keys');
$r = req('POST', '/register', body => '{"email":"nul@example.com",'
    . '"password":"' . $good_pw . '","name":"a\u0000b"}');
err_is($r, 400, 'invalid_json', '3.5 \u0000 in a string');
$r = req('POST', '/register', body => qq({"email":"bad\xff\@example.com",)
    . qq("password":"$good_pw","name":"B"}));
err_is($r, 400, 'invalid_json', '3.6 invalid UTF-8');
$r = req('POST', '/register');
err_is($r, 400, 'invalid_json', '3.7 no body at all');
$r = req('POST', '/register', body => $json->encode(\%ok_body) . ' x');
err_is($r, 400, 'invalid_json', '3.8 trailing garbage');
$r = req('POST', '/register', body => $json->encode(\%ok_body),
    content_type => 'text/plain');
err_is($r, 415, 'unsupported_media_type', '3.9 text/plain body');
$r = req('POST', '/register', body => 'email=a@example.com&password=x',
    content_type => 'application/x-www-form-urlencoded');
err_is($r, 415, 'unsupported_media_type', '3.10 form body');
is(sql("select count(*) from user where email in ('raw\@example.com',"
    . " 'dup1\@example.com', 'dup2\@example.com', 'nul\@example.com')"), 0,
    '3.11 none of them created');
$r = req('POST', '/register', body => $json->encode(\%ok_body),
    content_type => 'application/json; charset=utf-8');
is($r->{status}, 201, '3.12 application/json with charset accepted');
$r = req('POST', '/register', body => $json->encode(\%ok_body),
    content_type => 'application/jsonx');
err_is($r, 415, 'unsupported_media_type', '3.13 a type that only starts like JSON');

for my $op (qw(register login logout verify)) {
	$r = req('GET', "/$op");
	err_is($r, 405, 'method_not_allowed', "3.13 GET $op");
	is($r->{headers}{allow}, 'POST', "3.13 GET $op: Allow: POST");
}
for my $m (qw(POST PUT DELETE)) {
	$r = req($m, '/me', token => $jane);
	err_is($r, 405, 'method_not_allowed', "3.14 $m me");
	is($r->{headers}{allow}, 'GET', "3.14 $m me: Allow: GET");
}

# --- 4. register rate limit: 3 per hour per IP --------------------------------

my $rl_ip = '203.0.113.7';
$r = register(ip => $rl_ip, email => 'rl-bad', password => $good_pw, name => 'R');
invalid_field($r, 'email', '4.1 a typo from the IP');
$r = register(ip => $rl_ip, email => 'rl0@example.com', password => 'short',
    name => 'R');
invalid_field($r, 'password', '4.2 another typo from the IP');
for my $i (1 .. 3) {
	$r = register(ip => $rl_ip, email => "rl$i\@example.com",
	    password => $good_pw, name => 'R');
	is($r->{status}, 201, "4.3.$i registration $i of 3 from the IP (typos did not count)");
}
$r = register(ip => $rl_ip, email => 'rl4@example.com', password => $good_pw,
    name => 'R');
err_is($r, 429, 'rate_limited', '4.4 fourth registration from the IP');
like($r->{headers}{'retry-after'}, qr/^\d+$/, '4.5 Retry-After is whole seconds');
ok(($r->{headers}{'retry-after'} // 0) >= 1
    && $r->{headers}{'retry-after'} <= 1200, '4.6 Retry-After within 20 minutes');
is(sql("select count(*) from user where email = 'rl4\@example.com'"), 0,
    '4.7 the fourth was not created');
$r = register(ip => '203.0.113.8', email => 'rl4@example.com',
    password => $good_pw, name => 'R');
is($r->{status}, 201, '4.8 another IP is not limited');
{
	local $ENV{KILN_FAKE_NOW} = at(21 * 60);
	$r = register(ip => $rl_ip, email => 'rl5@example.com',
	    password => $good_pw, name => 'R');
	is($r->{status}, 201, '4.9 the bucket refills (one per 20 minutes)');
}

# --- 5. verification email ---------------------------------------------------

sub verify_token_of {
	my ($email) = @_;
	my $body = sql("select body from mail_outbox where recipient = '$email'"
	    . " order by id desc limit 1");
	my ($tok) = $body =~ /(kiln_verify_[0-9A-Za-z]{43})/;
	return ($tok, $body);
}

my ($vt, $vr) = new_user(email => 'Verify.Me@Example.com', name => 'Vera');
is(sql("select count(*) from mail_outbox where recipient = 'verify.me\@example.com'"),
    1, '5.1 register queued one mail to the lower-cased address');
like(sql("select subject from mail_outbox where recipient = 'verify.me\@example.com'"),
    qr/\S/, '5.2 with a subject');
my ($vtok, $mail) = verify_token_of('verify.me@example.com');
ok(defined $vtok, '5.3 the mail carries a kiln_verify_ token')
    or diag("mail body: $mail");
like($mail, qr/Vera/, '5.4 the mail greets the user by name');
like($mail, qr{^\s*http://kiln\.test/verify\?token=\Q$vtok\E$}m,
    '5.5 the mail links to base_url/verify');
is(sql("select count(*) from email_token where token_hash = X'"
    . sha256_hex($vtok) . "' and purpose = 'verify'"), 1,
    '5.6 the token is stored as its SHA-256 digest');
$r = req('POST', '/verify', body => { token => $vtok });
is($r->{status}, 200, '5.7 verify answers 200');
ok($r->{j} && $r->{j}{verified}, '5.8 verify reports verified');
$r = me($vt);
ok(JSON::PP::is_bool($r->{j}{verified}) && $r->{j}{verified},
    '5.9 me shows verified:true');
$r = req('POST', '/verify', body => { token => $vtok });
err_is($r, 400, 'invalid_token', '5.10 the token is single use');
$r = req('POST', '/verify', body => { token => 'kiln_verify_' . 'A' x 43 });
err_is($r, 400, 'invalid_token', '5.11 a made-up token');
$r = req('POST', '/verify', body => { token => 'verify_abc123def456' });
err_is($r, 400, 'invalid_token', '5.12 a token of the wrong form');
$r = req('POST', '/verify', body => {});
invalid_field($r, 'token', '5.13 missing token');
$r = req('POST', '/verify', body => { token => 42 });
invalid_field($r, 'token', '5.14 number for token');
$r = req('POST', '/verify', body => '[]');
err_is($r, 400, 'invalid_json', '5.15 array body');

my ($et) = new_user(email => 'expire@example.com');
my ($etok) = verify_token_of('expire@example.com');
ok(defined $etok, '5.16 second user got a token');
{
	local $ENV{KILN_FAKE_NOW} = at(24 * 3600 + 120);
	$r = req('POST', '/verify', body => { token => $etok });
	err_is($r, 400, 'invalid_token', '5.17 token after 24 h');
}
{
	local $ENV{KILN_FAKE_NOW} = at(23 * 3600);
	$r = req('POST', '/verify', body => { token => $etok });
	is($r->{status}, 200, '5.18 the same token at 23 h (the refusal did not use it)');
}
$r = me($et);
ok($r->{j}{verified}, '5.19 second user verified');
$r = me($jane);
ok(!$r->{j}{verified}, '5.20 other users stay unverified');

# --- 6. login ------------------------------------------------------------------

new_user(email => 'login@example.com', password => 'login password 1');
$t0 = time;
$r = login('login@example.com', 'login password 1');
is($r->{status}, 200, '6.1 login answers 200');
like($r->{j}{token}, qr/^\S{32,}$/, '6.2 token');
like($r->{j}{expires_at}, $iso_re, '6.3 expires_at ISO ...Z');
ok(abs((iso_secs($r->{j}{expires_at}) // 0) - ($t0 + 7 * 86400)) < 60,
    '6.4 expires_at 7 days ahead');
is(join(' ', sort keys %{ $r->{j} || {} }), 'expires_at token', '6.5 just token and expires_at');
my $lt = $r->{j}{token};
$r = me($lt);
is($r->{status}, 200, '6.6 login token works on me');
is($r->{j}{email}, 'login@example.com', '6.7 as the right user');
$r = login('LOGIN@Example.Com', 'login password 1');
is($r->{status}, 200, '6.8 email is case-insensitive');
isnt($r->{j}{token}, $lt, '6.9 each login is a new session');

my $wrong = login('login@example.com', 'login password 2');
err_is($wrong, 401, 'invalid_credentials', '6.10 wrong password');
my $unknown = login('nobody@example.com', 'login password 1');
err_is($unknown, 401, 'invalid_credentials', '6.11 unknown email');
is($unknown->{raw}, $wrong->{raw}, '6.12 identical bodies for both');
$r = login('login@example.com', 'Login password 1');
err_is($r, 401, 'invalid_credentials', '6.13 password is case-sensitive');
$r = req('POST', '/login', body => { email => 'login@example.com' });
invalid_field($r, 'password', '6.14 missing password');
$r = req('POST', '/login', body => { password => 'login password 1' });
invalid_field($r, 'email', '6.15 missing email');
$r = login('not-an-email', 'login password 1');
invalid_field($r, 'email', '6.16 malformed email');
$r = req('POST', '/login', body => '{"email":');
err_is($r, 400, 'invalid_json', '6.17 invalid JSON');
$r = req('POST', '/login', body => $json->encode({ email => 'login@example.com',
    password => 'login password 1' }), content_type => 'text/plain');
err_is($r, 415, 'unsupported_media_type', '6.18 non-JSON content type');

# --- 7. lockout after 5 consecutive failures -------------------------------------

new_user(email => 'lock@example.com', password => 'lock password 1');
for my $i (1 .. 5) {
	$r = login('lock@example.com', "wrong password $i");
	err_is($r, 401, 'invalid_credentials', "7.1.$i failure $i");
}
$r = login('lock@example.com', 'lock password 1');
err_is($r, 429, 'account_locked', '7.2 sixth attempt, right password');
my $ra = $r->{headers}{'retry-after'};
like($ra, qr/^\d+$/, '7.3 Retry-After is whole seconds');
ok(defined $ra && $ra > 850 && $ra <= 900, '7.4 Retry-After about 15 minutes')
    or diag("Retry-After: " . ($ra // 'none'));
$r = login('LOCK@example.com', 'wrong again');
err_is($r, 429, 'account_locked', '7.5 locked for a wrong password too');
{
	local $ENV{KILN_FAKE_NOW} = at(14 * 60);
	$r = login('lock@example.com', 'lock password 1');
	err_is($r, 429, 'account_locked', '7.6 still locked at 14 minutes');
}
{
	local $ENV{KILN_FAKE_NOW} = at(16 * 60);
	$r = login('lock@example.com', 'wrong after lock');
	err_is($r, 401, 'invalid_credentials', '7.7 one failure after the lock ends');
	$r = login('lock@example.com', 'lock password 1');
	is($r->{status}, 200, '7.8 login works again after 15 minutes');
	like($r->{j}{token}, qr/\S/, '7.9 with a token');
}

new_user(email => 'reset@example.com', password => 'reset password 1');
my $reset_ok = 1;
for my $i (1 .. 4) {
	$r = login('reset@example.com', "bad $i");
	$reset_ok &&= $r->{status} == 401;
}
ok($reset_ok, '7.10 four failures');
$r = login('reset@example.com', 'reset password 1');
is($r->{status}, 200, '7.11 then a success');
$reset_ok = 1;
for my $i (1 .. 4) {
	$r = login('reset@example.com', "bad again $i");
	$reset_ok &&= $r->{status} == 401;
}
ok($reset_ok, '7.12 four more failures');
$r = login('reset@example.com', 'reset password 1');
is($r->{status}, 200, '7.13 not locked: the success reset the count');

# An unknown email locks the same way, so a lock does not tell which
# addresses have an account.
my $unknown_ok = 1;
for my $i (1 .. 5) {
	$r = login('nobody-lock@example.com', "guess $i guess");
	$unknown_ok &&= $r->{status} == 401;
}
ok($unknown_ok, '7.14 five failures for an unknown email');
my $ghost = login('nobody-lock@example.com', 'x' x 12);
err_is($ghost, 429, 'account_locked', '7.15 an unknown email locks too');
my $ghost_ra = $ghost->{headers}{'retry-after'};
ok(defined $ghost_ra && $ghost_ra > 850 && $ghost_ra <= 900,
    '7.16 with Retry-After about 15 minutes')
    or diag("Retry-After: " . ($ghost_ra // 'none'));
new_user(email => 'lock2@example.com', password => 'lock password 2');
login('lock2@example.com', "wrong password $_") for 1 .. 5;
my $known = login('lock2@example.com', 'lock password 2');
is($ghost->{raw}, $known->{raw}, '7.17 the same body as a known email');
is(join(' ', sort keys %{ $ghost->{headers} }),
    join(' ', sort keys %{ $known->{headers} }),
    '7.18 and the same headers');
{
	local $ENV{KILN_FAKE_NOW} = at(16 * 60);
	$r = login('nobody-lock@example.com', 'x' x 12);
	err_is($r, 401, 'invalid_credentials', '7.19 the unknown lock ends too');
}

# --- 8. logout -------------------------------------------------------------------

my ($ot) = new_user(email => 'logout@example.com');
my $ot2 = login('logout@example.com', $good_pw)->{j}{token};
$r = req('POST', '/logout', token => $ot);
is($r->{status}, 204, '8.1 logout answers 204');
is($r->{raw} // '', '', '8.2 with no body');
ok(!exists $r->{headers}{'content-length'} || $r->{headers}{'content-length'} eq '0',
    '8.3 and no content length');
$r = me($ot);
err_is($r, 401, 'invalid_token', '8.4 the token is dead on me');
$r = req('POST', '/logout', token => $ot);
err_is($r, 401, 'invalid_token', '8.5 logout again with it');
$r = me($ot2);
is($r->{status}, 200, '8.6 the user\'s other session lives on');
$r = req('POST', '/logout');
err_is($r, 401, 'unauthorized', '8.7 logout without a token');
like($r->{headers}{'www-authenticate'}, qr/^Bearer/, '8.8 WWW-Authenticate: Bearer');
$r = req('POST', '/logout', token => 'garbage');
err_is($r, 401, 'invalid_token', '8.9 logout with a garbage token');

# --- 9. me -----------------------------------------------------------------------

my ($mt, $mr) = new_user(email => 'Me@Example.com', name => 'Mia');
$r = me($mt);
is($r->{status}, 200, '9.1 me answers 200');
is(join(' ', sort keys %{ $r->{j} || {} }),
    'created_at email id name plan role servers_count verified',
    '9.2 exactly the documented fields');
is($r->{j}{id}, $mr->{j}{user}{id}, '9.3 id');
is($r->{j}{email}, 'me@example.com', '9.4 email');
is($r->{j}{name}, 'Mia', '9.5 name');
is($r->{j}{created_at}, $mr->{j}{user}{created_at}, '9.6 created_at');
is($r->{j}{role}, 'owner', '9.7 role owner');
is($r->{j}{plan}, 'free', '9.8 plan free');
ok(defined $r->{j}{servers_count} && !ref $r->{j}{servers_count}
    && $r->{j}{servers_count} =~ /^\d+$/ && $r->{raw} =~ /"servers_count":0[,}]/,
    '9.9 servers_count 0, a JSON number');
is($r->{headers}{'cache-control'}, 'no-store', '9.10 Cache-Control: no-store');
like($r->{headers}{'x-request-id'}, qr/^\S+$/, '9.11 X-Request-Id');
is($r->{headers}{'x-content-type-options'}, 'nosniff', '9.12 nosniff');
my $srv = create_server($mt);
create_server($mt);
my ($other) = new_user(email => 'other@example.com');
create_server($other);
$r = me($mt);
is($r->{j}{servers_count}, 2, '9.13 servers_count counts the account\'s servers');
is(me($other)->{j}{servers_count}, 1, '9.14 and only its own');
my ($code, $out) = admin('plan', 'me@example.com', 'pro');
is($code, 0, '9.15 kiln-admin plan pro') or diag($out);
$r = me($mt);
is($r->{j}{plan}, 'pro', '9.16 plan pro');
is(me($other)->{j}{plan}, 'free', '9.17 other account still free');
$r = me($mt);
my $rid = $r->{headers}{'x-request-id'};
isnt(me($mt)->{headers}{'x-request-id'}, $rid, '9.18 a new request id per request');
$r = req('GET', '/me', token => $mt, headers => { 'X-Request-Id' => 'trace-42' });
is($r->{headers}{'x-request-id'}, 'trace-42', '9.19 a sane request id echoed');

# --- 10. tokens --------------------------------------------------------------------

$r = req('GET', '/me');
err_is($r, 401, 'unauthorized', '10.1 no Authorization');
$r = req('GET', '/me', headers => { Authorization => "Basic dXNlcjpwYXNz" });
err_is($r, 401, 'unauthorized', '10.2 Basic credentials');
$r = req('GET', '/me', headers => { Authorization => 'Bearer' });
err_is($r, 401, 'unauthorized', '10.3 Bearer with no token');
$r = req('GET', '/me', token => 'garbage');
err_is($r, 401, 'invalid_token', '10.4 Bearer garbage');
$r = req('GET', '/me', token => 'kiln_sess_' . 'A' x 43);
err_is($r, 401, 'invalid_token', '10.5 a well-formed unknown session token');
$r = req('GET', '/me', token => $mt . 'x');
err_is($r, 401, 'invalid_token', '10.6 a session token with a char added');
$r = req('GET', '/me', token => substr($mt, 0, -1));
err_is($r, 401, 'invalid_token', '10.7 a session token with a char dropped');
$r = req('GET', '/me', token => 'x' x 5000);
err_is($r, 401, 'invalid_token', '10.8 a very long token');
$r = req('GET', '/me', headers => { Authorization => "bearer $mt" });
is($r->{status}, 200, '10.9 the scheme is case-insensitive');
like($srv->{server}{api_key}, qr/^gmk_cru_live_[0-9A-Za-z]{43}_[0-9A-Za-z]{4}$/,
    '10.10 create_server returned a collector key');
is(collector_key(substr($srv->{server}{api_key}, 13, 43)), $srv->{server}{api_key},
    '10.11 the test computes checksums as the server does');
$r = req('GET', '/me', token => $srv->{server}{api_key});
err_is($r, 403, 'insufficient_scope', '10.12 a collector key on me');
$r = req('POST', '/logout', token => $srv->{server}{api_key});
err_is($r, 403, 'insufficient_scope', '10.13 a collector key on logout');
$r = req('GET', '/me', token => collector_key());
err_is($r, 401, 'invalid_token', '10.14 a well-formed unknown collector key');
(my $typo = $srv->{server}{api_key}) =~ s/_(.)(...)$/'_' . ($1 eq 'a' ? 'b' : 'a') . $2/e;
$r = req('GET', '/me', token => $typo);
err_is($r, 401, 'invalid_token', '10.15 a collector key with a bad checksum');
{
	local $ENV{KILN_FAKE_NOW} = at(8 * 86400);
	$r = me($mt);
	err_is($r, 401, 'invalid_token', '10.16 a session after 8 days');
}
{
	local $ENV{KILN_FAKE_NOW} = at(6 * 86400);
	$r = me($mt);
	is($r->{status}, 200, '10.17 the same session at 6 days');
}

# --- 11. unknown paths, oversized bodies --------------------------------------------

for my $p ('/nope', '/me/x', '//me', '', '/', '/register/x', '/ME',
    '/login/', '/verify/x/y') {
	$r = req('GET', $p, token => $mt);
	# "/login/" names /login (a trailing slash): 405 for GET.
	if ($p eq '/login/') {
		err_is($r, 405, 'method_not_allowed', "11.1 GET /api/v1/auth$p");
		next;
	}
	err_is($r, 404, 'not_found', "11.1 GET /api/v1/auth$p");
}
$r = req('POST', '/nope', body => \%ok_body);
err_is($r, 404, 'not_found', '11.2 POST /api/v1/auth/nope');
$r = cgi('auth', 'GET', '/api/v1/authx/me', token => $mt, ip => fresh_ip());
$r->{j} = eval { $json->decode($r->{raw}) };
err_is($r, 404, 'not_found', '11.3 /api/v1/authx/me');

my $big = $json->encode({ %ok_body, email => 'big@example.com',
    name => 'B', pad => 'x' x 65536 });
$r = req('POST', '/register', body => $big);
err_is($r, 413, 'payload_too_large', '11.4 body over 65536 bytes');
$r = req('POST', '/register', body => '{}', content_length => 10_000_000);
err_is($r, 413, 'payload_too_large', '11.5 Content-Length over the cap');
$r = req('POST', '/login', body => $big);
err_is($r, 413, 'payload_too_large', '11.6 on login too');
is(sql("select count(*) from user where email = 'big\@example.com'"), 0,
    '11.7 nothing created');
my $fits = $json->encode({ email => 'fits@example.com', password => $good_pw,
    name => 'F', pad => 'y' x 65000 });
$r = req('POST', '/register', body => $fits);
is($r->{status}, 201, '11.8 a body under the cap is read whole');

# --- 12. processes exit cleanly ---------------------------------------------------------

$r = req('GET', '/me', token => $mt);
is($r->{exit}, 0, '12.1 the binary exits 0 after a request');
is($r->{stderr} // '', '', '12.2 and says nothing on stderr');

done_testing();
