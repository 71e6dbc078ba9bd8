#!/bin/sh
# Does a route process grow? Serves the API through lighttpd on a free
# loopback port with ONE kiln-servers process, drives authenticated
# GET /api/v1/servers at it with wrk (or curl), and prints that
# process's VmRSS after WARMUP requests and after TOTAL requests.
# usage: bench/rss.sh            (after `make all`; not part of make test)
# env:   KILN_BIN (default bin/), TABLE (default routes/table),
#        WARMUP=1000, TOTAL=100000, THREADS=2, CONNS=8
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${KILN_BIN:-$root/bin}
warmup=${WARMUP:-1000}
total=${TOTAL:-100000}
threads=${THREADS:-2}
conns=${CONNS:-8}
table=${TABLE:-routes/table}

command -v lighttpd >/dev/null || PATH=$PATH:/usr/sbin
for tool in lighttpd curl perl; do
	command -v $tool >/dev/null ||
	    { echo "rss.sh: needs $tool" >&2; exit 2; }
done
command -v wrk >/dev/null || echo "rss.sh: no wrk (apt-get install wrk);" \
    "falling back to curl, which is slower and measures curl" >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-rss-XXXXXX")
lpid=
wpid=
cleanup() {
	[ -n "$wpid" ] && kill "$wpid" 2>/dev/null
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null && wait "$lpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The generated configuration, from a route table giving servers 1 process.
sed 's/^\(\/servers[^[:space:]]*[[:space:]]*servers[[:space:]]*\)[0-9][0-9]*$/\11/' \
    "$table" > "$tmp/table"
sh tools/gen-webconf.sh lighttpd "$tmp/table" > "$tmp/lighttpd.conf"
grep -A4 '"/kiln-fcgi/servers"' "$tmp/lighttpd.conf" |
    grep -q '"max-procs" => 1,' ||
    { echo "rss.sh: servers is not down to one process" >&2; exit 1; }

mkdir -p "$tmp/root" "$tmp/var/run"
ln -s "$bin" "$tmp/root/bin"
port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(
    LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport')
base=http://127.0.0.1:$port
export KILN_ROOT="$tmp/root" KILN_VAR_DIR="$tmp/var" KILN_CONFIG=/dev/null \
    KILN_LISTEN=127.0.0.1 KILN_PORT="$port" KILN_BASE_URL="$base" \
    KILN_KEY_PEPPER=bench-pepper KILN_RATE_IP=1000000000 \
    KILN_RATE_KEY=1000000000 KILN_RATE_ACCOUNT=1000000000 \
    KILN_RATE_REGISTER=1000
"$bin/kiln-migrate" >/dev/null 2>&1
lighttpd -D -f "$tmp/lighttpd.conf" >"$tmp/lighttpd.log" 2>&1 &
lpid=$!
i=0
until curl -fs -o /dev/null "$base/api/v1/healthz"; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$tmp/lighttpd.log" >&2; exit 1; }
	sleep 0.1
done

token=$(curl -fs -H 'Content-Type: application/json' -d '{"email":
    "bench@example.com","password":"correct horse battery","name":"Bench"}' \
    "$base/api/v1/auth/register" |
    perl -MJSON::PP -0ne 'print decode_json($_)->{token}')
for n in 1 2 3; do
	curl -fs -o /dev/null -H "Authorization: Bearer $token" \
	    -H 'Content-Type: application/json' \
	    -d "{\"name\":\"web-$n\",\"tags\":[\"bench\"]}" "$base/api/v1/servers"
done

servers_pid() {
	ps -o pid= -o args= --ppid "$lpid" | awk '/kiln-servers/ { print $1 }'
}
pid=$(servers_pid)
[ "$(echo "$pid" | wc -w)" -eq 1 ] ||
    { echo "rss.sh: expected one kiln-servers, got '$pid'" >&2; exit 1; }
# VmRSS, then its anonymous / file / shared-memory parts (SQLite's WAL
# index is shared memory; its page cache is anonymous).
rss() {
	awk '/^(VmRSS|RssAnon|RssFile|RssShmem)/ { v[$1] = $2 }
	    END { printf "%d kB (anon %d, file %d, shmem %d)", v["VmRSS:"],
	    v["RssAnon:"], v["RssFile:"], v["RssShmem:"] }' "/proc/$pid/status"
}

# wrk has no request count: each thread stops at its share and leaves a
# mark, then SIGINT wakes wrk's main thread, which would sleep out -d.
cat > "$tmp/count.lua" <<EOF
local threads = {}
function setup(t)
	table.insert(threads, t)
	t:set("id", #threads)
	t:set("limit", tonumber(os.getenv("WRK_LIMIT")))
end
function init(args)
	n = 0
	bad = 0
end
function response(status)
	n = n + 1
	if status ~= 200 then bad = bad + 1 end
	if n == limit then
		io.open("$tmp/done-" .. id, "w"):close()
		wrk.thread:stop()
	end
end
function done(summary)
	local sent, nbad = 0, 0
	for _, t in ipairs(threads) do
		sent = sent + t:get("n")
		nbad = nbad + t:get("bad")
	end
	io.write(string.format("RESULT %d %.3f %d\n", sent,
	    summary.duration / 1e6, nbad))
end
EOF

# Sends about $1 requests; prints "requests seconds non200".
drive() {
	rm -f "$tmp"/done-*
	if command -v wrk >/dev/null; then
		WRK_LIMIT=$(( ($1 + threads - 1) / threads )) \
		    wrk -t"$threads" -c"$conns" -d3600s -s "$tmp/count.lua" \
		    -H "Authorization: Bearer $token" "$base/api/v1/servers" \
		    > "$tmp/wrk.out" 2>&1 &
		wpid=$!
		while [ "$(ls "$tmp" | grep -c '^done-')" -lt "$threads" ] &&
		    kill -0 "$wpid" 2>/dev/null; do
			sleep 0.05
		done
		kill -INT "$wpid" 2>/dev/null || true
		wait "$wpid" || true
		wpid=
		awk '/^RESULT/ { print $2, $3, $4 }' "$tmp/wrk.out"
	else
		i=0
		: > "$tmp/curl.cfg"
		while [ $i -lt "$1" ]; do
			printf 'url = "%s"\noutput = /dev/null\n' \
			    "$base/api/v1/servers" >> "$tmp/curl.cfg"
			i=$((i + 1))
		done
		start=$(date +%s.%N)
		curl -s -K "$tmp/curl.cfg" -H "Authorization: Bearer $token" \
		    -w '%{http_code}\n' > "$tmp/codes"
		end=$(date +%s.%N)
		echo "$(wc -l < "$tmp/codes")" \
		    "$(awk "BEGIN { print $end - $start }")" \
		    "$(grep -vc '^200$' "$tmp/codes" || true)"
	fi
}

rss0=$(rss)
set -- $(drive "$warmup")
n1=$1 bad1=$3
rss1=$(rss)
set -- $(drive $((total - n1)))
n2=$1 secs2=$2 bad2=$3
rss2=$(rss)
[ "$(servers_pid)" = "$pid" ] ||
    echo "rss.sh: kiln-servers was restarted during the run" >&2

echo "kiln-servers: one process, pid $pid, $bin/kiln-servers"
printf 'VmRSS at start:            %s\n' "$rss0"
printf 'VmRSS after %-8d reqs:  %s\n' "$n1" "$rss1"
printf 'VmRSS after %-8d reqs:  %s\n' "$((n1 + n2))" "$rss2"
echo "throughput: $n2 requests in $secs2 s =" \
    "$(awk "BEGIN { printf \"%d\", $n2 / $secs2 }") req/s" \
    "($threads threads, $conns connections)"
echo "non-200 responses: $((bad1 + bad2))"
grep -E 'AddressSanitizer|runtime error|database is locked' \
    "$tmp/lighttpd.log" >&2 || true
