/*
 * billing: restoring servers suspended for no_card_on_file, the one piece
 * of code behind restore-all, the webhook, kiln-admin and the job.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "billing.h"
#include "cfg.h"
#include "db.h"
#include "log.h"

static const char active_count_sql[] =
    "SELECT count(*) FROM server WHERE account_id = ?1 AND status = 'active'";
static const char plan_sql[] = "SELECT plan FROM account WHERE id = ?1";

/* LIMIT -1 is no limit in SQLite. */
static const char restore_sql[] =
    "UPDATE server SET status = 'active', suspended_at = NULL,"
    " suspended_reason = NULL "
    "WHERE id IN (SELECT id FROM server WHERE account_id = ?1"
    "  AND status = 'suspended' AND suspended_reason = '" BILLING_NO_CARD "'"
    "  ORDER BY created_at, id LIMIT ?2)";

int64_t
billing_active_count(int64_t account_id)
{
	sqlite3_stmt	*st = db_prep(db_main(), active_count_sql);
	int64_t		 n = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	if (db_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

int64_t
billing_quota_room(int64_t account_id, const char *plan)
{
	sqlite3_stmt	*st;
	int64_t		 quota = cfg_int("free_server_quota"), active;
	char		 stored[16];
	int		 rc;

	if (plan == NULL) {
		if ((st = db_prep(db_main(), plan_sql)) == NULL)
			return BILLING_QUOTA_ERROR;
		sqlite3_bind_int64(st, 1, account_id);
		if ((rc = db_step(st)) == SQLITE_ROW)
			snprintf(stored, sizeof(stored), "%s", db_text(st, 0));
		sqlite3_reset(st);
		if (rc != SQLITE_ROW) {
			if (rc == SQLITE_DONE)
				kiln_log(LOG_ERR, "billing: no account %lld",
				    (long long)account_id);
			return BILLING_QUOTA_ERROR;
		}
		plan = stored;
	}
	/* Only the free plan has a quota. */
	if (strcmp(plan, "free") != 0)
		return BILLING_NO_LIMIT;
	if ((active = billing_active_count(account_id)) < 0)
		return BILLING_QUOTA_ERROR;
	return active < quota ? quota - active : 0;
}

int64_t
billing_restore(int64_t account_id)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int64_t		 room;

	if ((room = billing_quota_room(account_id, NULL)) ==
	    BILLING_QUOTA_ERROR)
		return -1;
	if (room == 0)
		return 0;
	if ((st = db_prep(conn, restore_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, room);	/* BILLING_NO_LIMIT is -1 */
	if (!db_run(st))
		return -1;
	return sqlite3_changes(conn);
}
