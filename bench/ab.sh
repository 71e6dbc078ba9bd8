#!/bin/sh
# bench/ab.sh: is revision B faster than revision A? One run of
# bench/run.sh moves by 10-15 % from one minute to the next on a shared
# machine, more than most changes; so this builds both revisions in
# worktrees of this repository, runs their benchmarks alternately (A B,
# B A, A B ...), and prints every run and each side's medians.
#   sh bench/ab.sh REV_A REV_B [rounds, default 4] [seconds, default 10]
# BENCH_ONLY defaults to "ingest-first ingest-steady"; it and the other
# BENCH_* settings of bench/run.sh pass through. Not part of `make test`.
set -eu
[ $# -ge 2 ] || { echo "usage: sh bench/ab.sh REV_A REV_B [rounds] [seconds]" >&2; exit 2; }
rounds=${3:-4}
secs=${4:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
cleanup() {
	for side in A B; do
		[ -d "$tmp/$side" ] &&
		    git -C "$root" worktree remove --force "$tmp/$side" || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
export BENCH_ONLY="${BENCH_ONLY:-ingest-first ingest-steady}"

git -C "$root" worktree add -q --detach "$tmp/A" "$1"
git -C "$root" worktree add -q --detach "$tmp/B" "$2"
for side in A B; do
	# Its output only when it fails (npm warns about this machine's
	# configuration on every build).
	make -C "$tmp/$side" --no-print-directory all bench-progs \
	    >"$tmp/$side.build" 2>&1 || { cat "$tmp/$side.build" >&2; exit 1; }
done
# Odd rounds run A first, even rounds B first: when the machine grows
# slower or faster over the runs (it does here, by 30 % in 15 minutes
# at times), neither side always takes the later, different minute. An
# even number of rounds balances the two orders.
for i in $(seq "$rounds"); do
	case $((i % 2)) in 1) order="A B" ;; *) order="B A" ;; esac
	for side in $order; do
		sh "$tmp/$side/bench/run.sh" "$secs" 8 |
		    awk -v side="$side" -v i="$i" '/ req\/s / && $1 != "hello" {
			cpu = $0; sub(/.*cpu /, "", cpu); sub(/ us\/req.*/, "", cpu)
			print side, i, $1, $2, $9, cpu }' | tee -a "$tmp/runs"
	done
done
echo "medians over $rounds rounds (A = $1, B = $2):"
sort -k3,3 -k1,1 "$tmp/runs" | awk '
	function median(list, n,    a, i, j, t) {
		split(list, a, " ")
		for (i = 1; i <= n; i++)
			for (j = i + 1; j <= n; j++)
				if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{
		k = $3 " " $1; n[k]++
		rps[k] = rps[k] " " $4; ratio[k] = ratio[k] " " $5
		cpu[k] = cpu[k] " " $6
	}
	END {
		for (k in n)
			printf "%-16s %8.0f req/s  ratio %.2f  cpu %4.0f us/req\n",
			    k, median(rps[k], n[k]), median(ratio[k], n[k]),
			    median(cpu[k], n[k])
	}' | sort
