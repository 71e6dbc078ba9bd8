#!/bin/sh
# The C unit tests of the SSRF guard (tests/outbound.c).
exec "${KILN_BUILD:-$(dirname "$0")/../build}/tests/outbound"
