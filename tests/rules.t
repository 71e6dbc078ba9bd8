#!/bin/sh
# The alert rules against small snapshots and the agent's fixture
# (tests/rules.c).
KILN_FIXTURE="${KILN_FIXTURE:-$(dirname "$0")/fixtures/snapshot-debian12-vm.json}"
export KILN_FIXTURE
exec "${KILN_BUILD:-$(dirname "$0")/../build}/tests/rules"
