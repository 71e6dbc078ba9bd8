/*
 * alert-ttl (every 5 minutes): resolves event alerts that saw no new
 * occurrence for 24 hours, reason "ttl_expired" (SPEC 8), so that a
 * silent server's events decay too. One transaction per alert.
 */
#include <stdio.h>

#include "alert.h"
#include "cron.h"
#include "db.h"
#include "log.h"

#define TTL_SECS	(24 * 3600)
#define BATCH		100

static const char stale_sql[] =
    "SELECT id, server_id, rule FROM alert "
    "WHERE kind = 'event' AND status = 'open' AND last_seen_at < ?1"
    " AND id > ?3 ORDER BY id LIMIT ?2";
/* Again inside the write lock: an ingest may have stacked one since. */
static const char still_stale_sql[] =
    "SELECT 1 FROM alert WHERE id = ?1 AND status = 'open'"
    " AND last_seen_at < ?2";

/* One stale alert, read before its transaction. */
struct stale {
	int64_t	 id;
	int64_t	 server_id;
	char	 rule[64];
};

/* Resolves one alert if it is still stale. Returns 1 when it was. */
static int
expire(const struct stale *a, int64_t cutoff, int64_t now, int *resolved)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int		 rc;

	if (!db_begin(conn))
		return 0;
	if ((st = db_prep(conn, still_stale_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, a->id);
	sqlite3_bind_int64(st, 2, cutoff);
	rc = db_step(st);
	sqlite3_reset(st);
	if (rc == 0)
		goto fail;
	/* The one open alert of (server, rule) is this one. */
	if (rc == SQLITE_ROW) {
		if (!alert_resolve(a->server_id, a->rule, "ttl_expired", now))
			goto fail;
		(*resolved)++;
	}
	return db_commit(conn);
fail:
	db_rollback(conn);
	return 0;
}

static int
pass(int64_t now)
{
	struct stale	 batch[BATCH];
	sqlite3_stmt	*st;
	int64_t		 cutoff = now - TTL_SECS, last = 0;
	int		 n, rc = SQLITE_DONE, resolved = 0;

	do {
		if ((st = db_prep(db_main(), stale_sql)) == NULL)
			return 0;
		sqlite3_bind_int64(st, 1, cutoff);
		sqlite3_bind_int(st, 2, BATCH);
		sqlite3_bind_int64(st, 3, last);
		for (n = 0; n < BATCH && (rc = db_step(st)) == SQLITE_ROW;
		    n++) {
			batch[n].id = sqlite3_column_int64(st, 0);
			batch[n].server_id = sqlite3_column_int64(st, 1);
			snprintf(batch[n].rule, sizeof(batch[n].rule), "%s",
			    db_text(st, 2));
		}
		sqlite3_reset(st);
		if (rc == 0)
			return 0;
		for (int i = 0; i < n; i++)
			if (!expire(&batch[i], cutoff, now, &resolved))
				return 0;
		if (n > 0)
			last = batch[n - 1].id;
	} while (n == BATCH);
	if (resolved > 0)
		printf("alert-ttl: resolved %d\n", resolved);
	return 1;
}

int
main(void)
{
	return cron_run("alert-ttl", pass);
}
