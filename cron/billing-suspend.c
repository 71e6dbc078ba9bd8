/*
 * billing-suspend (hourly): a Pro account with no default payment
 * method, not exempt, whose grace has ended (the later of
 * current_period_end and its creation + 30 days) keeps its oldest
 * free_server_quota active servers; the others are suspended
 * (no_card_on_file) and the owner gets an email. Exempt accounts get
 * their no_card_on_file servers back (the retention job forgets old
 * Stripe event ids). One transaction per account, each judging the
 * account again under the write lock, so a second run (or one after a
 * crash) changes nothing that is already done.
 */
#include <stdio.h>
#include <string.h>

#include "billing.h"
#include "cfg.h"
#include "cron.h"
#include "db.h"
#include "iso.h"
#include "log.h"

#define GRACE_S		2592000		/* 30 days */
#define STR(x)		#x
#define XSTR(x)		STR(x)

/*
 * Account a is overdue at ?2 with quota ?3: Pro, no card, not exempt,
 * grace over, more active servers than the quota. The count is
 * billing_active_count's, kept in SQL on purpose: this condition picks
 * the next account out of all of them, and suspend_sql judges it again
 * inside its UPDATE under the write lock; a C helper would need a query
 * per account and a read-then-write.
 */
#define OVERDUE \
    "a.plan = 'pro' AND a.has_default_payment_method = 0" \
    " AND a.billing_enforcement_exempt = 0" \
    " AND max(coalesce(a.current_period_end, 0)," \
    "  a.created_at + " XSTR(GRACE_S) ") <= ?2" \
    " AND (SELECT count(*) FROM server s WHERE s.account_id = a.id" \
    "  AND s.status = 'active') > ?3"

static const char next_overdue_sql[] =
    "SELECT a.id FROM account a WHERE a.id > ?1 AND " OVERDUE
    " ORDER BY a.id LIMIT 1";

/* Every active server but the oldest ?3, if the account is still due. */
static const char suspend_sql[] =
    "UPDATE server SET status = 'suspended', suspended_at = ?2,"
    " suspended_reason = '" BILLING_NO_CARD "' "
    "WHERE account_id = ?1 AND status = 'active'"
    " AND id NOT IN (SELECT id FROM server WHERE account_id = ?1"
    "  AND status = 'active' ORDER BY created_at, id LIMIT ?3)"
    " AND EXISTS (SELECT 1 FROM account a WHERE a.id = ?1 AND "
    OVERDUE ")";

/* The owner's email, queued for the notify job to deliver. */
static const char mail_sql[] =
    "INSERT INTO mail_outbox (recipient, subject, body, created_at) "
    "SELECT email, ?2, ?3, ?4 FROM user WHERE account_id = ?1"
    " AND role = 'owner'";

static const char next_exempt_sql[] =
    "SELECT a.id FROM account a WHERE a.id > ?1"
    " AND a.billing_enforcement_exempt = 1"
    " AND EXISTS (SELECT 1 FROM server s WHERE s.account_id = a.id"
    "  AND s.status = 'suspended'"
    "  AND s.suspended_reason = '" BILLING_NO_CARD "') "
    "ORDER BY a.id LIMIT 1";

static const char still_exempt_sql[] =
    "SELECT billing_enforcement_exempt FROM account WHERE id = ?1";

/* The next account id after id that sql (?1 id, ?2 now, ?3 quota) finds. */
static int
next_account(const char *sql, int64_t id, int64_t now, int64_t *next)
{
	sqlite3_stmt	*st = db_prep(db_main(), sql);
	int		 rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	/* next_exempt_sql has no ?2 or ?3: those binds are no-ops. */
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, cfg_int("free_server_quota"));
	if ((rc = db_step(st)) == SQLITE_ROW)
		*next = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Suspends what one account has beyond the quota and mails its owner. */
static int
suspend(int64_t account_id, int64_t now, int64_t *suspended)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int64_t		 quota = cfg_int("free_server_quota"), n;
	char		 subject[128], body[1024];

	if (!db_begin(conn) || (st = db_prep(conn, suspend_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, quota);
	if (!db_run(st))
		goto fail;
	if ((n = sqlite3_changes(conn)) == 0)	/* a card came meanwhile */
		return db_commit(conn);
	snprintf(subject, sizeof(subject), "Kiln: %lld server%s suspended: "
	    "add a payment method", (long long)n, n == 1 ? "" : "s");
	snprintf(body, sizeof(body),
	    "Your Kiln account is on the Pro plan but has no payment method "
	    "on file, and its grace period has ended.\n\n"
	    "We have suspended %lld of your servers; your %lld oldest stay "
	    "active. Suspended servers keep their data and settings but "
	    "their snapshots are not accepted.\n\n"
	    "Add a payment method at %s/billing and they come back at "
	    "once.\n", (long long)n, (long long)quota, cfg_get("base_url"));
	if ((st = db_prep(conn, mail_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (!db_run(st) || !db_commit(conn))
		goto fail;
	*suspended += n;
	return 1;
fail:
	db_rollback(conn);
	return 0;
}

/* Gives an exempt account its no_card_on_file servers back. */
static int
restore(int64_t account_id, int64_t *restored)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int64_t		 n = 0;
	int		 exempt;

	if (!db_begin(conn) || (st = db_prep(conn, still_exempt_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, account_id);
	exempt = db_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (exempt && (n = billing_restore(account_id)) < 0)
		goto fail;
	if (!db_commit(conn))
		return 0;
	*restored += n;
	return 1;
fail:
	db_rollback(conn);
	return 0;
}

static int
pass(int64_t now)
{
	int64_t		 id, suspended = 0, restored = 0;
	int		 rc;

	for (id = 0; (rc = next_account(next_exempt_sql, id, now, &id)) > 0;)
		if (!restore(id, &restored))
			return 0;
	if (rc < 0)
		return 0;
	for (id = 0; (rc = next_account(next_overdue_sql, id, now, &id)) > 0;)
		if (!suspend(id, now, &suspended))
			return 0;
	if (rc < 0)
		return 0;
	if (suspended > 0 || restored > 0)
		printf("billing-suspend: %lld suspended, %lld restored\n",
		    (long long)suspended, (long long)restored);
	return 1;
}

int
main(void)
{
	return cron_run("billing-suspend", pass);
}
