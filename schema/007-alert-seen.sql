-- Ingest: an unchanged open alert costs no write.

-- 1 while an open state alert was found firing in its server's latest
-- snapshot: its last_seen_at is then the server's last_seen_at, which
-- every push writes anyway, instead of a copy rewritten on every push.
-- 0: last_seen_at holds the time itself (events, alerts raised by cron,
-- resolved alerts, and a state alert whose rule was not judged on the
-- latest snapshot, inside a boot grace).
ALTER TABLE alert ADD COLUMN seen_with_server INTEGER NOT NULL DEFAULT 0;

-- Only the TTL job reads open alerts by last_seen_at, and only events:
-- state alerts refreshed by a push no longer move an index entry.
DROP INDEX alert_open_events;
CREATE INDEX alert_open_events ON alert(last_seen_at)
    WHERE status = 'open' AND kind = 'event';
