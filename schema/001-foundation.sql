-- Foundation: accounts, users, sessions, servers, idempotency, mail.
-- Times are Unix seconds UTC unless the column says _ms.

-- One customer: the unit of plan, billing and quota (a team of one for now).
CREATE TABLE account (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,			-- "acc_..."
	plan TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro')),
	billing_enforcement_exempt INTEGER NOT NULL DEFAULT 0,
	has_default_payment_method INTEGER NOT NULL DEFAULT 0,
	current_period_end INTEGER,
	cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
) STRICT;

-- One person who signs in; belongs to one account with a role.
CREATE TABLE user (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,			-- "usr_..."
	account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
	email TEXT NOT NULL UNIQUE,			-- lower case
	name TEXT NOT NULL,
	password_hash TEXT NOT NULL,			-- scrypt MCF string
	role TEXT NOT NULL DEFAULT 'owner'
	    CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
	verified_at INTEGER,
	failed_logins INTEGER NOT NULL DEFAULT 0,	-- consecutive
	locked_until INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX user_account ON user(account_id);

-- One signed-in session; the token itself is never stored.
CREATE TABLE session (
	token_hash BLOB PRIMARY KEY,			-- SHA-256 of the token
	user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX session_user ON session(user_id);
CREATE INDEX session_expiry ON session(expires_at);

-- One single-use email-verification token (stored hashed).
CREATE TABLE email_token (
	token_hash BLOB PRIMARY KEY,			-- SHA-256 of the token
	user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
	purpose TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
	expires_at INTEGER NOT NULL,
	used_at INTEGER
) STRICT, WITHOUT ROWID;

-- One monitored host. Denormalised fields are set by the latest snapshot.
CREATE TABLE server (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,			-- "srv_..."
	account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	hostname TEXT NOT NULL,
	tags TEXT NOT NULL DEFAULT '[]',		-- JSON array of strings
	key_hash BLOB NOT NULL UNIQUE,			-- HMAC(pepper, key)
	key_rotated_at INTEGER,
	status TEXT NOT NULL DEFAULT 'active'
	    CHECK (status IN ('active', 'suspended')),
	suspended_at INTEGER,
	suspended_reason TEXT,
	config_overrides TEXT NOT NULL DEFAULT '{}',	-- JSON object
	free_analysis_used INTEGER NOT NULL DEFAULT 0,
	ip TEXT,
	os_type TEXT,
	os_version TEXT,
	kernel TEXT,
	collector_version TEXT,
	dmi_vendor TEXT,
	dmi_product TEXT,
	ipmi_sensors_count INTEGER,
	last_seen_at INTEGER,
	created_at INTEGER NOT NULL
) STRICT;
-- Cursor pagination walks (created_at, id) within an account (an index
-- entry ends with the rowid, so ties in a second keep insertion order).
CREATE INDEX server_account_page ON server(account_id, created_at);

-- One Idempotency-Key use: in flight, or the stored first response.
CREATE TABLE idempotency (
	account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
	key TEXT NOT NULL,
	request_hash BLOB NOT NULL,			-- SHA-256 of method, path, body
	status INTEGER,					-- NULL while in flight
	response TEXT,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (account_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_age ON idempotency(created_at);

-- One email waiting to be sent (delivered by the notification job).
CREATE TABLE mail_outbox (
	id INTEGER PRIMARY KEY,
	recipient TEXT NOT NULL,
	subject TEXT NOT NULL,
	body TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	sent_at INTEGER
) STRICT;

-- Small facts the system keeps (e.g. the last polled agent version).
CREATE TABLE setting (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
