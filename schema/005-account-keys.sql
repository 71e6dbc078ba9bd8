-- Programmatic API (SPEC 13): account keys and the audit log.
-- Times are Unix seconds UTC unless the column says _ms.

-- One account key. The key itself is never stored, only its peppered
-- hash (as collector keys). It acts for the user who minted it, with
-- that user's role, narrowed to its scope. DELETE marks it revoked, so
-- the audit log's "key_..." keeps a name.
CREATE TABLE account_key (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,			-- "key_..."
	account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
	user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
	key_hash BLOB NOT NULL UNIQUE,			-- HMAC(pepper, key)
	prefix TEXT NOT NULL,				-- its first 18 characters
	created_at INTEGER NOT NULL,
	expires_at INTEGER,				-- NULL: never
	last_used_at INTEGER,				-- to the minute
	revoked_at INTEGER
) STRICT;
CREATE INDEX account_key_account ON account_key(account_id, created_at);

-- One management request (servers, alerts, mutes, channels, billing,
-- account), whatever its outcome. Append-only: rows are never changed;
-- the retention job deletes the oldest. account_id and who are NULL when
-- the caller was not authenticated. No foreign keys: the log outlives
-- what it talks about.
CREATE TABLE audit_log (
	id INTEGER PRIMARY KEY,				-- insertion order
	public_id TEXT NOT NULL UNIQUE,			-- "aud_..."
	at_ms INTEGER NOT NULL,
	account_id INTEGER,
	who TEXT,					-- "usr_..." or "key_..."
	ip TEXT NOT NULL,
	method TEXT NOT NULL,
	route TEXT,					-- "/servers/:id/rotate-key"
	resource TEXT,					-- the id in the path
	action TEXT,					-- "server.rotate_key"
	result TEXT NOT NULL CHECK (result IN ('ok', 'denied', 'error')),
	status INTEGER NOT NULL,
	request_id TEXT NOT NULL
) STRICT;
-- GET /account/audit: newest first within an account, optionally by
-- action or by resource (an index entry ends with the rowid).
CREATE INDEX audit_log_account ON audit_log(account_id, at_ms);
CREATE INDEX audit_log_action ON audit_log(account_id, action, at_ms);
CREATE INDEX audit_log_resource ON audit_log(account_id, resource, at_ms);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
