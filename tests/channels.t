#!/usr/bin/perl
# channels: POST/GET /channels, GET/PUT/DELETE /channels/:id and POST
# /channels/:id/test through kiln-channels as plain CGI against a fresh
# database. The tests send to real peers on loopback (tests/peers/): an
# HTTP stub standing in for Telegram, Slack, Discord, PagerDuty and
# webhook receivers (it checks webhook signatures), and an SMTP server.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use KilnTest;
use KilnPeers;

my $http = start_http_stub();
my $smtp = start_smtp_stub();
my $H = $http->{url};
new_env(rate_ip => 100000, allow_http => 'yes', allow_private_targets => 'yes',
    telegram_api_base => "$H/tg", pagerduty_events_url => "$H/pd/enqueue",
    smtp_url => "smtp://127.0.0.1:$smtp->{port}",
    mail_from => 'Kiln Alerts <alerts@kiln.test>');

my $M = "\x{2026}";	# the mask: U+2026
my @FIELDS = sort qw(id name type enabled config created_at updated_at
    last_attempt);
my @bad_exits;

sub req {
	my ($method, $uri, %o) = @_;
	my $r = cgi('channels', $method, $uri, %o);
	# Text, not UTF-8 bytes, so masks compare and PUT back as sent.
	$r->{json} = eval { decode_json($r->{raw}) } if defined $r->{raw};
	push @bad_exits, "$method $uri: exit $r->{exit}\n$r->{stderr}"
	    if $r->{exit} != 0;
	return $r;
}

sub create { req('POST', '/api/v1/channels', token => $_[0], body => $_[1]) }
sub get { req('GET', "/api/v1/channels/$_[1]", token => $_[0]) }
sub list { req('GET', '/api/v1/channels', token => $_[0]) }
sub put { req('PUT', "/api/v1/channels/$_[1]", token => $_[0], body => $_[2]) }
sub del { req('DELETE', "/api/v1/channels/$_[1]", token => $_[0]) }
sub test { req('POST', "/api/v1/channels/$_[1]/test", token => $_[0]) }

sub stored_config {
	return decode_json(sql("SELECT config FROM channel WHERE public_id"
	    . " = '$_[0]'"));
}

my $alice = register_user('alice@example.com');
my $bob = register_user('bob@example.com');
my $carol = register_user('carol@example.com');
my $erin = register_user('erin@example.com');
admin('plan', "$_\@example.com", 'pro') for qw(alice bob erin);

my $TG_TOKEN = '7123456789:AAH1bGciOiJSUzI1NiIs';
my $PD_KEY = 'R0utingKey0123456789abcdefABCDEF';
my $SLACK = 'https://hooks.slack.com/services/T0000/B0000/abcdefghXy9z';
my $DISCORD = 'https://discord.com/api/webhooks/1234/tokenTOKENtokenQ7r2';

# --- 1. create, one of each type -------------------------------------------

my %ch;
my $r = create($alice, { name => 'ops-telegram', type => 'telegram',
    config => { bot_token => $TG_TOKEN, chat_id => '-1001234567890' } });
