#!/usr/bin/perl
# browser: the dashboard end to end in headless Chromium, through a real
# lighttpd. The walk-through is tests/browser/dashboard.mjs (Node, with
# playwright-core from npm); this passes its TAP through to prove.
use strict;
use warnings;
use FindBin;

my $script = "$FindBin::Bin/browser/dashboard.mjs";
my ($node) = grep { -x } map { "$_/node" } split(/:/, $ENV{PATH} || '');
if (!$node) {
	print "1..0 # SKIP node is not installed\n";
	exit 0;
}
exec $node, $script or die "exec $node: $!\n";
