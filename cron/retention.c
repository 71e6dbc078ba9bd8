/*
 * retention (daily): deletes what has outlived its use (SPEC 7, 12),
 * BATCH rows per transaction so that ingest never waits long for the
 * write lock, then truncates the write-ahead logs. Prints one summary
 * line of what it deleted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cfg.h"
#include "cron.h"
#include "db.h"
#include "log.h"

#define BATCH		5000
#define HOUR		3600
#define DAY		(24 * HOUR)
#define MAX_AGE		(INT64_C(100) * 365 * DAY)	/* overflow guard */

/*
 * Where a purge runs: the whole table, per server, or the rate db. (The
 * token buckets need no purge: lib/rate.c reuses a full bucket's slot.)
 */
enum scope { TABLE, PER_SERVER, RATE };

/*
 * Each statement deletes at most ?2 rows older than the cutoff ?1 (of
 * ?3's rows when per server: every such table is keyed by server first,
 * so a batch reads one server's range, never the whole table).
 */
static const char raw_sql[] =
    "DELETE FROM snapshot_raw WHERE id IN (SELECT id FROM snapshot_raw"
    " WHERE server_id = ?3 AND ts_ms < ?1 AND id <> (SELECT id FROM"
    "  snapshot_raw WHERE server_id = ?3 ORDER BY ts_ms DESC, id DESC"
    "  LIMIT 1) LIMIT ?2)";
static const char metric_sql[] =
    "DELETE FROM metric WHERE server_id = ?3 AND ts IN (SELECT ts FROM"
    " metric WHERE server_id = ?3 AND ts < ?1 ORDER BY ts LIMIT ?2)";
static const char hour_sql[] =
    "DELETE FROM metric_hour WHERE server_id = ?3 AND bucket IN (SELECT"
    " bucket FROM metric_hour WHERE server_id = ?3 AND bucket < ?1"
    " ORDER BY bucket LIMIT ?2)";
static const char fs_sql[] =
    "DELETE FROM fs_usage WHERE server_id = ?3 AND (mount, ts) IN"
    " (SELECT mount, ts FROM fs_usage WHERE server_id = ?3 AND ts < ?1"
    "  LIMIT ?2)";
static const char occurrence_sql[] =
    "DELETE FROM alert_occurrence WHERE server_id = ?3 AND (rule, key) IN"
    " (SELECT rule, key FROM alert_occurrence WHERE server_id = ?3"
    "  AND seen_at < ?1 LIMIT ?2)";
/* A session is valid while expires_at > now (lib/auth.c). */
static const char session_sql[] =
    "DELETE FROM session WHERE token_hash IN (SELECT token_hash FROM"
    " session WHERE expires_at <= ?1 LIMIT ?2)";
static const char token_sql[] =
    "DELETE FROM email_token WHERE token_hash IN (SELECT token_hash FROM"
    " email_token WHERE used_at IS NOT NULL OR expires_at <= ?1 LIMIT ?2)";
static const char idem_sql[] =
    "DELETE FROM idempotency WHERE (account_id, key) IN (SELECT"
    " account_id, key FROM idempotency WHERE created_at < ?1 LIMIT ?2)";
static const char outbox_sql[] =
    "DELETE FROM notify_outbox WHERE id IN (SELECT id FROM notify_outbox"
    " WHERE done_at IS NOT NULL AND done_at < ?1 LIMIT ?2)";
/* Sent or given-up emails: the body of a sent one is blanked already. */
static const char mail_sql[] =
    "DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox"
    " WHERE coalesce(sent_at, failed_at) < ?1 LIMIT ?2)";
/* Attempts are appended in time order: batches as audit_sql's below. */
static const char attempt_sql[] =
    "DELETE FROM notify_attempt WHERE id IN (SELECT id FROM notify_attempt"
    " ORDER BY id LIMIT ?2) AND at < ?1";