status_is($r, 201, '1.1 create a telegram channel');
my $j = $r->{json} || {};
is($j->{success}, JSON::PP::true, '1.2 success true');
my $c = $j->{channel} || {};
is_deeply([sort keys %$c], \@FIELDS, '1.3 the channel has exactly these fields');
like($c->{id} // '', qr/^chn_[0-9a-f]{20}$/, '1.4 id is chn_ + 20 hex');
is($c->{name}, 'ops-telegram', '1.5 name');
is($c->{type}, 'telegram', '1.6 type');
is($c->{enabled}, JSON::PP::true, '1.7 enabled by default');
is($c->{config}{bot_token}, "${M}NiIs", '1.8 the bot token is masked to its last 4');
is($c->{config}{chat_id}, '-1001234567890', '1.9 chat_id shown as is');
like($c->{created_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    '1.10 created_at ISO 8601');
ok(!defined $c->{last_attempt}, '1.11 last_attempt null before any');
is(stored_config($c->{id})->{bot_token}, $TG_TOKEN,
    '1.12 the database keeps the token in clear');
$ch{telegram} = $c->{id};

$r = create($alice, { name => 'slack', type => 'slack',
    config => { webhook_url => $SLACK } });
status_is($r, 201, '1.13 create a slack channel');
is($r->{json}{channel}{config}{webhook_url}, "https://hooks.slack.com/${M}Xy9z",
    '1.14 the webhook path is masked to its last 4');
$ch{slack} = $r->{json}{channel}{id};

$r = create($alice, { name => 'discord', type => 'discord',
    config => { webhook_url => $DISCORD } });
status_is($r, 201, '1.15 create a discord channel');
is($r->{json}{channel}{config}{webhook_url}, "https://discord.com/${M}Q7r2",
    '1.16 masked');
$ch{discord} = $r->{json}{channel}{id};

$r = create($alice, { name => 'pager', type => 'pagerduty',
    config => { routing_key => $PD_KEY } });
status_is($r, 201, '1.17 create a pagerduty channel');
is($r->{json}{channel}{config}{routing_key}, "${M}CDEF",
    '1.18 the routing key is masked');
$ch{pagerduty} = $r->{json}{channel}{id};

$r = create($alice, { name => 'hook', type => 'webhook', enabled => JSON::PP::false,
    config => { url => 'https://example.com/kiln/hook/abc123', secret =>
    'whsec_0123456789abcdef' } });
status_is($r, 201, '1.19 create a webhook channel');
$c = $r->{json}{channel} || {};
is($c->{config}{url}, "https://example.com/${M}c123", '1.20 url masked');
is($c->{config}{secret}, "${M}cdef", '1.21 secret masked');
is($c->{enabled}, JSON::PP::false, '1.22 enabled false as given');
$ch{webhook} = $c->{id};

$r = create($alice, { name => 'mail', type => 'email', config =>
    { recipients => ['ops@example.com', 'OPS@example.com', 'b@example.org'] } });
status_is($r, 201, '1.23 create an email channel');
is_deeply($r->{json}{channel}{config}{recipients},
    ['ops@example.com', 'b@example.org'],
    '1.24 recipients shown, duplicates dropped');
$ch{email} = $r->{json}{channel}{id};

$r = create($alice, { name => 'numeric chat', type => 'telegram',
    config => { bot_token => $TG_TOKEN, chat_id => -100777 } });
status_is($r, 201, '1.25 a numeric chat_id');
is($r->{json}{channel}{config}{chat_id}, '-100777', '1.26 kept as a string');
$r = create($alice, { name => 'short secret', type => 'webhook',
    config => { url => 'https://example.com/', secret => 'abc' } });
is($r->{json}{channel}{config}{secret}, $M,
    '1.27 a short secret shows no characters');
is($r->{json}{channel}{config}{url}, "https://example.com/$M",
    '1.28 a short path shows no characters');
is(sql("SELECT count(*) FROM channel"), 8, '1.29 eight channels stored');

# --- 2. validation -----------------------------------------------------------

my $long = 'x' x 101;
my @bad = (
    [ 'name', { type => 'slack', config => { webhook_url => $SLACK } } ],
    [ 'name', { name => '', type => 'slack', config => { webhook_url => $SLACK } } ],
    [ 'name', { name => $long, type => 'slack', config => { webhook_url => $SLACK } } ],
    [ 'name', { name => 5, type => 'slack', config => { webhook_url => $SLACK } } ],
    [ 'type', { name => 'x', config => {} } ],
    [ 'type', { name => 'x', type => 'sms', config => {} } ],
    [ 'config', { name => 'x', type => 'slack' } ],
    [ 'config', { name => 'x', type => 'slack', config => [] } ],
    [ 'config.recipients', { name => 'x', type => 'email', config => {} } ],
    [ 'config.recipients', { name => 'x', type => 'email',
        config => { recipients => [] } } ],
    [ 'config.recipients', { name => 'x', type => 'email',
        config => { recipients => [map { "u$_\@example.com" } 1 .. 11] } } ],
    [ 'config.recipients', { name => 'x', type => 'email',
        config => { recipients => ['not-an-address'] } } ],
    [ 'config.recipients', { name => 'x', type => 'email',
        config => { recipients => [42] } } ],
    [ 'config.recipients', { name => 'x', type => 'email',
        config => { recipients => 'ops@example.com' } } ],
    [ 'config.recipients', { name => 'x', type => 'email',
        config => { recipients => ['Ops <ops@example.com>'] } } ],
    [ 'config.bot_token', { name => 'x', type => 'telegram',
        config => { chat_id => '1' } } ],
    [ 'config.bot_token', { name => 'x', type => 'telegram',
        config => { bot_token => 'nope', chat_id => '1' } } ],
    [ 'config.bot_token', { name => 'x', type => 'telegram',
        config => { bot_token => '1:abc/../../x12345', chat_id => '1' } } ],
    [ 'config.chat_id', { name => 'x', type => 'telegram',
        config => { bot_token => $TG_TOKEN } } ],
    [ 'config.chat_id', { name => 'x', type => 'telegram',
        config => { bot_token => $TG_TOKEN, chat_id => 'my chat' } } ],
    [ 'config.chat_id', { name => 'x', type => 'telegram',
        config => { bot_token => $TG_TOKEN, chat_id => 1.5 } } ],
    [ 'config.webhook_url', { name => 'x', type => 'slack', config => {} } ],
    [ 'config.webhook_url', { name => 'x', type => 'slack',
        config => { webhook_url => 'not a url' } } ],
    [ 'config.webhook_url', { name => 'x', type => 'slack',
        config => { webhook_url => 'ftp://hooks.slack.com/x' } } ],
    [ 'config.webhook_url', { name => 'x', type => 'slack',
        config => { webhook_url => 'https://' . ('a' x 2100) . '.com/' } } ],
    [ 'config.webhook_url', { name => 'x', type => 'discord',
        config => { webhook_url => 7 } } ],
    [ 'config.routing_key', { name => 'x', type => 'pagerduty',
        config => { routing_key => 'short' } } ],
    [ 'config.routing_key', { name => 'x', type => 'pagerduty', config => {} } ],
    [ 'config.url', { name => 'x', type => 'webhook', config => {} } ],
    [ 'config.url', { name => 'x', type => 'webhook',
        config => { url => '/relative/path' } } ],
    [ 'config.secret', { name => 'x', type => 'webhook',
        config => { url => 'https://example.com/h', secret => 'y' x 257 } } ],
    [ 'config.secret', { name => 'x', type => 'webhook',
        config => { url => 'https://example.com/h', secret => 12345 } } ],
    [ 'config.secret', { name => 'x', type => 'webhook',
        config => { url => 'https://example.com/h', secret => "a\nb" } } ],
    [ 'config.chat_id', { name => 'x', type => 'slack',
        config => { webhook_url => $SLACK, chat_id => '1' } } ],
    [ 'enabled', { name => 'x', type => 'slack', enabled => 'yes',
        config => { webhook_url => $SLACK } } ],
);
for my $i (0 .. $#bad) {
	my ($field, $body) = @{ $bad[$i] };
	err_is(create($alice, $body), 400, 'validation_failed',
	    "2.1.$i invalid body names $field", field => $field);
}
err_is(create($alice, '{"name":'), 400, 'invalid_json', '2.2 malformed JSON');
err_is(create($alice, '[]'), 400, 'invalid_json', '2.3 not an object');
{
	local $ENV{KILN_ALLOW_PRIVATE_TARGETS} = 'no';
	local $ENV{KILN_ALLOW_HTTP} = 'no';
	$r = create($alice, { name => 'x', type => 'webhook',
	    config => { url => 'http://example.com/hook' } });
	err_is($r, 400, 'validation_failed', '2.4 http:// when allow_http is off',
	    field => 'config.url');
	like($r->{json}{message} // '', qr/https/, '2.5 ... the message says https');
	my @private = ('https://127.0.0.1/x', 'https://10.1.2.3/x',
	    'https://[::1]:8443/x', 'https://169.254.169.254/latest/meta-data',
	    'https://192.168.0.1/x', 'https://100.64.0.1/x', 'https://0.0.0.0/x',
	    'https://[fd00::1]/x', 'https://[::ffff:127.0.0.1]/x',
	    'https://224.0.0.1/x');
	for my $i (0 .. $#private) {
		$r = create($alice, { name => 'x', type => 'webhook',
		    config => { url => $private[$i] } });
		err_is($r, 400, 'validation_failed',
		    "2.6.$i $private[$i] refused", field => 'config.url');
	}
	$r = create($alice, { name => 'x', type => 'webhook',
	    config => { url => 'https://169.254.169.254/latest/meta-data' } });
	like($r->{json}{message} // '', qr/metadata/, '2.7 the metadata address is named');
}
is(sql("SELECT count(*) FROM channel"), 8, '2.8 nothing more was stored');

# --- 3. list and get ----------------------------------------------------------

$r = create($bob, { name => 'bob hook', type => 'webhook',
    config => { url => "$H/bob" } });
status_is($r, 201, '3.1 bob has a channel too');
my $bob_ch = $r->{json}{channel}{id};
$r = list($alice);
status_is($r, 200, '3.2 GET /channels');
is_deeply([sort keys %{ $r->{json} || {} }], ['channels'], '3.3 {channels}');
my @l = @{ $r->{json}{channels} || [] };
is(scalar @l, 8, "3.4 alice's eight channels");
is_deeply([map { $_->{id} } @l[0 .. 5]], [@ch{qw(telegram slack discord
    pagerduty webhook email)}], '3.5 in creation order');
ok(!grep({ $_->{id} eq $bob_ch } @l), "3.6 bob's is not among them");
is($l[0]{config}{bot_token}, "${M}NiIs", '3.7 the list masks too');
$r = get($alice, $ch{webhook});
status_is($r, 200, '3.8 GET /channels/:id');
is_deeply($r->{json}, $l[4], '3.9 the same object as in the list');
err_is(get($bob, $ch{webhook}), 404, 'not_found', "3.10 another account's");
err_is(get($alice, 'chn_' . ('0' x 20)), 404, 'not_found', '3.11 unknown id');
for my $bad ('chn_x', 'srv_' . ('0' x 20), 'CHN_' . ('0' x 20), 'chn_' . ('0' x 21)) {
	err_is(get($alice, $bad), 404, 'not_found', "3.12 malformed id $bad");
}
$r = list($carol);
status_is($r, 200, '3.13 GET is open to the free plan');
is_deeply($r->{json}{channels}, [], '3.14 ... with nothing in it');

# --- 4. update ---------------------------------------------------------------

my $got = get($alice, $ch{telegram})->{json};
$r = put($alice, $ch{telegram}, { name => 'renamed', type => 'telegram',
    config => $got->{config} });
status_is($r, 200, '4.1 PUT back what GET showed, renamed');
is($r->{json}{name}, 'renamed', '4.2 the name changed');
is(stored_config($ch{telegram})->{bot_token}, $TG_TOKEN,
    '4.3 the masked token kept the stored one');
is($r->{json}{enabled}, JSON::PP::true, '4.4 enabled kept when not given');
$r = put($alice, $ch{telegram}, { name => 'renamed', type => 'telegram',
    enabled => JSON::PP::false, config => { bot_token => '42:NEWTOKENnewtoken_0042',
    chat_id => '@kiln_ops' } });
status_is($r, 200, '4.5 PUT a new token and chat');
is($r->{json}{config}{bot_token}, "${M}0042", '4.6 the new token, masked');
is($r->{json}{config}{chat_id}, '@kiln_ops', '4.7 the new chat');
is($r->{json}{enabled}, JSON::PP::false, '4.8 disabled');
is(stored_config($ch{telegram})->{bot_token}, '42:NEWTOKENnewtoken_0042',
    '4.9 stored');
$got = get($alice, $ch{webhook})->{json};
$r = put($alice, $ch{webhook}, { name => 'hook', type => 'webhook',
    enabled => JSON::PP::true, config => $got->{config} });
status_is($r, 200, '4.10 PUT a webhook back as GET showed it');
is_deeply(stored_config($ch{webhook}), { url =>
    'https://example.com/kiln/hook/abc123', secret => 'whsec_0123456789abcdef' },
    '4.11 url and secret kept');
$r = put($alice, $ch{webhook}, { name => 'hook', type => 'webhook',
    config => { url => $got->{config}{url} } });
ok(!exists stored_config($ch{webhook})->{secret},
    '4.12 leaving the secret out removes it');
$r = put($alice, $ch{webhook}, { name => 'hook', type => 'webhook',
    config => { url => "$H/hook", secret => 'whsec_test_secret_1' } });
status_is($r, 200, '4.13 PUT a new url and secret');
is($r->{json}{config}{url}, "$H/$M", '4.14 masked (a short path entirely)');
$r = put($alice, $ch{slack}, { name => 'x', type => 'slack',
    config => { webhook_url => 'https://hooks.slack.com/' . $M . 'nope' } });
err_is($r, 400, 'validation_failed', '4.15 a mask that is not the stored one',
    field => 'config.webhook_url');
$r = put($alice, $ch{slack}, { name => 'x', type => 'webhook',
    config => { url => "https://hooks.slack.com/${M}Xy9z" } });
err_is($r, 400, 'validation_failed', '4.16 a mask from another type',
    field => 'config.url');
$r = put($alice, $ch{slack}, { type => 'slack', config => { webhook_url => $SLACK } });
err_is($r, 400, 'validation_failed', '4.17 PUT validates as create',
    field => 'name');
$r = put($alice, $ch{slack}, { name => 'x', type => 'slack', config => {} });
err_is($r, 400, 'validation_failed', '4.18 ... config too',
    field => 'config.webhook_url');
is(sql("SELECT name || ' ' || config FROM channel WHERE public_id ="
    . " '$ch{slack}'"), qq(slack {"webhook_url":"$SLACK"}),
    '4.19 a refused PUT changes nothing');
$r = put($alice, $ch{slack}, { name => 'slack now webhook', type => 'webhook',
    config => { url => "$H/was-slack" } });
status_is($r, 200, '4.20 PUT may change the type');
is($r->{json}{type}, 'webhook', '4.21 the type changed');
err_is(put($bob, $ch{slack}, { name => 'x', type => 'slack',
    config => { webhook_url => $SLACK } }), 404, 'not_found',
    "4.22 another account's channel");
err_is(put($alice, 'chn_nope', { name => 'x' }), 404, 'not_found',
    '4.23 malformed id');
err_is(put($alice, 'chn_' . ('0' x 20), '{"name":'), 404, 'not_found',
    '4.24 404 comes before the body');

# A PUT that keeps a masked secret reads the stored one under the write
# lock: a change committed while it waited for the lock is what it keeps,
# not the copy it would have read before.
{
	my $dir = $ENV{KILN_VAR_DIR};
	$got = get($alice, $ch{webhook})->{json};
	unlink "$dir/locked";
	my $pid = open(my $w, '|-', 'sqlite3', "$dir/kiln.db")
	    or die "sqlite3: $!";
	print $w ".timeout 5000\nBEGIN IMMEDIATE;\n"
	    . "UPDATE channel SET config = json_set(config, '\$.secret',"
	    . " 'whsec_rotated_secret_1') WHERE public_id = '$ch{webhook}';\n"
	    . ".shell touch '$dir/locked'\n.shell sleep 1\nCOMMIT;\n";
	$w->flush;
	my $t = time;
	select(undef, undef, undef, 0.02) until -e "$dir/locked" || time > $t + 5;
	$r = put($alice, $ch{webhook}, { name => 'hook locked', type => 'webhook',
	    config => $got->{config} });
	close $w;
	status_is($r, 200, '4.25 a PUT while another writer holds the lock');
	is(stored_config($ch{webhook})->{secret}, 'whsec_rotated_secret_1',
	    '4.26 keeps the secret committed meanwhile');
	is(sql("SELECT name FROM channel WHERE public_id = '$ch{webhook}'"),
	    'hook locked', '4.27 and applies its own change');
	# Section 6 signs with the secret set in 4.13.
	sql("UPDATE channel SET name = 'hook', config = json_set(config,"
	    . " '\$.secret', 'whsec_test_secret_1') WHERE public_id ="
	    . " '$ch{webhook}'");
}

# --- 5. tier, role, authentication, methods ------------------------------------

$r = create($carol, { name => 'x', type => 'slack', config => { webhook_url => $SLACK } });
err_is($r, 402, 'pro_required', '5.1 create on the free plan');
is($r->{json}{upgrade_url}, 'http://kiln.test/billing', '5.2 upgrade_url');
err_is(put($carol, $ch{email}, { name => 'x' }), 402, 'pro_required',
    '5.3 PUT on the free plan (402, not 404)');
err_is(del($carol, $ch{email}), 402, 'pro_required', '5.4 DELETE on the free plan');
err_is(test($carol, $ch{email}), 402, 'pro_required', '5.5 test on the free plan');
err_is(test($carol, 'bogus'), 402, 'pro_required', '5.6 402 before the id check');
sql("UPDATE user SET role = 'member' WHERE email = 'bob\@example.com'");
err_is(create($bob, { name => 'x', type => 'slack', config => { webhook_url => $SLACK } }),
    403, 'forbidden', '5.7 a member may not create');
err_is(put($bob, $bob_ch, { name => 'x', type => 'webhook', config => { url => "$H/bob" } }),
    403, 'forbidden', '5.8 a member may not update');
status_is(get($bob, $bob_ch), 200, '5.9 a member may read');
status_is(test($bob, $bob_ch), 200, '5.10 a member may test (Pro, not Admin)');
sql("UPDATE user SET role = 'owner' WHERE email = 'bob\@example.com'");
err_is(req('GET', '/api/v1/channels'), 401, 'unauthorized', '5.11 no token');
my $srv = create_server($alice, name => 'web-1')->{server};
err_is(req('GET', '/api/v1/channels', token => $srv->{api_key}), 403,
    'insufficient_scope', '5.12 a collector key');
$r = req('PATCH', "/api/v1/channels/$ch{email}", token => $alice);
err_is($r, 405, 'method_not_allowed', '5.13 PATCH a channel');
is($r->{headers}{allow}, 'GET, PUT, DELETE', '5.14 Allow');
$r = req('GET', "/api/v1/channels/$ch{email}/test", token => $alice);
err_is($r, 405, 'method_not_allowed', '5.15 GET the test');
is($r->{headers}{allow}, 'POST', '5.16 Allow: POST');
$r = req('DELETE', '/api/v1/channels', token => $alice);
is($r->{headers}{allow}, 'GET, POST', '5.17 Allow on the collection');
err_is(req('POST', "/api/v1/channels/$ch{email}/test/now", token => $alice),
    404, 'not_found', '5.18 no deeper paths');
err_is(req('POST', "/api/v1/channels/$ch{email}/send", token => $alice),
    404, 'not_found', '5.19 no other actions');
{
	local $ENV{KILN_MAX_CHANNELS} = 9;
	$r = create($alice, { name => 'ninth', type => 'slack',
	    config => { webhook_url => $SLACK } });
	status_is($r, 201, '5.20 the ninth channel fits a limit of 9');
	err_is(create($alice, { name => 'tenth', type => 'slack',
	    config => { webhook_url => $SLACK } }), 409, 'channel_limit_reached',
	    '5.21 the tenth does not');
	del($alice, $r->{json}{channel}{id});
}

# --- 6. test, per type, to the loopback peers --------------------------------

# Alice tests more than 10 times an hour here; section 9 has the limit.
$ENV{KILN_RATE_CHANNEL_TEST} = 1000;

put($alice, $ch{telegram}, { name => 'tg', type => 'telegram', config =>
    { bot_token => $TG_TOKEN, chat_id => '-100123' } });
put($alice, $ch{discord}, { name => 'discord', type => 'discord',
    config => { webhook_url => "$H/discord/api/webhooks/1/tok" } });
put($alice, $ch{pagerduty}, { name => 'pager', type => 'pagerduty',
    config => { routing_key => $PD_KEY } });
my $slack2 = create($alice, { name => 'slack', type => 'slack',
    config => { webhook_url => "$H/slack/T0/B0/secretpath" } })->{json}{channel}{id};
stub_rule($http, path => '/hook', secret => 'whsec_test_secret_1');

sub test_ok {
	my ($id, $name) = @_;
	my $r = test($alice, $id);
	my $j = $r->{json} || {};
	ok($r->{status} == 200 && ($j->{success} // 0) == 1
	    && ($j->{status} // 0) >= 200 && ($j->{status} // 0) < 300
	    && defined $j->{duration_ms} && $j->{duration_ms} >= 0, $name)
	    or diag($r->{raw});
	return $r;
}

$r = test_ok($ch{telegram}, '6.1 test telegram: 200 {success, status, duration_ms}');
is_deeply([sort keys %{ $r->{json} }], [qw(duration_ms status success)],
    '6.2 exactly those fields');
my ($tg) = @{ records($http, '/tg/') };
is($tg->{path}, "/tg/bot$TG_TOKEN/sendMessage", '6.3 POST <base>/bot<token>/sendMessage');
my $tgb = eval { decode_json($tg->{body}) } || {};
is($tgb->{chat_id}, '-100123', '6.4 chat_id');
like($tgb->{text} // '', qr/test/i, '6.5 a test text');
is($tg->{headers}{'content-type'}, 'application/json', '6.6 JSON');

test_ok($slack2, '6.7 test slack');
my ($sl) = @{ records($http, '/slack/') };
is($sl->{path}, '/slack/T0/B0/secretpath', '6.8 the webhook URL as stored');
like((eval { decode_json($sl->{body}) } || {})->{text} // '', qr/test/i,
    '6.9 a slack {text}');

test_ok($ch{discord}, '6.10 test discord');
my ($dc) = @{ records($http, '/discord/') };
my $dcb = eval { decode_json($dc->{body}) } || {};
ok(ref $dcb->{embeds} eq 'ARRAY' && @{ $dcb->{embeds} } == 1, '6.11 one embed');
is_deeply($dcb->{allowed_mentions}, { parse => [] }, '6.12 no mentions');

test_ok($ch{pagerduty}, '6.13 test pagerduty');
my @pd = map { eval { decode_json($_->{body}) } || {} } @{ records($http, '/pd/') };
is(scalar @pd, 2, '6.14 two events: trigger, then resolve');
is($pd[0]{event_action}, 'trigger', '6.15 trigger');
is($pd[0]{routing_key}, $PD_KEY, '6.16 routing_key');
is($pd[0]{dedup_key}, "kiln-test:$ch{pagerduty}", '6.17 dedup_key');
is($pd[0]{payload}{severity}, 'info', '6.18 severity info');
is($pd[1]{event_action} . ' ' . $pd[1]{dedup_key}, "resolve kiln-test:$ch{pagerduty}",
    '6.19 the test resolves what it triggered');

test_ok($ch{webhook}, '6.20 test webhook (with secret)');
my ($wh) = @{ records($http, '/hook') };
is($wh->{sig}, 'valid', '6.21 the receiver verified X-Kiln-Signature');
like($wh->{headers}{'x-kiln-signature'} // '', qr/^t=\d+,v1=[0-9a-f]{64}$/,
    '6.22 t=<unix>,v1=<64 hex>');
my $whb = eval { decode_json($wh->{body}) } || {};
is($whb->{event}, 'test', '6.23 event test');
like($whb->{id} // '', qr/^evt_[0-9a-f]{20}$/, '6.24 an event id');
is($wh->{headers}{'x-kiln-event'}, $whb->{id}, '6.25 also in X-Kiln-Event');
is($whb->{channel}{id}, $ch{webhook}, '6.26 the channel');
ok(exists $whb->{alert} && !defined $whb->{alert}, '6.27 alert null in a test');

test_ok($ch{email}, '6.28 test email');
my @mail = @{ records($smtp) };
is(scalar @mail, 1, '6.29 one message at the SMTP server');
is_deeply($mail[0]{rcpt}, ['ops@example.com', 'b@example.org'],
    '6.30 to every recipient');
is($mail[0]{from}, 'alerts@kiln.test', '6.31 envelope from mail_from');
my $data = $mail[0]{data} // '';
like($data, qr/^From: Kiln Alerts <alerts\@kiln\.test>\r$/m, '6.32 From:');
like($data, qr/^To: ops\@example\.com,\r\n b\@example\.org\r$/m, '6.33 To:');
like($data, qr/^Subject: \[Kiln\] Test notification \(mail\)\r$/m, '6.34 Subject:');
like($data, qr/^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r$/m,
    '6.35 Date: RFC 5322');
like($data, qr/^Message-ID: <[0-9a-f]{20}\.\d+\@kiln\.test>\r$/m, '6.36 Message-ID:');
like($data, qr/^Content-Type: text\/plain; charset=utf-8\r$/m, '6.37 Content-Type');

$r = get($alice, $ch{email});
is($r->{json}{last_attempt}{success}, JSON::PP::true, '6.38 last_attempt success');
is($r->{json}{last_attempt}{status}, 250, '6.39 ... with the SMTP code');
is(sql("SELECT count(*) FROM notify_attempt WHERE delivery_id IS NULL"
    . " AND ok = 1"), 7, '6.40 every test attempt is logged');

# --- 7. test failures ---------------------------------------------------------

stub_rule($http, path => '/fail', status => 500);
my $fail = create($alice, { name => 'failing', type => 'webhook',
    config => { url => "$H/fail" } })->{json}{channel}{id};
$r = test($alice, $fail);
err_is($r, 502, 'delivery_failed', '7.1 a 500 is 502 delivery_failed');
like($r->{json}{message} // '', qr/HTTP 500/, '7.2 the message has the upstream status');
is($r->{json}{upstream}{status}, 500, '7.3 upstream.status');
like($r->{json}{upstream}{error} // '', qr/^HTTP 500/, '7.4 upstream.error');
$r = get($alice, $fail);
is($r->{json}{last_attempt}{success}, JSON::PP::false, '7.5 last_attempt failed');
is($r->{json}{last_attempt}{status}, 500, '7.6 ... 500');

my $down = create($alice, { name => 'down', type => 'slack',
    config => { webhook_url => 'http://127.0.0.1:' . closed_port() . '/x' } })
    ->{json}{channel}{id};
$r = test($alice, $down);
err_is($r, 502, 'delivery_failed', '7.7 a receiver that is down');
ok(!defined $r->{json}{upstream}{status}, '7.8 upstream.status null');
like($r->{json}{message} // '', qr/connect/i, '7.9 the curl error in the message');

stub_rule($http, path => '/moved', status => 302);
my $moved = create($alice, { name => 'moved', type => 'webhook',
    config => { url => "$H/moved" } })->{json}{channel}{id};
$r = test($alice, $moved);
err_is($r, 502, 'delivery_failed', '7.10 a redirect is not followed');
like($r->{json}{message} // '', qr/redirect/, '7.11 ... and says so');

my $local = create($alice, { name => 'local', type => 'webhook',
    config => { url => "http://localhost:$http->{port}/private" } })
    ->{json}{channel}{id};
{
	local $ENV{KILN_ALLOW_PRIVATE_TARGETS} = 'no';
	$r = test($alice, $local);
	err_is($r, 502, 'delivery_failed',
	    '7.12 a name resolving to loopback is refused');
	like($r->{json}{message} // '', qr/refused: localhost resolves to .*loopback/,
	    '7.13 ... after resolution, saying why');
	local $ENV{KILN_ALLOW_HTTP} = 'no';
	$r = test($alice, $fail);
	err_is($r, 502, 'delivery_failed', '7.14 http:// refused at send time');
	like($r->{json}{message} // '', qr/https/, '7.15 ... saying https');
}
is(scalar @{ records($http, '/private') }, 0, '7.16 nothing reached the stub');
status_is(test($alice, $local), 200, '7.17 allowed when allow_private_targets is on');

my $rejected = create($alice, { name => 'rejected', type => 'email',
    config => { recipients => ['reject@example.com'] } })->{json}{channel}{id};
$r = test($alice, $rejected);
err_is($r, 502, 'delivery_failed', '7.18 an SMTP refusal');
like($r->{json}{message} // '', qr/SMTP 550|RCPT/, '7.19 the SMTP error');
{
	local $ENV{KILN_SMTP_URL} = 'smtp://127.0.0.1:' . closed_port();
	err_is(test($alice, $ch{email}), 502, 'delivery_failed',
	    '7.20 an SMTP relay that is down');
}

# --- 8. delete -------------------------------------------------------------------

$r = del($alice, $down);
status_is($r, 200, '8.1 DELETE');
is_deeply($r->{json}, { success => JSON::PP::true, deleted => $down },
    '8.2 {success, deleted}');
err_is(get($alice, $down), 404, 'not_found', '8.3 gone');
err_is(del($alice, $down), 404, 'not_found', '8.4 deleting again');
err_is(del($bob, $fail), 404, 'not_found', "8.5 another account's");
is(sql("SELECT count(*) FROM channel WHERE public_id = '$fail'"), 1,
    '8.6 ... untouched');
is(sql("SELECT count(*) FROM notify_attempt WHERE channel_id NOT IN"
    . " (SELECT id FROM channel)"), 0, "8.7 its attempts went with it");

# --- 9. the test limit: 10 per hour per account ---------------------------------

delete $ENV{KILN_RATE_CHANNEL_TEST};
my $erin_ch = create($erin, { name => 'erin', type => 'webhook',
    config => { url => "$H/erin" } })->{json}{channel}{id};
my $n_ok = 0;
$n_ok += test($erin, $erin_ch)->{status} == 200 for 1 .. 10;
is($n_ok, 10, '9.1 ten tests in a row');
$r = test($erin, $erin_ch);
err_is($r, 429, 'rate_limited', '9.2 the eleventh is limited');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, '9.3 with Retry-After');
is(scalar @{ records($http, '/erin') }, 10, '9.4 ten reached the receiver');
status_is(test($bob, $bob_ch), 200, "9.5 another account's budget is its own");

# --- 10. the processes -----------------------------------------------------------

ok(!@bad_exits, '10.1 every kiln-channels run exited 0')
    or diag(join "\n", @bad_exits);

done_testing();
