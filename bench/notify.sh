#!/bin/sh
# How fast does one run of kiln-cron-notify deliver? Queues N firing
# notifications (one outbox row per alert, as ingest writes them) for an
# account with CHANNELS signed webhook channels pointing at the loopback
# HTTP stub of the tests (tests/peers/http_stub.py), times one run, and
# prints the deliveries per second. Every delivery is checked as sent and
# counted at the receiver.
# usage: bench/notify.sh          (after `make all`; not part of make test)
# env:   KILN_BIN (default bin/), N=2000, CHANNELS=1
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${KILN_BIN:-$root/bin}
n=${N:-2000}
channels=${CHANNELS:-1}

for tool in python3 sqlite3; do
	command -v $tool >/dev/null ||
	    { echo "notify.sh: needs $tool" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-notify-XXXXXX")
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

export KILN_VAR_DIR="$tmp/var" KILN_CONFIG=/dev/null KILN_KEY_PEPPER=bench
export KILN_ALLOW_HTTP=yes KILN_ALLOW_PRIVATE_TARGETS=yes
export KILN_BASE_URL=http://kiln.bench KILN_LOG_LEVEL=warning
mkdir -p "$KILN_VAR_DIR"
"$bin/kiln-migrate" >/dev/null 2>&1

python3 tests/peers/http_stub.py --port-file "$tmp/port" --log "$tmp/log" &
spid=$!
i=0
while [ ! -s "$tmp/port" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "notify.sh: the stub did not start" >&2; exit 1; }
	sleep 0.1
done
port=$(cat "$tmp/port")

now=$(date +%s)
sqlite3 "$KILN_VAR_DIR/kiln.db" <<EOF
PRAGMA foreign_keys = ON;
INSERT INTO account (id, public_id, plan, created_at)
    VALUES (1, 'acc_bench', 'pro', $now);
INSERT INTO server (id, public_id, account_id, name, hostname, key_hash,
    created_at) VALUES (1, 'srv_00000000000000000001', 1, 'bench-1',
    'bench-1.example.com', x'00', $now);
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k
    WHERE i < $channels)
INSERT INTO channel (public_id, account_id, name, type, config, created_at,
    updated_at)
SELECT printf('chn_%020d', i), 1, 'hook ' || i, 'webhook',
    json_object('url', 'http://127.0.0.1:$port/hook/' || i,
    'secret', 'whsec_bench'), $now, $now FROM k;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
INSERT INTO alert (id, public_id, server_id, rule, kind, severity, title,
    message, status, opened_at, last_seen_at, resolved_at)
SELECT i, printf('alr_%020d', i), 1, 'bench_rule', 'state', 'warning',
    'Bench alert ' || i, 'A queued notification.', 'resolved', $now, $now,
    $now FROM k;
INSERT INTO notify_outbox (alert_id, event, created_at)
    SELECT id, 'firing', $now FROM alert;
EOF

start=$(date +%s.%N)
"$bin/kiln-cron-notify"
end=$(date +%s.%N)

jobs=$((n * channels))
sent=$(sqlite3 "$KILN_VAR_DIR/kiln.db" \
    "SELECT count(*) FROM notify_delivery WHERE state = 'sent'")
got=$(wc -l < "$tmp/log")
echo "queued $n notifications x $channels channel(s) = $jobs deliveries"
echo "sent $sent, received $got"
awk -v s="$start" -v e="$end" -v j="$jobs" 'BEGIN {
	printf "one run: %.2f s, %.0f deliveries/s (%.2f ms each)\n",
	    e - s, j / (e - s), (e - s) * 1000 / j }'
[ "$sent" -eq "$jobs" ] && [ "$got" -eq "$jobs" ]
