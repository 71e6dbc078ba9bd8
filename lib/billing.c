/*
 * billing: restoring servers suspended for no_card_on_file, the one piece
 * of code behind restore-all, the webhook, kiln-admin and the job.
 */
#include <stddef.h>

#include "billing.h"
#include "cfg.h"
#include "db.h"
#include "log.h"

/* Room left under the quota (never negative), or -1 for no limit. */
static const char room_sql[] =
    "SELECT CASE WHEN a.plan = 'free' THEN max(0, ?2 -"
    " (SELECT count(*) FROM server s WHERE s.account_id = a.id"
    "  AND s.status = 'active')) ELSE -1 END "
    "FROM account a WHERE a.id = ?1";

/* LIMIT -1 is no limit in SQLite. */
static const char restore_sql[] =
    "UPDATE server SET status = 'active', suspended_at = NULL,"
    " suspended_reason = NULL "
    "WHERE id IN (SELECT id FROM server WHERE account_id = ?1"
    "  AND status = 'suspended' AND suspended_reason = '" BILLING_NO_CARD "'"
    "  ORDER BY created_at, id LIMIT ?2)";

int64_t
billing_restore(int64_t account_id)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int64_t		 room;
	int		 rc;

	if ((st = db_prep(conn, room_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, cfg_int("free_server_quota"));
	if ((rc = db_step(st)) == SQLITE_ROW)
		room = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			kiln_log(LOG_ERR, "billing_restore: no account %lld",
			    (long long)account_id);
		return -1;
	}
	if (room == 0)
		return 0;
	if ((st = db_prep(conn, restore_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, room);
	if (!db_run(st))
		return -1;
	return sqlite3_changes(conn);
}
