#!/usr/bin/perl
# billing: /api/v1/billing/* through kiln-billing as plain CGI, against a
# fake Stripe on loopback (tests/peers/fake_stripe.py) for checkout,
# portal, resume and downgrade, with webhooks signed here with the shared
# secret; the billing-suspend job; kiln-admin's payment-method switch;
# and restore through kiln-servers once a card arrives.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use Fcntl qw(:flock);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes ();
use KilnTest;

my $DAY = 86400;
my $KEY = 'sk_test_kiln_fake';
my $WHSEC = 'whsec_test_kiln';
my $PRICE = 'price_pro_test';
my $ISO_RE = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

new_env(rate_ip => 100000);
my $json = JSON::PP->new->canonical;

# Every route process must exit 0: under `make sanitize` a leak or UB
# report makes the process fail after it has already answered.
my @bad_exits;

# --- the fake Stripe ------------------------------------------------------

# A free loopback port: bound by the kernel's choice, then let go.
sub free_port {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
	    Proto => 'tcp', Listen => 1, ReuseAddr => 1) or die "socket: $!";
	my $port = $s->sockport;
	close $s;
	return $port;
}

# A global, not a lexical: a die at the top level frees lexicals (whose
# close would wait for the fake forever) before END has stopped it.
our $FAKE;
my $port = free_port();
my $fake_pid = open($FAKE, '-|', 'python3',
    "$FindBin::Bin/peers/fake_stripe.py", '--port', $port, '--key', $KEY)
    or die "fake_stripe: $!";
my $ready = <$FAKE>;
die "fake_stripe did not start\n" unless defined $ready && $ready =~ /ready/;
END { kill 'TERM', $fake_pid if $fake_pid }

my $STRIPE = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 10);

# A control call to the fake; returns its decoded answer.
sub fake {
	my ($path, $body) = @_;
	my $res = defined $body
	    ? $http->post("$STRIPE$path", { content => encode_json($body),
	      headers => { 'Content-Type' => 'application/json' } })
	    : $http->get("$STRIPE$path");
	die "fake $path: $res->{status} $res->{content}\n"
	    unless $res->{success};
	return decode_json($res->{content});
}
sub fake_requests { fake('/_requests') }
sub fake_reset { fake('/_reset', {}) }

$ENV{KILN_STRIPE_SECRET_KEY} = $KEY;
$ENV{KILN_STRIPE_WEBHOOK_SECRET} = $WHSEC;
$ENV{KILN_STRIPE_API_BASE} = $STRIPE;
$ENV{KILN_STRIPE_PRICE_PRO} = $PRICE;

# --- helpers --------------------------------------------------------------

# One request to kiln-billing.
sub req {
	my ($method, $path, %o) = @_;
	local $SIG{PIPE} = 'IGNORE';
	my $r = cgi('billing', $method, "/api/v1/billing$path", %o);
	push @bad_exits, "$method $path: exit $r->{exit}\n$r->{stderr}"
	    if $r->{exit} != 0;
	print STDERR "# $method $path -> $r->{status} ", $r->{raw} // '', "\n"
	    if $ENV{KILN_TEST_VERBOSE};
	return $r;
}

sub bool_is {
	my ($v, $want, $name) = @_;
	ok(JSON::PP::is_bool($v) && !!$v == !!$want, $name)
	    or diag('got ' . (defined $v ? "'$v'" : 'undef'));
}

# An account's column, by the owner's email.
sub acct {
	my ($email, $col) = @_;
	return sql("SELECT $col FROM account WHERE id = (SELECT account_id "
	    . "FROM user WHERE email = '$email')");
}

sub set_acct {
	my ($email, $set) = @_;
	sql("UPDATE account SET $set WHERE id = (SELECT account_id FROM user "
	    . "WHERE email = '$email')");
}

sub status_of {
	my ($token) = @_;
	my $r = req('GET', '/status', token => $token);
	die "status: $r->{status} $r->{raw}" unless $r->{status} == 200;
	return $r->{json};
}

# Servers of a token's account, made now in this order; their public ids.
sub servers {
	my ($token, @names) = @_;
	return map { create_server($token, name => $_)->{server}{id} } @names;
}

sub server_status {
	my ($id) = @_;
	return sql("SELECT status || '/' || coalesce(suspended_reason, '') "
	    . "FROM server WHERE public_id = '$id'");
}

sub admin_ok {
	my ($name, @args) = @_;
	my ($rc, $out) = admin(@args);
	is($rc, 0, $name) or diag("kiln-admin @args: $out");
	return $out;
}

# The time webhooks are judged at (the routes see it as KILN_FAKE_NOW).
my $NOW = time;

# A Stripe event as Stripe sends it.
my $evn = 0;
sub event {
	my ($type, $obj, %o) = @_;
	return { id => $o{id} // sprintf('evt_test%06d', ++$evn),
	    object => 'event', api_version => '2024-06-20',
	    created => $o{created} // $NOW, livemode => JSON::PP::false,
	    type => $type, data => { object => $obj } };
}

