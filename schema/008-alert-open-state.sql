-- Ingest: a push's rule pass reads its server's open alerts from one
-- index, not from their rows. The rows (title, message, evidence) fill
-- about a page per server, so a server pushing once a minute found that
-- page gone from memory and waited for the disk; the index holds about
-- ten servers' open alerts to a page.

-- A hash of severity, title, message and evidence (lib/alert.c), set by
-- whoever writes them: a rule that finds its alert unchanged compares
-- it and writes nothing. NULL: not known, so compare the row itself.
ALTER TABLE alert ADD COLUMN content_hash INTEGER;

-- status too, though always 'open' here: SQLite reads a query's WHERE
-- from the index only if the index holds the column.
CREATE INDEX alert_open_state ON alert(server_id, rule, id, severity,
    acknowledged_at, occurrences, kind, seen_with_server, content_hash,
    status) WHERE status = 'open';

-- A change of content that comes without a new hash forgets the old one
-- (a process of the build before this one, still running while the
-- database is upgraded, writes none).
CREATE TRIGGER alert_content_unhashed AFTER UPDATE OF severity, title,
    message, evidence ON alert
    WHEN NEW.content_hash IS OLD.content_hash AND
    (NEW.severity IS NOT OLD.severity OR NEW.title IS NOT OLD.title OR
    NEW.message IS NOT OLD.message OR NEW.evidence IS NOT OLD.evidence)
BEGIN
	UPDATE alert SET content_hash = NULL WHERE id = NEW.id;
END;
