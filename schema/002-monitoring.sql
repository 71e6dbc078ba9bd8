-- Monitoring core: snapshots, metrics, roll-ups, alerts, mutes, outbox.
-- Times are Unix seconds UTC unless the column says _ms.

-- Ingest bookkeeping on the server: the cadence and the per-server gate.
ALTER TABLE server ADD COLUMN last_ingest_ms INTEGER;	-- last stored push
ALTER TABLE server ADD COLUMN interval_s REAL;		-- smoothed cadence
ALTER TABLE server ADD COLUMN uptime_s INTEGER;		-- as last reported
ALTER TABLE server ADD COLUMN disk_health TEXT;		-- worst drive state
ALTER TABLE server ADD COLUMN offline_since INTEGER;	-- set by the watchdog

-- One snapshot as the agent sent it. The latest per server is always
-- kept; older ones for raw_retention (24 h by default).
CREATE TABLE snapshot_raw (
	id INTEGER PRIMARY KEY,
	server_id INTEGER NOT NULL REFERENCES server(id) ON DELETE CASCADE,
	ts_ms INTEGER NOT NULL,				-- received at
	body TEXT NOT NULL
) STRICT;
CREATE INDEX snapshot_raw_server ON snapshot_raw(server_id, ts_ms);

-- One snapshot's derived numbers, kept 90 days for history. NULL is
-- "not measured". A history query reads only this table or the roll-ups.
CREATE TABLE metric (
	server_id INTEGER NOT NULL REFERENCES server(id) ON DELETE CASCADE,
	ts INTEGER NOT NULL,
	cpu REAL,			-- 100 - idle, %
	iowait REAL,			-- %
	load1 REAL,
	ram REAL,			-- used, % of total
	swap_mb REAL,			-- swap used
	disk REAL,			-- fullest filesystem, % used
	rx_mbps REAL,			-- all interfaces, Mbit/s
	tx_mbps REAL,
	temp REAL,			-- hottest CPU reading, degrees C
	gpu_util REAL,			-- busiest GPU, %
	gpu_temp REAL,			-- hottest GPU, degrees C
	ecc_corr REAL,			-- correctable ECC errors as reported
	PRIMARY KEY (server_id, ts)
) STRICT, WITHOUT ROWID;

-- One hour (or day) of one metric of one server: kept a year.
CREATE TABLE metric_rollup (
	server_id INTEGER NOT NULL REFERENCES server(id) ON DELETE CASCADE,
	metric TEXT NOT NULL,		-- cpu, memory, disk, rx, tx, temperature
	bucket INTEGER NOT NULL,	-- start of the hour, Unix seconds
	n INTEGER NOT NULL,		-- samples
	sum REAL NOT NULL,
	min REAL NOT NULL,
	max REAL NOT NULL,
	PRIMARY KEY (server_id, metric, bucket)
) STRICT, WITHOUT ROWID;

-- One filesystem's free space at one snapshot (for fill projection), 7 days.
CREATE TABLE fs_usage (
	server_id INTEGER NOT NULL REFERENCES server(id) ON DELETE CASCADE,
	mount TEXT NOT NULL,
	ts INTEGER NOT NULL,
	avail_gb REAL NOT NULL,
	total_gb REAL NOT NULL,
	PRIMARY KEY (server_id, mount, ts)
) STRICT, WITHOUT ROWID;

-- One alert: a rule firing on a server, open until resolved.
CREATE TABLE alert (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,			-- "alr_..."
	server_id INTEGER NOT NULL REFERENCES server(id) ON DELETE CASCADE,
	rule TEXT NOT NULL,				-- rule id = alert_type
	kind TEXT NOT NULL CHECK (kind IN ('state', 'event')),
	severity TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
	title TEXT NOT NULL,
	message TEXT NOT NULL,
	evidence TEXT NOT NULL DEFAULT '{}',		-- JSON
	status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
	occurrences INTEGER NOT NULL DEFAULT 1,
	opened_at INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	acknowledged_at INTEGER,			-- current occurrence
	acknowledged_by INTEGER REFERENCES user(id) ON DELETE SET NULL,
	resolved_at INTEGER,
	resolve_reason TEXT				-- cleared, manual, ttl_expired, muted
) STRICT;
-- At most one open alert per (server, rule).
CREATE UNIQUE INDEX alert_open ON alert(server_id, rule) WHERE status = 'open';
CREATE INDEX alert_server_time ON alert(server_id, opened_at);
CREATE INDEX alert_open_events ON alert(kind, last_seen_at) WHERE status = 'open';

-- One occurrence of an event rule already counted (SEL entry, boot...).
CREATE TABLE alert_occurrence (
	server_id INTEGER NOT NULL REFERENCES server(id) ON DELETE CASCADE,
	rule TEXT NOT NULL,
	key TEXT NOT NULL,
	seen_at INTEGER NOT NULL,
	PRIMARY KEY (server_id, rule, key)
) STRICT, WITHOUT ROWID;

-- One muted rule of one server.
CREATE TABLE mute (
	server_id INTEGER NOT NULL REFERENCES server(id) ON DELETE CASCADE,
	rule TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (server_id, rule)
) STRICT, WITHOUT ROWID;

-- One alert change waiting for delivery to the account's channels,
-- written in the same transaction as the change (the notify job sends).
CREATE TABLE notify_outbox (
	id INTEGER PRIMARY KEY,
	alert_id INTEGER NOT NULL REFERENCES alert(id) ON DELETE CASCADE,
	event TEXT NOT NULL CHECK (event IN ('firing', 'resolved')),
	created_at INTEGER NOT NULL,
	done_at INTEGER					-- all channels handled
) STRICT;
CREATE INDEX notify_outbox_pending ON notify_outbox(id) WHERE done_at IS NULL;