# Sends an event (or raw text) to the webhook, signed with $o{secret}
# (default the configured one) at $o{t} (default $NOW); $o{sig} replaces
# the whole Stripe-Signature header, $o{sign} signs other text.
sub hook {
	my ($ev, %o) = @_;
	my $body = ref $ev ? $json->encode($ev) : $ev;
	my $t = $o{t} // $NOW;
	my $sig = hmac_sha256_hex("$t." . ($o{sign} // $body),
	    $o{secret} // $WHSEC);
	my %h = exists $o{sig} ? (defined $o{sig}
	    ? ('Stripe-Signature' => $o{sig}) : ())
	    : ('Stripe-Signature' => "t=$t,v1=$sig");
	local $ENV{KILN_FAKE_NOW} = $NOW;
	return req('POST', '/webhook', body => $body, headers => \%h,
	    content_type => 'application/json; charset=utf-8');
}

sub sub_obj {
	my (%o) = @_;
	return { id => $o{id}, object => 'subscription',
	    customer => $o{customer}, status => $o{status} // 'active',
	    cancel_at_period_end => $o{cancel} ? JSON::PP::true
	    : JSON::PP::false,
	    current_period_end => $o{period_end} // $NOW + 30 * $DAY,
	    default_payment_method => $o{pm},
	    metadata => $o{metadata} // {} };
}

sub customer_obj {
	my ($cus, $pm) = @_;
	return { id => $cus, object => 'customer',
	    invoice_settings => { default_payment_method => $pm } };
}

my $r;

# --- 1. status ------------------------------------------------------------

my $alice = register_user('alice@example.com');
my $alice_acc = acct('alice@example.com', 'public_id');
$r = req('GET', '/status', token => $alice);
status_is($r, 200, '1.1 status answers 200');
is_deeply([sort keys %{ $r->{json} }], [sort qw(plan has_default_payment_method
    current_period_end cancel_at_period_end billing_enforcement_exempt
    active_server_count suspended_no_card_count free_server_quota)],
    '1.2 exactly the contract\'s fields');
my $j = $r->{json};
is($j->{plan}, 'free', '1.3 plan free');
bool_is($j->{has_default_payment_method}, 0, '1.4 no card');
ok(exists $j->{current_period_end} && !defined $j->{current_period_end},
    '1.5 no period end: null');
bool_is($j->{cancel_at_period_end}, 0, '1.6 cancel_at_period_end false');
bool_is($j->{billing_enforcement_exempt}, 0, '1.7 not exempt');
ok($j->{active_server_count} eq '0' && $j->{suspended_no_card_count} eq '0',
    '1.8 no servers');
is($j->{free_server_quota}, 3, '1.9 free_server_quota 3');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    '1.10 content type');

my @a = servers($alice, qw(a1 a2 a3));
admin('suspend', $a[0], 'no_card_on_file');
admin('suspend', $a[1], 'operator');
set_acct('alice@example.com', 'current_period_end = 1780000000, '
    . 'billing_enforcement_exempt = 1');
$j = status_of($alice);
is($j->{active_server_count}, 1, '1.11 active servers counted');
is($j->{suspended_no_card_count}, 1,
    '1.12 only no_card_on_file suspensions counted');
is($j->{current_period_end}, '2026-05-28T20:26:40Z', '1.13 period end as ISO');
bool_is($j->{billing_enforcement_exempt}, 1, '1.14 exempt shown');
set_acct('alice@example.com', 'current_period_end = NULL, '
    . 'billing_enforcement_exempt = 0');
admin('suspend', $a[1], 'no_card_on_file');	# for section 6

$r = req('GET', '/status');
err_is($r, 401, 'unauthorized', '1.15 status needs a token');
$r = req('POST', '/status', token => $alice);
err_is($r, 405, 'method_not_allowed', '1.16 POST /status: 405');
is($r->{headers}{allow}, 'GET', '1.17 Allow: GET');
for (['1.18', 'GET', '/checkout'], ['1.19', 'GET', '/webhook'],
    ['1.20', 'DELETE', '/resume']) {
	my ($n, $m, $p) = @$_;
	$r = req($m, $p, token => $alice);
	ok($r->{status} == 405 && $r->{headers}{allow} eq 'POST',
	    "$n $m $p: 405, Allow: POST") or diag($r->{raw});
}
$r = req('GET', '', token => $alice);
err_is($r, 404, 'not_found', '1.21 /billing alone: 404');
$r = req('POST', '/nope', token => $alice);
err_is($r, 404, 'not_found', '1.22 unknown endpoint: 404');
$r = req('GET', '/status/x', token => $alice);
err_is($r, 404, 'not_found', '1.23 too deep: 404');

# --- 2. not configured ----------------------------------------------------

fake_reset();
{
	local $ENV{KILN_STRIPE_SECRET_KEY};
	delete $ENV{KILN_STRIPE_SECRET_KEY};
	for my $op (qw(checkout portal resume downgrade)) {
		my $t0 = Time::HiRes::time();
		$r = req('POST', "/$op", token => $alice);
		err_is($r, 503, 'billing_unavailable',
		    "2.1 $op without stripe_secret_key: 503");
		ok(Time::HiRes::time() - $t0 < 2, "2.2 $op answers at once");
	}
	$r = req('GET', '/status', token => $alice);
	status_is($r, 200, '2.3 status needs no Stripe');
}
{
	local $ENV{KILN_STRIPE_PRICE_PRO};
	delete $ENV{KILN_STRIPE_PRICE_PRO};
	$r = req('POST', '/checkout', token => $alice);
	err_is($r, 503, 'billing_unavailable', '2.4 checkout without a price');
}
{
	local $ENV{KILN_STRIPE_WEBHOOK_SECRET};
	delete $ENV{KILN_STRIPE_WEBHOOK_SECRET};
	$r = hook(event('customer.updated', customer_obj('cus_x', 'pm_x')));
	err_is($r, 503, 'billing_unavailable',
	    '2.5 webhook without stripe_webhook_secret');
}
is(scalar @{ fake_requests() }, 0, '2.6 nothing reached Stripe');
$r = req('POST', '/checkout');
err_is($r, 401, 'unauthorized', '2.7 checkout needs a token');

# --- 3. checkout ----------------------------------------------------------

fake_reset();
$r = req('POST', '/checkout', token => $alice);
status_is($r, 200, '3.1 checkout answers 200');
is_deeply([keys %{ $r->{json} }], ['url'], '3.2 the answer is {url}');
like($r->{json}{url}, qr{^https://checkout\.stripe\.test/c/pay/cs_test_},
    '3.3 the session url Stripe gave');
my $reqs = fake_requests();
is(scalar @$reqs, 2, '3.4 two calls: customer, then session');
my ($c, $s) = @$reqs;
is("$c->{method} $c->{path}", 'POST /v1/customers', '3.5 customer first');
is($c->{authorization}, "Bearer $KEY", '3.6 secret key as Bearer');
like($c->{content_type}, qr{^application/x-www-form-urlencoded},
    '3.7 form-encoded');
is($c->{form}{email}, 'alice@example.com', '3.8 the owner\'s email');
is($c->{form}{'metadata[kiln_account]'}, $alice_acc,
    '3.9 the account id in metadata');
is($c->{idempotency_key}, "kiln-customer-$alice_acc",
    '3.10 one customer per account even when two checkouts race');
my $alice_cus = acct('alice@example.com', 'stripe_customer_id');
like($alice_cus, qr/^cus_fake\d+$/, '3.11 customer stored on the account');
is("$s->{method} $s->{path}", 'POST /v1/checkout/sessions',
    '3.12 then the session');
is($s->{authorization}, "Bearer $KEY", '3.13 Bearer on every call');
is_deeply($s->{form}, {
	mode => 'subscription',
	customer => $alice_cus,
	client_reference_id => $alice_acc,
	'line_items[0][price]' => $PRICE,
	'line_items[0][quantity]' => '1',
	success_url => 'http://kiln.test/billing?checkout=success'
	    . '&session_id={CHECKOUT_SESSION_ID}',
	cancel_url => 'http://kiln.test/billing?checkout=cancelled',
	'metadata[kiln_account]' => $alice_acc,
	'subscription_data[metadata][kiln_account]' => $alice_acc,
}, '3.14 the session\'s fields');
like($s->{raw}, qr/success_url=http%3A%2F%2Fkiln\.test%2Fbilling%3Fcheckout/,
    '3.15 values percent-encoded');

fake_reset();
$r = req('POST', '/checkout', token => $alice);
status_is($r, 200, '3.16 a second checkout');
$reqs = fake_requests();
ok(@$reqs == 1 && $reqs->[0]{path} eq '/v1/checkout/sessions'
    && $reqs->[0]{form}{customer} eq $alice_cus,
    '3.17 the stored customer is reused') or diag(explain $reqs);

my $mia = register_user('mia@example.com');
sql("UPDATE user SET role = 'member' WHERE email = 'mia\@example.com'");
fake_reset();
for my $op (qw(checkout portal resume downgrade)) {
	$r = req('POST', "/$op", token => $mia);
	err_is($r, 403, 'forbidden', "3.18 $op: a member is not an admin");
}
is(scalar @{ fake_requests() }, 0, '3.19 nothing reached Stripe');
$r = req('GET', '/status', token => $mia);
status_is($r, 200, '3.20 a member may read the status');

# --- 4. portal ------------------------------------------------------------

fake_reset();
$r = req('POST', '/portal', token => $alice);
status_is($r, 200, '4.1 portal answers 200');
is_deeply([keys %{ $r->{json} }], ['url'], '4.2 {url}');
like($r->{json}{url}, qr{^https://billing\.stripe\.test/p/session/bps_},
    '4.3 the portal url');
$reqs = fake_requests();
ok(@$reqs == 1 && $reqs->[0]{path} eq '/v1/billing_portal/sessions',
    '4.4 one call');
is_deeply($reqs->[0]{form}, { customer => $alice_cus,
    return_url => 'http://kiln.test/billing' }, '4.5 customer, return_url');
is($reqs->[0]{authorization}, "Bearer $KEY", '4.6 Bearer');

my $nina = register_user('nina@example.com');
fake_reset();
$r = req('POST', '/portal', token => $nina);
status_is($r, 200, '4.7 portal for an account without a customer');
$reqs = fake_requests();
ok(@$reqs == 2 && $reqs->[0]{path} eq '/v1/customers'
    && $reqs->[1]{form}{customer} eq acct('nina@example.com',
    'stripe_customer_id'), '4.8 the customer is made first');

# --- 5. resume and downgrade ----------------------------------------------

fake_reset();
for my $op (qw(resume downgrade)) {
	$r = req('POST', "/$op", token => $alice);
	err_is($r, 409, 'no_subscription', "5.1 $op without a subscription");
}
is(scalar @{ fake_requests() }, 0, '5.2 nothing reached Stripe');

# Checkout completes: the webhook ties the subscription to the account.
my $PE = 1785000000;	# 2026-07-25T17:20:00Z
fake('/_subscription', { id => 'sub_alice1', customer => $alice_cus,
    current_period_end => $PE });
$r = hook(event('checkout.session.completed', { id => 'cs_test_1',
    object => 'checkout.session', mode => 'subscription',
    customer => $alice_cus, subscription => 'sub_alice1',
    client_reference_id => $alice_acc, payment_status => 'paid',
    status => 'complete' }));
status_is($r, 200, '5.3 checkout.session.completed accepted');
is($r->{raw}, '{"received":true}', '5.4 answer {"received":true}');
is(acct('alice@example.com', 'plan'), 'pro', '5.5 the account is Pro');
is(acct('alice@example.com', 'stripe_subscription_id'), 'sub_alice1',
    '5.6 the subscription is stored');

$r = req('POST', '/checkout', token => $alice);
err_is($r, 409, 'already_subscribed', '5.7 no second subscription');

fake_reset();
$r = req('POST', '/downgrade', token => $alice);
status_is($r, 200, '5.8 downgrade answers 200');
$reqs = fake_requests();
ok(@$reqs == 1 && $reqs->[0]{path} eq '/v1/subscriptions/sub_alice1'
    && $reqs->[0]{method} eq 'POST', '5.9 POST /v1/subscriptions/:id')
    or diag(explain $reqs);
is_deeply($reqs->[0]{form}, { cancel_at_period_end => 'true' },
    '5.10 cancel_at_period_end=true');
is($reqs->[0]{authorization}, "Bearer $KEY", '5.11 Bearer');
bool_is($r->{json}{cancel_at_period_end}, 1, '5.12 answer: cancel true');
is($r->{json}{current_period_end}, '2026-07-25T17:20:00Z',
    '5.13 answer: period end from Stripe');
is($r->{json}{plan}, 'pro', '5.14 still Pro until the period ends');
is(acct('alice@example.com', 'cancel_at_period_end'), 1, '5.15 stored');

fake_reset();
$r = req('POST', '/resume', token => $alice);
status_is($r, 200, '5.16 resume answers 200');
is_deeply(fake_requests()->[0]{form}, { cancel_at_period_end => 'false' },
    '5.17 cancel_at_period_end=false');
bool_is($r->{json}{cancel_at_period_end}, 0, '5.18 answer: cancel false');
is(acct('alice@example.com', 'cancel_at_period_end'), 0, '5.19 stored');

# API versions since 2025-03-31 put the period end on the items.
fake('/_subscription', { id => 'sub_alice1', customer => $alice_cus,
    current_period_end => $PE + $DAY, items_api => JSON::PP::true });
$r = req('POST', '/downgrade', token => $alice);
is($r->{json}{current_period_end}, '2026-07-26T17:20:00Z',
    '5.20 period end read from the items');

# --- 6. Stripe errors -----------------------------------------------------

fake('/_fail', { status => 402, message => 'Your card was declined.',
    count => 1 });
$r = req('POST', '/resume', token => $alice);
err_is($r, 502, 'stripe_error', '6.1 a Stripe error: 502');
is($r->{json}{message}, 'Your card was declined.',
    '6.2 with Stripe\'s message');
is(acct('alice@example.com', 'cancel_at_period_end'), 1,
    '6.3 nothing changed');
fake('/_fail', { status => 500, message => 'An unknown error occurred.',
    count => 1 });
$r = req('POST', '/checkout', token => $nina);
err_is($r, 502, 'stripe_error', '6.4 checkout: 502');
is($r->{json}{message}, 'An unknown error occurred.', '6.5 message');
fake('/_fail', { status => 400, message => 'No such price.', count => 1 });
$r = req('POST', '/portal', token => $nina);
err_is($r, 502, 'stripe_error', '6.6 portal: 502');
{
	local $ENV{KILN_STRIPE_SECRET_KEY} = 'sk_test_wrong';
	$r = req('POST', '/portal', token => $alice);
	err_is($r, 502, 'stripe_error', '6.7 a wrong key: 502');
	like($r->{json}{message}, qr/^Invalid API Key provided/,
	    '6.8 Stripe\'s message');
}
my $set_sub = 'stripe_subscription_id = \'sub_gone\'';
set_acct('alice@example.com', $set_sub);
$r = req('POST', '/resume', token => $alice);
err_is($r, 502, 'stripe_error', '6.9 an unknown subscription: 502');
like($r->{json}{message}, qr/No such subscription/, '6.10 message');
set_acct('alice@example.com', 'stripe_subscription_id = \'sub_alice1\'');
{
	local $ENV{KILN_STRIPE_API_BASE} = 'http://127.0.0.1:' . free_port();
	my $t0 = Time::HiRes::time();
	$r = req('POST', '/portal', token => $alice);
	err_is($r, 502, 'stripe_error', '6.11 Stripe unreachable: 502');
	like($r->{json}{message}, qr/could not be reached/, '6.12 message');
	ok(Time::HiRes::time() - $t0 < 10, '6.13 within the timeout');
}

# --- 7. webhook -----------------------------------------------------------

# 7.1-7.9: the signature.
my $ev = event('customer.subscription.updated', sub_obj(id => 'sub_alice1',
    customer => $alice_cus, cancel => 0, period_end => $PE + 7 * $DAY),
    created => $NOW - 5);
$r = hook($ev, secret => 'whsec_forged');
err_is($r, 400, 'invalid_signature', '7.1 forged signature: 400');
is(acct('alice@example.com', 'cancel_at_period_end'), 1, '7.2 no change');
$r = hook($ev, t => $NOW - 301);
err_is($r, 400, 'invalid_signature', '7.3 t 301 s old: 400');
$r = hook($ev, t => $NOW + 301);
err_is($r, 400, 'invalid_signature', '7.4 t 301 s ahead: 400');
$r = hook($ev, sig => undef);
err_is($r, 400, 'invalid_signature', '7.5 no Stripe-Signature: 400');
$r = hook($ev, sig => "t=$NOW");
err_is($r, 400, 'invalid_signature', '7.6 no v1: 400');
$r = hook($ev, sig => 'v1=' . hmac_sha256_hex("$NOW." . $json->encode($ev),
    $WHSEC));
err_is($r, 400, 'invalid_signature', '7.7 no t: 400');
$r = hook($json->encode($ev) . ' ', sign => $json->encode($ev));
err_is($r, 400, 'invalid_signature', '7.8 a body changed after signing');
is(acct('alice@example.com', 'cancel_at_period_end'), 1, '7.9 no change');
is(sql("SELECT count(*) FROM stripe_event"), 1,
    '7.10 refused events are not recorded');
$r = hook($ev, t => $NOW - 300);
status_is($r, 200, '7.11 t exactly 300 s old is accepted');
is(acct('alice@example.com', 'cancel_at_period_end'), 0,
    '7.12 subscription.updated: cancel flag from Stripe');
is(acct('alice@example.com', 'current_period_end'), $PE + 7 * $DAY,
    '7.13 period end from Stripe');
my $ev2 = event('customer.subscription.updated', sub_obj(id => 'sub_alice1',
    customer => $alice_cus, cancel => 1, period_end => $PE + 8 * $DAY),
    created => $NOW - 4);
$r = hook($ev2, t => $NOW + 300,
    sig => "t=" . ($NOW + 300) . ',v1=' . ('0' x 64) . ',v0=abc,v1='
    . hmac_sha256_hex(($NOW + 300) . '.' . $json->encode($ev2), $WHSEC));
status_is($r, 200, '7.14 t 300 s ahead, the second of two v1 matches');
is(acct('alice@example.com', 'cancel_at_period_end'), 1, '7.15 applied');

# 7.16-7.19: the event itself.
$r = hook('{"id":"evt_bad",');
err_is($r, 400, 'invalid_json', '7.16 signed but not JSON: 400');
$r = hook({ id => 'evt_nodata', type => 'customer.updated' });
err_is($r, 400, 'invalid_event', '7.17 no data.object: 400');
$r = hook(event('invoice.paid', { id => 'in_1', object => 'invoice' }));
status_is($r, 200, '7.18 an unknown type: 200');
is($r->{raw}, '{"received":true,"ignored":true}', '7.19 said ignored');
$r = hook(event('customer.updated', customer_obj('cus_nobody', 'pm_1')));
ok($r->{status} == 200 && $r->{json}{ignored},
    '7.20 an unknown customer: 200 ignored') or diag($r->{raw});
$r = hook('{"id":"evt_big","type":"x","data":{"object":{"pad":"'
    . ('x' x (256 * 1024)) . '"}}}');
err_is($r, 413, 'payload_too_large', '7.21 over 256 KiB: 413');
$r = hook('{"id":"evt_fits","type":"x","data":{"object":{"pad":"'
    . ('x' x (250 * 1024)) . '"}}}');
status_is($r, 200, '7.22 250 KiB fits');

# 7.23-7.30: subscription lifecycle, replays and stale events.
my $del = event('customer.subscription.deleted', sub_obj(id => 'sub_alice1',
    customer => $alice_cus, status => 'canceled'), created => $NOW - 3);
$r = hook($del);
status_is($r, 200, '7.23 subscription deleted: 200');
is(acct('alice@example.com', 'plan'), 'free', '7.24 deleted -> free');
is(sql("SELECT coalesce(stripe_subscription_id, 'none') || '/' || "
    . "cancel_at_period_end FROM account WHERE public_id = '$alice_acc'"),
    'none/0', '7.25 subscription and cancel flag cleared');
admin('plan', 'alice@example.com', 'pro');
$r = hook($del);
status_is($r, 200, '7.26 the same event again: 200');
is($r->{raw}, '{"received":true,"duplicate":true}', '7.27 said duplicate');
is(acct('alice@example.com', 'plan'), 'pro', '7.28 no second effect');
$r = hook(event('customer.subscription.updated', sub_obj(id => 'sub_alice1',
    customer => $alice_cus), created => $NOW - 10));
status_is($r, 200, '7.29 an older event arriving late: 200');
is(acct('alice@example.com', 'stripe_subscription_id'), '',
    '7.30 and it changes nothing');

my $olga = register_user('olga@example.com');
set_acct('olga@example.com', "stripe_customer_id = 'cus_olga'");
for (['unpaid', 'free'], ['active', 'pro'], ['canceled', 'free'],
    ['trialing', 'pro'], ['incomplete_expired', 'free'],
    ['past_due', 'pro']) {
	my ($st, $plan) = @$_;
	$r = hook(event('customer.subscription.updated', sub_obj(id =>
	    'sub_olga', customer => 'cus_olga', status => $st)));
	is(acct('olga@example.com', 'plan'), $plan, "7.31 status $st -> $plan");
}
$r = hook(event('customer.subscription.deleted', sub_obj(id => 'sub_other',
    customer => 'cus_olga', status => 'canceled')));
is(acct('olga@example.com', 'plan'), 'pro',
    '7.32 the end of another subscription changes nothing');
$r = hook(event('customer.subscription.updated', sub_obj(id => 'sub_meta',
    customer => 'cus_unknown', metadata => { kiln_account =>
    acct('nina@example.com', 'public_id') })));
is(acct('nina@example.com', 'plan'), 'pro',
    '7.33 found by metadata when the customer is unknown');

# --- 8. a card arrives ----------------------------------------------------

# bob (free) has b1..b4; b1-b3 suspended for no card, b4 active: room for
# two under the quota.
my $bob = register_user('bob@example.com');
my @b = servers($bob, qw(b1 b2 b3));
admin('suspend', $_, 'no_card_on_file') for @b;
push @b, servers($bob, 'b4');
set_acct('bob@example.com', "stripe_customer_id = 'cus_bob'");
my $card = event('customer.updated', customer_obj('cus_bob', 'pm_bob1'));
$r = hook($card);
status_is($r, 200, '8.1 customer.updated with a default card: 200');
is(acct('bob@example.com', 'has_default_payment_method'), 1,
    '8.2 has_default_payment_method');
is(acct('bob@example.com', 'stripe_customer_pm'), 'pm_bob1', '8.3 pm kept');
is_deeply([map { server_status($_) } @b], ['active/', 'active/',
    'suspended/no_card_on_file', 'active/'],
    '8.4 the two oldest restored: a free account up to its quota');
bool_is(status_of($bob)->{has_default_payment_method}, 1,
    '8.5 status shows the card');
admin('suspend', $b[0], 'no_card_on_file');
admin('payment-method', 'bob@example.com', 'absent');
$r = hook($card);
is($r->{raw}, '{"received":true,"duplicate":true}', '8.6 replayed');
is(server_status($b[0]), 'suspended/no_card_on_file',
    '8.7 a replay restores nothing');
is(acct('bob@example.com', 'has_default_payment_method'), 0,
    '8.8 nor sets the card again');
$r = hook(event('payment_method.attached', { id => 'pm_bob2',
    object => 'payment_method', customer => 'cus_bob' }));
ok($r->{json}{ignored} && acct('bob@example.com',
    'has_default_payment_method') == 0,
    '8.9 attached is not a default: ignored');
$r = hook(event('customer.updated', customer_obj('cus_bob', undef)));
is(acct('bob@example.com', 'has_default_payment_method'), 0,
    '8.10 default cleared: no card');
$r = hook(event('customer.updated', customer_obj('cus_bob',
    { id => 'pm_bob3', object => 'payment_method' })));
is(acct('bob@example.com', 'stripe_customer_pm'), 'pm_bob3',
    '8.11 an expanded default payment method');
is(server_status($b[0]), 'active/', '8.12 a new card restores again');
$r = hook(event('payment_method.detached', { id => 'pm_bob3',
    object => 'payment_method', customer => undef }));
status_is($r, 200, '8.13 detached: 200');
is(acct('bob@example.com', 'has_default_payment_method') . '/'
    . acct('bob@example.com', 'coalesce(stripe_customer_pm, \'none\')'),
    '0/none', '8.14 the detached default is gone');

# dave: checkout completes, then the subscription with its card.
my $dave = register_user('dave@example.com');
my $dave_acc = acct('dave@example.com', 'public_id');
my @d = servers($dave, qw(d1 d2 d3));
admin('suspend', $_, 'no_card_on_file') for @d;
set_acct('dave@example.com', "stripe_customer_id = 'cus_dave'");
$r = hook(event('checkout.session.completed', { id => 'cs_dave',
    object => 'checkout.session', mode => 'subscription',
    customer => 'cus_dave', subscription => 'sub_dave',
    client_reference_id => $dave_acc, payment_status => 'unpaid' }));
is(acct('dave@example.com', 'plan') . ' '
    . acct('dave@example.com', 'stripe_subscription_id'), 'free sub_dave',
    '8.15 checkout not yet paid: subscription kept, still free');
$r = hook(event('customer.subscription.created', sub_obj(id => 'sub_dave',
    customer => 'cus_dave', pm => 'pm_dave')));
is(acct('dave@example.com', 'plan'), 'pro', '8.16 subscription active: Pro');
is(acct('dave@example.com', 'has_default_payment_method'), 1,
    '8.17 the subscription\'s card counts');
is_deeply([map { server_status($_) } @d], [('active/') x 3],
    '8.18 its servers are back');
$r = hook(event('customer.subscription.deleted', sub_obj(id => 'sub_dave',
    customer => 'cus_dave', status => 'canceled', pm => 'pm_dave')));
is(acct('dave@example.com', 'plan') . '/'
    . acct('dave@example.com', 'has_default_payment_method'), 'free/0',
    '8.19 deleted: free, and its card went with it');

# carol (pro): restore through kiln-servers needs a card until one comes.
my $carol = register_user('carol@example.com');
admin('plan', 'carol@example.com', 'pro');
my @c = servers($carol, qw(c1 c2));
admin('suspend', $c[1], 'no_card_on_file');
set_acct('carol@example.com', "stripe_customer_id = 'cus_carol'");
$r = cgi('servers', 'POST', "/api/v1/servers/$c[1]/restore", token => $carol);
err_is($r, 400, 'no_card_on_file', '8.20 restore without a card: 400');
$r = hook(event('customer.updated', customer_obj('cus_carol', 'pm_carol')));
is(server_status($c[1]), 'active/', '8.21 the card restored it');
admin('suspend', $c[1], 'no_card_on_file');
$r = cgi('servers', 'POST', "/api/v1/servers/$c[1]/restore", token => $carol);
status_is($r, 200, '8.22 restore with the card from the webhook: 200');
is($r->{json}{server}{status}, 'active', '8.23 active');

# ines: Stripe delivers customer.updated out of order; an older event
# arriving late does not undo a newer one.
register_user('ines@example.com');
set_acct('ines@example.com', "stripe_customer_id = 'cus_ines'");
$r = hook(event('customer.updated', customer_obj('cus_ines', 'pm_ines2'),
    created => $NOW - 10));
status_is($r, 200, '8.24 the newer customer.updated: 200');
is(acct('ines@example.com', 'stripe_customer_pm'), 'pm_ines2',
    '8.25 sets the card');
$r = hook(event('customer.updated', customer_obj('cus_ines', undef),
    created => $NOW - 20));
status_is($r, 200, '8.26 an older one arriving later: 200');
is(acct('ines@example.com', 'coalesce(stripe_customer_pm, \'none\')') . '/'
    . acct('ines@example.com', 'has_default_payment_method'), 'pm_ines2/1',
    '8.27 does not clear the card');
$r = hook(event('customer.updated', customer_obj('cus_ines', 'pm_ines1'),
    created => $NOW - 30));
is(acct('ines@example.com', 'stripe_customer_pm'), 'pm_ines2',
    '8.28 nor replace it');
$r = hook(event('customer.updated', customer_obj('cus_ines', 'pm_ines3'),
    created => $NOW - 10));
is(acct('ines@example.com', 'stripe_customer_pm'), 'pm_ines3',
    '8.29 one created in the same second still applies');

# --- 9. kiln-admin's switch -----------------------------------------------

my $hank = register_user('hank@example.com');
my @h = servers($hank, qw(h1 h2));
admin('suspend', $_, 'no_card_on_file') for @h;
my $out = admin_ok('9.1 payment-method present', 'payment-method',
    'hank@example.com', 'present');
like($out, qr/2 servers restored/, '9.2 says what it restored');
is_deeply([map { server_status($_) } @h], [('active/') x 2],
    '9.3 restored as the webhook would');
admin('suspend', $h[0], 'no_card_on_file');
admin_ok('9.4 payment-method absent', 'payment-method', 'hank@example.com',
    'absent');
is(server_status($h[0]), 'suspended/no_card_on_file',
    '9.5 absent restores nothing');
my ($rc) = admin('payment-method', 'nobody@example.com', 'present');
is($rc, 1, '9.6 an unknown account: exit 1');

# --- 10. billing-suspend --------------------------------------------------

# Runs bin/kiln-cron-billing-suspend once at Unix time $now.
sub job {
	my ($now) = @_;
	my $dir = $ENV{KILN_VAR_DIR};
	local $ENV{KILN_FAKE_NOW} = $now;
	system(bin_dir() . "/kiln-cron-billing-suspend >'$dir/job.out' "
	    . "2>'$dir/job.err'");
	my %r = (exit => $? >> 8);
	for my $k (qw(out err)) {
		open my $fh, '<', "$dir/job.$k" or die "$dir/job.$k: $!";
		local $/;
		$r{$k} = <$fh> // '';
	}
	return \%r;
}

sub job_ok {
	my ($r, $name) = @_;
	is($r->{exit}, 0, $name) or diag($r->{err});
}

sub mails {
	my ($email) = @_;
	return sql("SELECT count(*) FROM mail_outbox WHERE recipient = "
	    . "'$email' AND subject LIKE '%suspended%'");
}

# erin: Pro, no card, five servers, made 40 days ago with a period that
# ends in 10 days. quinn: the same but made 10 days ago. fay: Pro, card.
# gus: free, no card. ivy: Pro, no card, exempt, two suspended no-card.
my $T = $NOW;
my $erin = register_user('erin@example.com');
admin('plan', 'erin@example.com', 'pro');
my @e = servers($erin, map { "e$_" } 1 .. 5);
set_acct('erin@example.com', 'created_at = ' . ($T - 40 * $DAY)
    . ', current_period_end = ' . ($T + 10 * $DAY));
my $quinn = register_user('quinn@example.com');
admin('plan', 'quinn@example.com', 'pro');
my @q = servers($quinn, map { "q$_" } 1 .. 4);
set_acct('quinn@example.com', 'created_at = ' . ($T - 10 * $DAY));
my $fay = register_user('fay@example.com');
admin('plan', 'fay@example.com', 'pro');
admin('payment-method', 'fay@example.com', 'present');
my @f = servers($fay, map { "f$_" } 1 .. 4);
set_acct('fay@example.com', 'created_at = ' . ($T - 90 * $DAY));
my $ivy = register_user('ivy@example.com');
admin('plan', 'ivy@example.com', 'pro');
my @i = servers($ivy, map { "i$_" } 1 .. 5);
admin('suspend', $_, 'no_card_on_file') for @i[3, 4];
set_acct('ivy@example.com', 'created_at = ' . ($T - 90 * $DAY)
    . ', billing_enforcement_exempt = 1');
# Everyone else made above is free or has few servers; make them old too.
sql('UPDATE account SET created_at = ' . ($T - 90 * $DAY) . ' WHERE '
    . "created_at > " . ($T - $DAY));
sql("INSERT INTO stripe_event VALUES ('evt_ancient', 'x', 0, "
    . ($T - 31 * $DAY) . ')');
my $events = sql('SELECT count(*) FROM stripe_event');
my $suspended_before = sql("SELECT count(*) FROM server WHERE status = "
    . "'suspended'") - 2;	# ivy's two come back

$r = job($T + 5 * $DAY);
job_ok($r, '10.1 a run inside erin\'s grace');
is_deeply([map { server_status($_) } @e], [('active/') x 5],
    '10.2 grace not over (period end later than creation + 30 d): '
    . 'nothing suspended');
is(mails('erin@example.com'), 0, '10.3 no email');
is_deeply([map { server_status($_) } @i], [('active/') x 5],
    '10.4 the exempt account\'s servers are restored');
is(sql("SELECT count(*) FROM stripe_event WHERE event_id = 'evt_ancient'"), 1,
    '10.5 old event ids are left to the retention job (tests/cron.t)');
is(sql('SELECT count(*) FROM stripe_event'), $events,
    '10.6 all of them');

my $when = $T + 11 * $DAY;
$r = job($when);
job_ok($r, '10.7 a run after erin\'s grace');
is_deeply([map { server_status($_) } @e], ['active/', 'active/', 'active/',
    'suspended/no_card_on_file', 'suspended/no_card_on_file'],
    '10.8 all but the three oldest suspended, reason no_card_on_file');
is(sql("SELECT group_concat(suspended_at) FROM server WHERE public_id IN "
    . "('$e[3]', '$e[4]')"), "$when,$when", '10.9 suspended_at is now');
is(mails('erin@example.com'), 1, '10.10 one email queued to the owner');
like(sql("SELECT subject FROM mail_outbox WHERE recipient = "
    . "'erin\@example.com' ORDER BY id DESC LIMIT 1"),
    qr/2 servers suspended/, '10.11 its subject');
like(sql("SELECT body FROM mail_outbox WHERE recipient = "
    . "'erin\@example.com' ORDER BY id DESC LIMIT 1"),
    qr{http://kiln\.test/billing},
    '10.12 its body links to billing');
like($r->{out}, qr/2 suspended/, '10.13 the job says what it did');
is_deeply([map { server_status($_) } @q], [('active/') x 4],
    '10.14 quinn: made 10 days ago, still in grace');
is_deeply([map { server_status($_) } @f], [('active/') x 4],
    '10.15 fay: has a card');
is(sql("SELECT count(*) FROM server WHERE status = 'suspended'"),
    $suspended_before + 2, '10.16 nobody else touched');
is(status_of($erin)->{suspended_no_card_count}, 2,
    '10.17 status counts them');

$r = job($when + 3600);
job_ok($r, '10.18 a second run');
is(sql("SELECT count(*) FROM server WHERE status = 'suspended'"),
    $suspended_before + 2, '10.19 changes nothing');
is(mails('erin@example.com'), 1, '10.20 and sends no second email');
is($r->{out}, '', '10.21 and says nothing');

$r = job($T + 21 * $DAY);
is_deeply([map { server_status($_) } @q], ['active/', 'active/', 'active/',
    'suspended/no_card_on_file'], '10.22 quinn after creation + 30 d');

admin('exempt', 'erin@example.com', 'on');
$r = job($T + 22 * $DAY);
is_deeply([map { server_status($_) } @e], [('active/') x 5],
    '10.23 exempt now: erin\'s servers restored');

admin('exempt', 'quinn@example.com', 'off');
set_acct('quinn@example.com', "stripe_customer_id = 'cus_quinn'");
$r = hook(event('customer.updated', customer_obj('cus_quinn', 'pm_q')));
is_deeply([map { server_status($_) } @q], [('active/') x 4],
    '10.24 a card through the webhook restores a Pro account\'s servers');

{
	my $dir = $ENV{KILN_VAR_DIR};
	open my $lock, '>>', "$dir/cron-billing-suspend.lock" or die "$!";
	flock($lock, LOCK_EX) or die "flock: $!";
	set_acct('quinn@example.com', 'has_default_payment_method = 0');
	$r = job($T + 30 * $DAY);
	job_ok($r, '10.25 the lock taken: exit 0');
	like($r->{err}, qr/skipped/, '10.26 skipped');
	is(server_status($q[3]), 'active/', '10.27 nothing done');
	close $lock;
}

# --- 11. the processes ----------------------------------------------------

ok(!@bad_exits, '11.1 every kiln-billing run exited 0')
    or diag(join "\n", @bad_exits);

done_testing();