/* Stripe retries an event for three days: a month covers every retry. */
static const char stripe_sql[] =
    "DELETE FROM stripe_event WHERE event_id IN (SELECT event_id FROM"
    " stripe_event WHERE received_at < ?1 LIMIT ?2)";
/*
 * The log is appended in time order, so the oldest rows are the first
 * ids: each batch looks at the first ?2 and stops at a young one,
 * without an index on the time or a scan of the rows it keeps.
 */
static const char audit_sql[] =
    "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log"
    " ORDER BY id LIMIT ?2) AND at_ms < ?1";
/* Failed sign-ins no longer locked a day after their lock (or ever). */
static const char login_sql[] =
    "DELETE FROM login_failure WHERE email_hash IN (SELECT email_hash"
    " FROM login_failure WHERE locked_until < ?1 LIMIT ?2)";
static const char servers_sql[] = "SELECT id FROM server ORDER BY id";
static const char checkpoint_sql[] = "PRAGMA wal_checkpoint(TRUNCATE)";

static const struct purge {
	const char	*table;		/* its name in the summary */
	const char	*sql;
	enum scope	 scope;
	const char	*cfg_key;	/* the age in units, or NULL: */
	int64_t		 age;		/* this many units */
	int64_t		 unit;		/* seconds */
	int		 ms;		/* the column is in milliseconds */
} purges[] = {
	{ "snapshot_raw", raw_sql, PER_SERVER, "raw_retention_hours", 0,
	    HOUR, 1 },
	{ "metric", metric_sql, PER_SERVER, "metric_retention_days", 0,
	    DAY, 0 },
	{ "metric_hour", hour_sql, PER_SERVER, "rollup_retention_days", 0,
	    DAY, 0 },
	{ "fs_usage", fs_sql, PER_SERVER, NULL, 7, DAY, 0 },
	{ "alert_occurrence", occurrence_sql, PER_SERVER, NULL, 30, DAY, 0 },
	{ "session", session_sql, TABLE, NULL, 0, 1, 0 },
	{ "email_token", token_sql, TABLE, NULL, 0, 1, 0 },
	{ "idempotency", idem_sql, TABLE, NULL, 24, HOUR, 0 },
	{ "notify_outbox", outbox_sql, TABLE, NULL, 7, DAY, 0 },
	{ "notify_attempt", attempt_sql, TABLE, NULL, 30, DAY, 0 },
	{ "mail_outbox", mail_sql, TABLE, NULL, 7, DAY, 0 },
	{ "audit_log", audit_sql, TABLE, "audit_retention_days", 0, DAY, 1 },
	{ "stripe_event", stripe_sql, TABLE, NULL, 30, DAY, 0 },
	{ "login_failure", login_sql, RATE, NULL, 1, DAY, 0 },
};

#define NPURGES	(sizeof(purges) / sizeof(purges[0]))

/* Deletes one server's (server_id 0: any) expired rows, batch by batch. */
static int
purge_rows(sqlite3 *conn, const struct purge *p, int64_t cutoff,
    int64_t server_id, int64_t *deleted)
{
	sqlite3_stmt	*st;
	int		 n;

	do {
		if (!db_begin(conn))
			return 0;
		if ((st = db_prep(conn, p->sql)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, cutoff);
		sqlite3_bind_int(st, 2, BATCH);
		if (p->scope == PER_SERVER)
			sqlite3_bind_int64(st, 3, server_id);
		if (!db_run(st))
			goto fail;
		n = sqlite3_changes(conn);
		if (!db_commit(conn))
			return 0;
		*deleted += n;
	} while (n == BATCH);
	return 1;
fail:
	db_rollback(conn);
	return 0;
}

/* Every server's id (even suspended ones keep history). Caller frees. */
static int64_t *
server_ids(size_t *n)
{
	sqlite3_stmt	*st = db_prep(db_main(), servers_sql);
	int64_t		*ids = NULL, *grown;
	size_t		 cap = 0;
	int		 rc;

	*n = 0;
	if (st == NULL)
		return NULL;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap != 0 ? cap * 2 : 64;
			grown = realloc(ids, cap * sizeof(*ids));
			if (grown == NULL) {
				kiln_log(LOG_ERR, "out of memory");
				rc = 0;
				break;
			}
			ids = grown;
		}
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc == 0) {
		free(ids);
		return NULL;
	}
	/* Never NULL on success, even with no server. */
	return ids != NULL ? ids : calloc(1, sizeof(*ids));
}

