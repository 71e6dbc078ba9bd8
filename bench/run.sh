#!/bin/sh
# bench/run.sh: throughput and latency of Kiln's hot endpoints through a
# real lighttpd, each as a ratio to a trivial FastCGI hello served by the
# same lighttpd in the same run (the stack's ceiling on this machine).
#   sh bench/run.sh [seconds per run, default 10] [connections, default 8]
# Not part of `make test`. Needs wrk (Debian package).
set -eu
secs=${1:-10}
conns=${2:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v wrk >/dev/null || { echo "bench: apt-get install wrk" >&2; exit 1; }
# The build's output only when it fails (npm warns about this machine's
# configuration on every build).
build=$(make --no-print-directory all bench-progs 2>&1) ||
    { echo "$build" >&2; exit 1; }

tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/root" "$tmp/var/run"
ln -s "$root/bin" "$tmp/root/bin"
ln -s "$root/www" "$tmp/root/www"
export KILN_ROOT="$tmp/root" KILN_VAR_DIR="$tmp/var" KILN_LISTEN=127.0.0.1
export KILN_PORT=$port KILN_BASE_URL="http://127.0.0.1:$port"
export KILN_CONFIG=/dev/null KILN_KEY_PEPPER=bench-pepper
# The load comes from one address with one token: lift those buckets.
export KILN_RATE_IP=100000000 KILN_RATE_INGEST_IP=100000000
export KILN_RATE_KEY=100000000 KILN_RATE_ACCOUNT=100000000
export KILN_LOG_LEVEL=warning
{
	cat "$root/build/lighttpd.conf"
	cat <<CONF
fastcgi.server += ( "/hello" => ((
    "socket" => var.kiln_var + "/run/hello.sock",
    "bin-path" => "$root/build/bench/hello",
    "check-local" => "disable",
    "max-procs" => 2,
)) )
CONF
} > "$tmp/lighttpd.conf"
# BENCH_INGEST_PROCS=N: ingest processes other than routes/table's.
[ -n "${BENCH_INGEST_PROCS:-}" ] && sed -i "/ingest.sock/,/max-procs/s/\
\"max-procs\" => [0-9]*/\"max-procs\" => $BENCH_INGEST_PROCS/" \
    "$tmp/lighttpd.conf"
bin/kiln-migrate >/dev/null 2>&1
lighttpd -D -f "$tmp/lighttpd.conf" 2>"$tmp/lighttpd.err" &
lpid=$!
trap 'kill $lpid 2>/dev/null; wait $lpid 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
for i in $(seq 50); do
	curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/healthz" && break
	sleep 0.1
done
base="http://127.0.0.1:$port/api/v1"
token=$(curl -s -X POST -H 'Content-Type: application/json' \
    -d '{"email":"bench@example.com","password":"bench password 1","name":"Bench"}' \
    "$base/auth/register" | sed 's/.*"token":"\([^"]*\)".*/\1/')
bin/kiln-admin plan bench@example.com pro >/dev/null
# Enough distinct keys that none repeats within one ingest run (up to
# 6 000 pushes a second; BENCH_SERVERS=N for more).
build/bench/mkservers bench@example.com "${BENCH_SERVERS:-$((secs * 6000))}" \
    > "$tmp/keys.txt"
server=$(head -n 1 "$tmp/keys.txt" | cut -d' ' -f1)
# BENCH_KEY_ORDER=random: the servers push in random order, as a real
# fleet does, instead of in the order they were made (neighbours in
# every table, so a batch of pushes shares pages).
if [ "${BENCH_KEY_ORDER:-}" = random ]; then
	tail -n +2 "$tmp/keys.txt" | shuf > "$tmp/ingest-keys.txt"
else
	tail -n +2 "$tmp/keys.txt" > "$tmp/ingest-keys.txt"
fi

# 7 days of 1-minute history for the first server, with its roll-ups.
now=$(date +%s)
sqlite3 "$tmp/var/kiln.db" <<SQL
WITH RECURSIVE t(ts) AS (SELECT $now - 7 * 86400 UNION ALL
    SELECT ts + 60 FROM t WHERE ts + 60 < $now)
INSERT INTO metric (server_id, ts, cpu, ram, disk, rx_mbps, tx_mbps, temp)
SELECT (SELECT id FROM server WHERE public_id = '$server'), ts,
    50 + 40 * sin(ts / 3600.0), 60 + (ts % 97) / 10.0, 40 + ts % 7,
    ts % 1000 / 10.0, ts % 500 / 10.0, 45 + ts % 20 FROM t;
INSERT INTO metric_hour (server_id, bucket, cpu_n, cpu_sum, cpu_min, cpu_max)
SELECT server_id, ts - ts % 3600, count(*), sum(cpu), min(cpu), max(cpu)
    FROM metric GROUP BY server_id, ts - ts % 3600;
UPDATE server SET last_seen_at = $now WHERE public_id = '$server';
SQL
week_ago=$(date -u -d "@$((now - 7 * 86400))" +%Y-%m-%dT%H:%M:%SZ)
day_ago=$(date -u -d "@$((now - 86400))" +%Y-%m-%dT%H:%M:%SZ)

# CPU seconds used so far by the processes lighttpd runs (the routes
# and the hello), in clock ticks.
children_ticks() {
	t=0
	for pid in $(pgrep -P "$lpid"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" \
		    2>/dev/null || echo 0)))
	done
	echo "$t"
}
hz=$(getconf CLK_TCK)

# run NAME URL [wrk args...]: prints NAME req/s p50 p99 non-2xx and the
# route's CPU time per request (only one route is busy at a time, so the
# children's CPU time over the run is that route's; unlike throughput it
# hardly moves when other work shares the machine).
# BENCH_ONLY="hello ingest-first ..." runs just those (hello is the ceiling
# and always runs).
run() {
	name=$1 url=$2
	shift 2
	case " hello ${BENCH_ONLY:-$name} " in *" $name "*) ;; *) return 0 ;; esac
	before=$(children_ticks)
	wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" "$url" > "$tmp/$name.out" 2>&1 ||
	    { cat "$tmp/$name.out" >&2; exit 1; }
	ticks=$(($(children_ticks) - before))
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/$name.out")
	p50=$(awk '$1 == "50%" { print $2 }' "$tmp/$name.out")
	p99=$(awk '$1 == "99%" { print $2 }' "$tmp/$name.out")
	bad=$(awk '/Non-2xx/ { print $5 }' "$tmp/$name.out")
	n=$(awk '/requests in/ { print $1 }' "$tmp/$name.out")
	cpu=$(awk -v t="$ticks" -v hz="$hz" -v n="$n" \
	    'BEGIN { printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0) }')
	echo "$name $rps $p50 $p99 ${bad:-0} $cpu" >> "$tmp/results"
}
auth="Authorization: Bearer $token"
run hello "http://127.0.0.1:$port/hello"
# The same hello, sent the snapshot as a POST: the stack's own cost of
# carrying an ingest request, before Kiln does anything with it.
BENCH_KEYS="$tmp/ingest-keys.txt" BENCH_THREADS=2 BENCH_PATH=/hello \
BENCH_BODY="$root/tests/fixtures/snapshot-debian12-vm.json" \
    run hello-post "http://127.0.0.1:$port/hello" -s bench/ingest.lua
