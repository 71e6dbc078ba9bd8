#!/bin/sh
# Installs the Debian packages named as arguments that are missing: with
# apt-get when run as root, otherwise prints the exact command and fails.
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq $missing
	exit $?
fi
echo "deps: missing Debian packages. Run:" >&2
echo "  sudo apt-get install -y$missing" >&2
exit 1
