#!/usr/bin/perl
# cookie: the dashboard's session cookie and its CSRF check, through the
# route binaries as CGI. Login and register set an HttpOnly cookie when
# asked ("cookie": true or X-Kiln-Session: cookie) and then keep the token
# out of the body; every route accepts that cookie when there is no
# Authorization header; a cookie-signed mutation must carry the Origin of
# base_url (http://kiln.test here) or gets 403 csrf_rejected; logout
# clears it. Bearer tokens work as before.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use KilnTest;

new_env(rate_register => 1000, rate_ip => 100000);
$SIG{PIPE} = sub { };

my $ORIGIN = 'http://kiln.test';
my $pw = 'correct horse battery';
my $seq = 0;

sub show { diag("$_[0]{status} " . ($_[0]{raw} // '')) }

# The kiln_session cookie a response sets: (value, attributes string).
sub set_cookie {
	my ($r) = @_;
	my $h = $r->{headers}{'set-cookie'} // return;
	my ($v, $attrs) = $h =~ /^kiln_session=([^;]*)(.*)$/ or return;
	return ($v, $attrs);
}

sub is_err {
	my ($r, $status, $code, $name) = @_;
	ok($r->{status} == $status && ($r->{json}{error} // '') eq $code,
	    $name) or show($r);
}

sub register_cookie {
	my (%o) = @_;
	my $email = $o{email} // 'cookie' . ++$seq . '@example.com';
	return cgi('auth', 'POST', '/api/v1/auth/register',
	    body => { email => $email, password => $pw, name => 'C',
	    ($o{header} ? () : (cookie => JSON::PP::true())) },
	    headers => { ($o{origin} ? (Origin => $o{origin}) : ()),
	    ($o{header} ? ('X-Kiln-Session' => 'cookie') : ()) });
}

# --- 1. register and login in cookie mode ----------------------------------

my $r = register_cookie(origin => $ORIGIN, email => 'one@example.com');
is($r->{status}, 201, '1.1 register with "cookie": true is 201') or show($r);
my ($sess, $attrs) = set_cookie($r);
like($sess // '', qr/^kiln_sess_[0-9A-Za-z]{43}$/, '1.2 sets kiln_session');
like($attrs // '', qr/;\s*HttpOnly(;|$)/, '1.3 HttpOnly');
like($attrs // '', qr/;\s*SameSite=Strict(;|$)/, '1.4 SameSite=Strict');
like($attrs // '', qr/;\s*Path=\/api\/v1(;|$)/, '1.5 Path=/api/v1');
ok(($attrs // '') =~ /Max-Age=(\d+)/ && $1 > 7 * 86400 - 60 &&
    $1 <= 7 * 86400, '1.6 Max-Age is the session lifetime');
unlike($attrs // '', qr/Secure/, '1.7 no Secure over http');
ok(!exists $r->{json}{token} && ($r->{json}{session} // '') eq 'cookie',
    '1.8 the body holds no token') or show($r);
is($r->{json}{user}{email}, 'one@example.com', '1.9 the user is returned');
unlike($r->{raw}, qr/kiln_sess_/, '1.10 no session token anywhere in the body');

$r = register_cookie(header => 1, origin => $ORIGIN);
is($r->{status}, 201, '1.11 X-Kiln-Session: cookie also works') or show($r);
ok(defined((set_cookie($r))[0]) && !exists $r->{json}{token},
    '1.12 ... cookie set, token withheld');

$r = register_cookie();
is($r->{status}, 201, '1.13 no Origin (not a browser) is allowed') or show($r);

$r = register_cookie(origin => 'http://evil.test', email => 'evil@example.com');
is_err($r, 403, 'csrf_rejected', '1.14 cookie register from another origin');
ok(!defined $r->{headers}{'set-cookie'}, '1.15 ... sets no cookie');
$r = cgi('auth', 'POST', '/api/v1/auth/register', body => { email =>
    'evil@example.com', password => $pw, name => 'E' });
is($r->{status}, 201, '1.16 ... and created no account') or show($r);
ok(length($r->{json}{token} // '') && !defined $r->{headers}{'set-cookie'},
    '1.17 a plain register still returns the token, no cookie');

$r = cgi('auth', 'POST', '/api/v1/auth/login', body => { email =>
    'one@example.com', password => $pw, cookie => JSON::PP::true() },
    headers => { Origin => $ORIGIN });
is($r->{status}, 200, '1.18 login with "cookie": true') or show($r);
my ($sess2) = set_cookie($r);
ok(defined $sess2 && $sess2 ne $sess, '1.19 ... a new session cookie');
ok(!exists $r->{json}{token} && $r->{json}{expires_at}, '1.20 ... no token, expires_at');

$r = cgi('auth', 'POST', '/api/v1/auth/login', body => { email =>
    'one@example.com', password => $pw, cookie => JSON::PP::true() },
    headers => { Origin => 'https://kiln.test' });
is_err($r, 403, 'csrf_rejected', '1.21 cookie login from another scheme');

$r = cgi('auth', 'POST', '/api/v1/auth/login', body => { email =>
    'one@example.com', password => 'wrong password!!', cookie =>
    JSON::PP::true() }, headers => { Origin => $ORIGIN });
is_err($r, 401, 'invalid_credentials', '1.22 a wrong password sets no cookie');
ok(!defined $r->{headers}{'set-cookie'}, '1.23 ... none');

$r = cgi('auth', 'POST', '/api/v1/auth/login', body => { email =>
    'one@example.com', password => $pw, cookie => JSON::PP::false() });
ok($r->{status} == 200 && length($r->{json}{token} // '') &&
    !defined $r->{headers}{'set-cookie'}, '1.24 "cookie": false is bearer mode');
my $bearer = $r->{json}{token};

# --- 2. the cookie authenticates reads -------------------------------------

my $C = "kiln_session=$sess";
$r = cgi('auth', 'GET', '/api/v1/auth/me', headers => { Cookie => $C });
ok($r->{status} == 200 && $r->{json}{email} eq 'one@example.com',
    '2.1 GET /auth/me by cookie') or show($r);
$r = cgi('auth', 'GET', '/api/v1/auth/me', headers => { Cookie =>
    "theme=dark; $C; other=1" });
is($r->{status}, 200, '2.2 among other cookies') or show($r);
$r = cgi('auth', 'GET', '/api/v1/auth/me', headers => { Cookie =>
    "xkiln_session=$sess" });
is_err($r, 401, 'unauthorized', '2.3 a cookie whose name only ends alike');
$r = cgi('servers', 'GET', '/api/v1/servers', headers => { Cookie => $C,
    Origin => 'http://evil.test' });
is($r->{status}, 200, '2.4 GET needs no Origin check') or show($r);

$r = cgi('auth', 'GET', '/api/v1/auth/me', headers => { Cookie =>
    'kiln_session=kiln_sess_' . ('x' x 43) });
is_err($r, 401, 'invalid_token', '2.5 an unknown session cookie');
my (undef, $clear) = set_cookie($r);
like($clear // '', qr/Max-Age=0/, '2.6 ... is cleared');

# A collector key is never taken from the cookie.
my $srv = create_server($bearer, name => 'cookie-box');
$r = cgi('servers', 'GET', '/api/v1/servers', headers => { Cookie =>
    "kiln_session=$srv->{server}{api_key}" });
is_err($r, 401, 'invalid_token', '2.7 a collector key in the cookie is 401');

# --- 3. mutations need the dashboard's Origin ------------------------------

$r = cgi('servers', 'POST', '/api/v1/servers', body => { name => 'c1' },
    headers => { Cookie => $C, Origin => $ORIGIN });
is($r->{status}, 201, '3.1 POST by cookie from the dashboard') or show($r);
my $id = $r->{json}{server}{id} // '';

for my $case (
    [ '3.2', undef, 'no Origin' ],
    [ '3.3', 'http://evil.test', 'another host' ],
    [ '3.4', 'null', 'Origin null' ],
    [ '3.5', 'http://kiln.test.evil.test', 'a longer host' ],
    [ '3.6', 'https://kiln.test', 'another scheme' ],
    [ '3.7', 'http://kiln.test:8080', 'another port' ],
    [ '3.8', 'http://kiln.test/', 'a path after the origin' ],
    [ '3.9', 'http://kiln.tes', 'a prefix of it' ],
) {
	my ($n, $origin, $what) = @$case;
	$r = cgi('servers', 'POST', '/api/v1/servers', body => { name => 'x' },
	    headers => { Cookie => $C, (defined $origin ?
	    (Origin => $origin) : ()) });
	is_err($r, 403, 'csrf_rejected', "$n POST by cookie, $what");
}
$r = cgi('servers', 'GET', '/api/v1/servers', token => $bearer);
is(scalar @{ $r->{json}{servers} || [] }, 2, '3.10 the refused POSTs created nothing');

$r = cgi('servers', 'PATCH', "/api/v1/servers/$id", body => { name => 'y' },
    headers => { Cookie => $C, Origin => 'http://evil.test' });
is_err($r, 403, 'csrf_rejected', '3.11 PATCH by cookie from elsewhere');
$r = cgi('servers', 'PATCH', "/api/v1/servers/$id", body => { name => 'y' },
    headers => { Cookie => $C, Origin => 'HTTP://KILN.TEST' });
is($r->{status}, 200, '3.12 PATCH by cookie, Origin in other case') or show($r);
$r = cgi('servers', 'DELETE', "/api/v1/servers/$id?confirm=true",
    headers => { Cookie => $C });
is_err($r, 403, 'csrf_rejected', '3.13 DELETE by cookie without Origin');
$r = cgi('servers', 'DELETE', "/api/v1/servers/$id?confirm=true",
    headers => { Cookie => $C, Origin => $ORIGIN });
is($r->{status}, 200, '3.14 DELETE by cookie from the dashboard') or show($r);
$r = cgi('alerts', 'PUT', "/api/v1/servers/$srv->{server}{id}/mutes",
    body => { muted_rules => [] },
    headers => { Cookie => $C, Origin => 'http://evil.test' });
is_err($r, 403, 'csrf_rejected', '3.15 another route binary checks it too');

# --- 4. bearer tokens are unchanged ----------------------------------------

$r = cgi('servers', 'POST', '/api/v1/servers', body => { name => 'b1' },
    token => $bearer, headers => { Origin => 'http://evil.test' });
is($r->{status}, 201, '4.1 a bearer POST needs no Origin') or show($r);
my $other = register_user('other@example.com');
$r = cgi('auth', 'GET', '/api/v1/auth/me', token => $other,
    headers => { Cookie => $C });
is($r->{json}{email}, 'other@example.com', '4.2 Authorization wins over the cookie');
$r = cgi('auth', 'POST', '/api/v1/auth/logout', token => $other,
    headers => { Cookie => $C, Origin => 'http://evil.test' });
is($r->{status}, 204, '4.3 bearer logout with a stray cookie') or show($r);
$r = cgi('auth', 'GET', '/api/v1/auth/me', headers => { Cookie => $C });
is($r->{status}, 200, '4.4 ... ended the bearer session, not the cookie one');

# --- 5. logout clears the cookie -------------------------------------------

$r = cgi('auth', 'POST', '/api/v1/auth/logout', headers => { Cookie => $C });
is_err($r, 403, 'csrf_rejected', '5.1 cookie logout without Origin is refused');
$r = cgi('auth', 'GET', '/api/v1/auth/me', headers => { Cookie => $C });
is($r->{status}, 200, '5.2 ... and the session lives on');
$r = cgi('auth', 'POST', '/api/v1/auth/logout', headers => { Cookie => $C,
    Origin => $ORIGIN });
is($r->{status}, 204, '5.3 cookie logout from the dashboard') or show($r);
my ($v, $a) = set_cookie($r);
ok(defined $v && $v eq '' && $a =~ /Max-Age=0/ && $a =~ /HttpOnly/ &&
    $a =~ /Path=\/api\/v1/, '5.4 ... clears the cookie') or
    diag($r->{headers}{'set-cookie'} // 'no Set-Cookie');
$r = cgi('auth', 'GET', '/api/v1/auth/me', headers => { Cookie => $C });
is_err($r, 401, 'invalid_token', '5.5 the old cookie no longer works');
$r = cgi('auth', 'GET', '/api/v1/auth/me', headers => {
    Cookie => "kiln_session=$sess2" });
is($r->{status}, 200, '5.6 the other cookie session is untouched');

# --- 6. Secure and the https origin ----------------------------------------

{
	local $ENV{KILN_BASE_URL} = 'https://kiln.example:443/';
	$r = register_cookie(origin => 'https://kiln.example');
	is($r->{status}, 201, '6.1 https base_url, Origin without :443') or show($r);
	my ($s, $at) = set_cookie($r);
	like($at // '', qr/;\s*Secure(;|$)/, '6.2 the cookie is Secure');
	$r = cgi('servers', 'POST', '/api/v1/servers', body => { name => 's' },
	    headers => { Cookie => "kiln_session=$s",
	    Origin => 'https://kiln.example' });
	is($r->{status}, 201, '6.3 a mutation from the https origin') or show($r);
	$r = cgi('servers', 'POST', '/api/v1/servers', body => { name => 's' },
	    headers => { Cookie => "kiln_session=$s",
	    Origin => 'http://kiln.example' });
	is_err($r, 403, 'csrf_rejected', '6.4 ... and not from its http twin');
}
{
	local $ENV{HTTPS} = 'on';
	$r = register_cookie(origin => $ORIGIN);
	my (undef, $at) = set_cookie($r);
	like($at // '', qr/;\s*Secure(;|$)/, '6.5 Secure when served over HTTPS');
}

done_testing();