# Each server's first push opens its five alerts; a later push only
# refreshes them: the steady state of a fleet. The second run starts
# over the same keys once the 55 s gate has passed for them.
BENCH_KEYS="$tmp/ingest-keys.txt" BENCH_THREADS=2 \
BENCH_BODY="$root/tests/fixtures/snapshot-debian12-vm.json" \
    run ingest-first "$base/ingest" -s bench/ingest.lua
case " ${BENCH_ONLY:-ingest-steady} " in *" ingest-steady "*) sleep 56 ;; esac
BENCH_KEYS="$tmp/ingest-keys.txt" BENCH_THREADS=2 \
BENCH_BODY="$root/tests/fixtures/snapshot-debian12-vm.json" \
    run ingest-steady "$base/ingest" -s bench/ingest.lua
run health "$base/servers/$server/health" -H "$auth"
run history-7d-1h "$base/servers/$server/health/history?metric=cpu&from=$week_ago&resolution=1h" -H "$auth"
run history-24h-5m "$base/servers/$server/health/history?metric=cpu&from=$day_ago&resolution=5m" -H "$auth"
run servers-list "$base/servers?limit=20" -H "$auth"

points=$(curl -s -H "$auth" "$base/servers/$server/health/history?metric=cpu&from=$week_ago&resolution=1h" | grep -o '"t":' | wc -l)
echo "history 7 d at 1h: $points points"
echo "connections: $conns, ${secs}s per endpoint"
awk 'NR == 1 { ceiling = $2 }
     { printf "%-16s %10.0f req/s  p50 %-9s p99 %-9s ratio %.2f  " \
       "non-2xx %s  cpu %s us/req\n", $1, $2, $3, $4, $2 / ceiling, $5, $6 }' \
    "$tmp/results"
grep -i 'database is locked' "$tmp/lighttpd.err" && echo "bench: database was locked" || true
