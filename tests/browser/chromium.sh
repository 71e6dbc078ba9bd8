#!/bin/sh
# Debian's chromium on the browser test's leash (see leash.sh).
exec sh "$(dirname "$0")/leash.sh" /usr/bin/chromium "$@"
