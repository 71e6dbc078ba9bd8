#!/bin/sh
# The C unit tests of the library (tests/unit.c).
exec "${KILN_BUILD:-$(dirname "$0")/../build}/tests/unit"
