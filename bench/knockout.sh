#!/bin/sh
# bench/knockout.sh: what limits ingest. Builds this repository's HEAD
# in worktrees, as it is and with each patch of bench/knockout/ (each
# takes a part of a push out: the alerts' state, the rule pass, the
# parse, the storage), and runs the ingest benchmarks of bench/run.sh on
# each, with enough servers that no key repeats when a push does less.
# Prints each one's throughput, ratio to the hello and CPU per push.
#   sh bench/knockout.sh [seconds, default 10]
# A patch that no longer applies or builds is reported and skipped.
# Not part of `make test`; the patched builds are for measuring only.
set -eu
secs=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
cleanup() {
	for wt in "$tmp"/wt-*; do
		[ -d "$wt" ] && git -C "$root" worktree remove --force "$wt" ||
		    true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export BENCH_ONLY="ingest-first ingest-steady"
export BENCH_SERVERS="${BENCH_SERVERS:-$((secs * 20000))}"

for variant in all-of-it "$root"/bench/knockout/*.patch; do
	name=$(basename "$variant" .patch)
	wt="$tmp/wt-$name"
	git -C "$root" worktree add -q --detach "$wt" HEAD
	if [ "$name" != all-of-it ] &&
	    ! git -C "$wt" apply "$variant" 2>"$tmp/$name.apply"; then
		echo "$name: does not apply to HEAD, skipped" >&2
		cat "$tmp/$name.apply" >&2
		continue
	fi
	# Its output only when it fails (npm warns about this machine's
	# configuration on every build).
	if ! make -C "$wt" --no-print-directory all bench-progs \
	    >"$tmp/$name.build" 2>&1; then
		echo "$name: does not build, skipped" >&2
		grep 'error:' "$tmp/$name.build" >&2 || true
		continue
	fi
	if ! sh "$wt/bench/run.sh" "$secs" 8 >"$tmp/$name.out" 2>&1; then
		echo "$name: bench/run.sh failed, skipped" >&2
		cat "$tmp/$name.out" >&2
		continue
	fi
	# Answers other than 200 (a 429 when keys run out) show, as does
	# bench/run.sh's warning of a locked database.
	awk -v name="$name" '
	    / req\/s / && $1 != "hello" {
		cpu = $0; sub(/.*cpu /, "", cpu); sub(/ us\/req.*/, "", cpu)
		printf "%-20s %-14s %7.0f req/s  ratio %s  non-2xx %s  " \
		    "cpu %4s us/push\n", name, $1, $2, $9, $11, cpu }
	    /database was locked/ { print name ": " $0 }' "$tmp/$name.out"
done
