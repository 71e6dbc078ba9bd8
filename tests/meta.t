#!/usr/bin/perl
# meta: /version, /healthz and the 404 envelope, through kiln-meta as CGI.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use KilnTest;

new_env();

my $r = cgi('meta', 'GET', '/api/v1/version');
is($r->{status}, 200, '1.1 version answers 200');
is($r->{json}{crucible}{min_supported}, '0.7.0', '1.2 min_supported from config');
ok(exists $r->{json}{crucible}{latest}, '1.3 latest present');
like($r->{json}{dashboard}{version}, qr/^\d+\.\d+\.\d+$/, '1.4 dashboard version');
like($r->{headers}{'x-request-id'}, qr/^req_[0-9a-f]{20}$/, '1.5 request id generated');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8', '1.6 content type');
is($r->{headers}{'x-content-type-options'}, 'nosniff', '1.7 nosniff');

$r = cgi('meta', 'GET', '/api/v1/version', headers => { 'X-Request-Id' => 'abc-123' });
is($r->{headers}{'x-request-id'}, 'abc-123', '2.1 sane request id echoed');
$r = cgi('meta', 'GET', '/api/v1/version', headers => { 'X-Request-Id' => "bad id\x01" });
like($r->{headers}{'x-request-id'}, qr/^req_/, '2.2 insane request id replaced');

$r = cgi('meta', 'GET', '/api/v1/healthz');
is($r->{status}, 200, '3.1 healthz 200');
is($r->{json}{status}, 'ok', '3.2 healthz ok');

$r = cgi('meta', 'POST', '/api/v1/version');
is($r->{status}, 405, '4.1 POST version is 405');
is($r->{json}{error}, 'method_not_allowed', '4.2 code');
is($r->{headers}{allow}, 'GET', '4.3 Allow header');

$r = cgi('meta', 'GET', '/api/v1/no/such/thing');
is($r->{status}, 404, '5.1 unknown path 404');
is($r->{json}{error}, 'not_found', '5.2 code');

$ENV{KILN_CRUCIBLE_LATEST} = '0.13.3';
$r = cgi('meta', 'GET', '/api/v1/version');
is($r->{json}{crucible}{latest}, '0.13.3', '6.1 configured latest before any poll');
delete $ENV{KILN_CRUCIBLE_LATEST};

$ENV{KILN_DB_PATH} = '/nonexistent/dir/kiln.db';
$r = cgi('meta', 'GET', '/api/v1/healthz');
is($r->{status}, 503, '7.1 healthz 503 without a database');
like($r->{json}{error}, qr/^\w+$/, '7.2 with the envelope');
delete $ENV{KILN_DB_PATH};

done_testing();