/* A purge's cutoff in the unit of its column. 0 (logged) if misconfigured. */
static int
cutoff_of(const struct purge *p, int64_t now, int64_t *cutoff)
{
	int64_t	 age = p->cfg_key != NULL ? cfg_int(p->cfg_key) : p->age;

	/* A zero from a typo would delete all history at once. */
	if (p->cfg_key != NULL && (age < 1 || age > MAX_AGE / p->unit)) {
		kiln_log(LOG_ERR, "config %s = %lld: out of range",
		    p->cfg_key, (long long)age);
		return 0;
	}
	*cutoff = now - age * p->unit;
	if (p->ms)
		*cutoff *= 1000;
	return 1;
}

/* Truncates a database's WAL; readers still in it only postpone that. */
static int
checkpoint(sqlite3 *conn)
{
	sqlite3_stmt	*st = db_prep(conn, checkpoint_sql);
	int		 rc;

	if ((rc = db_step(st)) == SQLITE_ROW && sqlite3_column_int(st, 0) != 0)
		kiln_log(LOG_WARNING, "%s: busy, WAL not truncated",
		    checkpoint_sql);
	if (st != NULL)
		sqlite3_reset(st);
	return rc != 0;
}

/*
 * Debian builds SQLite with secure_delete on: every page a delete frees
 * is overwritten with zeros, through the WAL, and later copied back by
 * the checkpoint. Deleting 15 MB of raw snapshots wrote 21 MB of WAL
 * that way, 0.36 MB with FAST, which zeroes deleted content only where
 * that costs no extra write (within pages written anyway). What FAST
 * leaves in the freed pages is what this job deletes: old metrics and
 * snapshots, expired tokens' hashes; new rows reuse those pages.
 */
static const char secure_delete_sql[] = "PRAGMA secure_delete=FAST";

static int
pass(int64_t now)
{
	int64_t		 deleted[NPURGES] = { 0 }, cutoff[NPURGES], *ids;
	size_t		 nids, i, j;
	sqlite3		*conn;
	int		 ok = 1;

	for (i = 0; i < NPURGES; i++)
		if (!cutoff_of(&purges[i], now, &cutoff[i]))
			return 0;
	if (!db_run(db_prep(db_main(), secure_delete_sql)) ||
	    !db_run(db_prep(db_rate(), secure_delete_sql)))
		return 0;
	if ((ids = server_ids(&nids)) == NULL)
		return 0;
	for (i = 0; ok && i < NPURGES; i++) {
		const struct purge	*p = &purges[i];

		conn = p->scope == RATE ? db_rate() : db_main();
		if (p->scope != PER_SERVER)
			ok = purge_rows(conn, p, cutoff[i], 0, &deleted[i]);
		for (j = 0; ok && p->scope == PER_SERVER && j < nids; j++)
			ok = purge_rows(conn, p, cutoff[i], ids[j],
			    &deleted[i]);
	}
	free(ids);
	if (ok)
		ok = checkpoint(db_main()) && checkpoint(db_rate());
	printf("retention:");
	for (i = 0; i < NPURGES; i++)
		printf(" %s=%lld", purges[i].table, (long long)deleted[i]);
	printf("%s\n", ok ? "" : " (incomplete)");
	return ok;
}

int
main(void)
{
	return cron_run("retention", pass);
}
