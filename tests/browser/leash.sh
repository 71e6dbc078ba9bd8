#!/bin/sh
# Runs a program for the browser test and stops it once the test's
# process (LEASH_PID) is gone, even when that was killed with SIGKILL:
# lighttpd and chromium never outlive a test run.
# usage: LEASH_PID=<pid> leash.sh PROGRAM [ARGS...]
"$@" &
child=$!
(
	while kill -0 "$LEASH_PID" 2>/dev/null; do
		sleep 1
	done
	kill "$child" 2>/dev/null
) &
watcher=$!
trap 'kill "$child" 2>/dev/null' TERM INT HUP
wait "$child"
status=$?
# A trapped signal interrupts wait while the child is still stopping.
if kill -0 "$child" 2>/dev/null; then
	wait "$child"
	status=$?
fi
kill "$watcher" 2>/dev/null
exit "$status"
