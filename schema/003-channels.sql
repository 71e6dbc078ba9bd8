-- Channels and notification delivery (SPEC 9): where an account's alert
-- notifications go, one delivery job per (outbox row, channel), and a log
-- of every attempt. Times are Unix seconds UTC unless the column says _ms.

-- One notification channel of an account. config holds the secrets in
-- clear (the API masks them): the sender needs them as they are.
CREATE TABLE channel (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,			-- "chn_..."
	account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	type TEXT NOT NULL CHECK (type IN ('email', 'telegram', 'slack',
	    'discord', 'pagerduty', 'webhook')),
	config TEXT NOT NULL,				-- JSON object, per type
	enabled INTEGER NOT NULL DEFAULT 1,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX channel_account ON channel(account_id, created_at);

-- The notify job fans an outbox row out to the account's enabled
-- channels once (fanned_at), and marks it done_at when every delivery
-- has ended.
ALTER TABLE notify_outbox ADD COLUMN fanned_at INTEGER;
CREATE INDEX notify_outbox_unfanned ON notify_outbox(id)
    WHERE fanned_at IS NULL;
-- The outbox rows of an alert (newer notifications supersede older).
CREATE INDEX notify_outbox_alert ON notify_outbox(alert_id);

-- One outbox row to be delivered to one channel. A run claims a job by
-- moving next_attempt_at past the end of its lease and counting the
-- attempt in the same transaction, before it sends: a run that dies
-- mid-send leaves a job that is due again when the lease ends. It is
-- marked sent only after the receiver said yes (at least once).
CREATE TABLE notify_delivery (
	id INTEGER PRIMARY KEY,
	outbox_id INTEGER NOT NULL
	    REFERENCES notify_outbox(id) ON DELETE CASCADE,
	channel_id INTEGER NOT NULL REFERENCES channel(id) ON DELETE CASCADE,
	state TEXT NOT NULL DEFAULT 'pending'
	    CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
	attempts INTEGER NOT NULL DEFAULT 0,		-- claims so far
	next_attempt_at INTEGER NOT NULL,		-- due, or lease end
	last_status INTEGER,				-- HTTP / SMTP code
	last_error TEXT,				-- or why it was skipped
	last_duration_ms INTEGER,
	created_at INTEGER NOT NULL,
	done_at INTEGER,				-- sent/failed/skipped
	UNIQUE (outbox_id, channel_id)
) STRICT;
CREATE INDEX notify_delivery_due ON notify_delivery(next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX notify_delivery_channel ON notify_delivery(channel_id);

-- The verification and account emails of mail_outbox are retried the
-- same way, with the same lease.
ALTER TABLE mail_outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mail_outbox ADD COLUMN next_attempt_at INTEGER NOT NULL
    DEFAULT 0;
ALTER TABLE mail_outbox ADD COLUMN last_error TEXT;
ALTER TABLE mail_outbox ADD COLUMN failed_at INTEGER;
CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;

-- One attempt to deliver: a delivery job's, a mail_outbox email's, or a
-- channel test's (delivery_id and mail_id both NULL).
CREATE TABLE notify_attempt (
	id INTEGER PRIMARY KEY,
	channel_id INTEGER REFERENCES channel(id) ON DELETE CASCADE,
	delivery_id INTEGER
	    REFERENCES notify_delivery(id) ON DELETE CASCADE,
	mail_id INTEGER REFERENCES mail_outbox(id) ON DELETE CASCADE,
	at INTEGER NOT NULL,
	ok INTEGER NOT NULL,				-- 1: accepted
	status INTEGER,					-- NULL: no answer
	duration_ms INTEGER NOT NULL,
	error TEXT					-- NULL when ok
) STRICT;
CREATE INDEX notify_attempt_channel ON notify_attempt(channel_id, id);
CREATE INDEX notify_attempt_delivery ON notify_attempt(delivery_id);
CREATE INDEX notify_attempt_mail ON notify_attempt(mail_id);
