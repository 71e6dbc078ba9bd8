-- Ingest: a push writes one row of hourly roll-ups, not six. The roll-ups
-- were a row per (server, metric, hour), so a server with weeks of
-- history kept each metric's current hour on a page of its own, and
-- every push rewrote six pages (and ran six statements: about a fifth
-- of a push's CPU in bench/run.sh). Now one row per (server, hour)
-- holds every charted metric. A metric with no sample in the hour has
-- n = 0, sum 0 and NULL min and max.
CREATE TABLE metric_hour (
	server_id INTEGER NOT NULL REFERENCES server(id) ON DELETE CASCADE,
	bucket INTEGER NOT NULL,	-- start of the hour, Unix seconds
	cpu_n INTEGER NOT NULL DEFAULT 0,	-- samples
	cpu_sum REAL NOT NULL DEFAULT 0,
	cpu_min REAL,
	cpu_max REAL,
	memory_n INTEGER NOT NULL DEFAULT 0,
	memory_sum REAL NOT NULL DEFAULT 0,
	memory_min REAL,
	memory_max REAL,
	disk_n INTEGER NOT NULL DEFAULT 0,
	disk_sum REAL NOT NULL DEFAULT 0,
	disk_min REAL,
	disk_max REAL,
	rx_n INTEGER NOT NULL DEFAULT 0,
	rx_sum REAL NOT NULL DEFAULT 0,
	rx_min REAL,
	rx_max REAL,
	tx_n INTEGER NOT NULL DEFAULT 0,
	tx_sum REAL NOT NULL DEFAULT 0,
	tx_min REAL,
	tx_max REAL,
	temperature_n INTEGER NOT NULL DEFAULT 0,
	temperature_sum REAL NOT NULL DEFAULT 0,
	temperature_min REAL,
	temperature_max REAL,
	PRIMARY KEY (server_id, bucket)
) STRICT, WITHOUT ROWID;

INSERT INTO metric_hour (server_id, bucket,
    cpu_n, cpu_sum, cpu_min, cpu_max, memory_n, memory_sum, memory_min,
    memory_max, disk_n, disk_sum, disk_min, disk_max, rx_n, rx_sum,
    rx_min, rx_max, tx_n, tx_sum, tx_min, tx_max, temperature_n,
    temperature_sum, temperature_min, temperature_max)
SELECT server_id, bucket,
    coalesce(sum(n) FILTER (WHERE metric = 'cpu'), 0),
    coalesce(sum(sum) FILTER (WHERE metric = 'cpu'), 0),
    min(min) FILTER (WHERE metric = 'cpu'), max(max) FILTER (WHERE metric = 'cpu'),
    coalesce(sum(n) FILTER (WHERE metric = 'memory'), 0),
    coalesce(sum(sum) FILTER (WHERE metric = 'memory'), 0),
    min(min) FILTER (WHERE metric = 'memory'), max(max) FILTER (WHERE metric = 'memory'),
    coalesce(sum(n) FILTER (WHERE metric = 'disk'), 0),
    coalesce(sum(sum) FILTER (WHERE metric = 'disk'), 0),
    min(min) FILTER (WHERE metric = 'disk'), max(max) FILTER (WHERE metric = 'disk'),
    coalesce(sum(n) FILTER (WHERE metric = 'rx'), 0),
    coalesce(sum(sum) FILTER (WHERE metric = 'rx'), 0),
    min(min) FILTER (WHERE metric = 'rx'), max(max) FILTER (WHERE metric = 'rx'),
    coalesce(sum(n) FILTER (WHERE metric = 'tx'), 0),
    coalesce(sum(sum) FILTER (WHERE metric = 'tx'), 0),
    min(min) FILTER (WHERE metric = 'tx'), max(max) FILTER (WHERE metric = 'tx'),
    coalesce(sum(n) FILTER (WHERE metric = 'temperature'), 0),
    coalesce(sum(sum) FILTER (WHERE metric = 'temperature'), 0),
    min(min) FILTER (WHERE metric = 'temperature'), max(max) FILTER (WHERE metric = 'temperature')
FROM metric_rollup GROUP BY server_id, bucket;

DROP TABLE metric_rollup;
