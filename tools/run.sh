#!/bin/sh
# `make run`: migrate the database and serve the API and the dashboard
# through lighttpd in the foreground until Ctrl-C.
set -eu
root=$(pwd)
export KILN_ROOT="$root"
export KILN_VAR_DIR="${KILN_VAR_DIR:-$root/var}"
export KILN_LISTEN="${KILN_LISTEN:-127.0.0.1}"
export KILN_PORT="${KILN_PORT:-8080}"
export KILN_BASE_URL="${KILN_BASE_URL:-http://$KILN_LISTEN:$KILN_PORT}"
mkdir -p "$KILN_VAR_DIR/run"
"$root/bin/kiln-migrate"
echo "kiln: serving $KILN_BASE_URL (Ctrl-C stops)"
exec lighttpd -D -f "$root/build/lighttpd.conf"
