/*
 * kiln-admin: the operator's tool, run on the server host against the
 * same database as the routes.
 *
 *   kiln-admin accounts
 *   kiln-admin plan ACCOUNT free|pro
 *   kiln-admin exempt ACCOUNT on|off
 *   kiln-admin payment-method ACCOUNT present|absent
 *   kiln-admin verify ACCOUNT
 *   kiln-admin suspend SERVER_ID [REASON]
 *   kiln-admin raw SERVER_ID
 *   kiln-admin rate-buckets
 *
 * ACCOUNT is the owner's email or the account id (acc_...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "billing.h"
#include "store.h"

static const char accounts_sql[] =
    "SELECT a.public_id, u.email, a.plan, a.billing_enforcement_exempt,"
    " a.has_default_payment_method, u.verified_at IS NOT NULL,"
    " (SELECT count(*) FROM server s WHERE s.account_id = a.id),"
    " (SELECT count(*) FROM server s WHERE s.account_id = a.id"
    "   AND s.status = 'suspended') "
    "FROM account a JOIN user u ON u.account_id = a.id"
    " AND u.role = 'owner' ORDER BY a.created_at, a.public_id";

static int
list_accounts(void)
{
	sqlite3_stmt	*st = db_prep(db_main(), accounts_sql);
	int		 rc;

	if (st == NULL)
		return 1;
	printf("%-24s %-32s %-4s %-6s %-4s %-8s %s\n", "ACCOUNT", "OWNER",
	    "PLAN", "EXEMPT", "CARD", "VERIFIED", "SERVERS(SUSPENDED)");
	while ((rc = db_next(st)) > 0)
		printf("%-24s %-32s %-4s %-6s %-4s %-8s %lld(%lld)\n",
		    db_text(st, 0), db_text(st, 1), db_text(st, 2),
		    sqlite3_column_int(st, 3) ? "yes" : "no",
		    sqlite3_column_int(st, 4) ? "yes" : "no",
		    sqlite3_column_int(st, 5) ? "yes" : "no",
		    (long long)sqlite3_column_int64(st, 6),
		    (long long)sqlite3_column_int64(st, 7));
	sqlite3_reset(st);
	return rc < 0;	/* a partial list is a failure, logged */
}

/*
 * One UPDATE per setting, each matching the account by owner email or
 * public id (?1) and taking the new value as ?2.
 */
#define ACCOUNT_MATCH \
    "(public_id = ?1 OR id = (SELECT account_id FROM user" \
    " WHERE email = lower(?1) AND role = 'owner'))"

static const char plan_sql[] =
    "UPDATE account SET plan = ?2 WHERE " ACCOUNT_MATCH;
static const char exempt_sql[] =
    "UPDATE account SET billing_enforcement_exempt = ?2 WHERE " ACCOUNT_MATCH;
static const char card_sql[] =
    "UPDATE account SET has_default_payment_method = ?2 WHERE "
    ACCOUNT_MATCH;
static const char verify_sql[] =
    "UPDATE user SET verified_at = coalesce(verified_at, ?2) "
    "WHERE role = 'owner' AND account_id IN (SELECT id FROM account WHERE "
    ACCOUNT_MATCH ")";
static const char suspend_sql[] =
    "UPDATE server SET status = 'suspended', suspended_at = ?3,"
    " suspended_reason = ?2 WHERE public_id = ?1";

/* Runs an update for one account or server; exactly one row must change. */
static int
update(const char *sql, const char *who, const char *text, int64_t num,
    int64_t num3)
{
	sqlite3_stmt	*st = db_prep(db_main(), sql);

	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
	if (text != NULL)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, num);
	sqlite3_bind_int64(st, 3, num3);
	if (!db_run(st))
		return 1;
	if (sqlite3_changes(db_main()) != 1) {
		fprintf(stderr, "kiln-admin: no such account or server: %s\n",
		    who);
		return 1;
	}
	return 0;
}

static const char account_id_sql[] =
    "SELECT id FROM account WHERE " ACCOUNT_MATCH;

/*
 * The payment-method switch, for operators without Stripe. Setting it
 * present also restores the account's no_card_on_file servers, as the
 * Stripe webhook does when a card arrives, in the same transaction.
 */
static int
payment_method(const char *who, int present)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int64_t		 id = 0, n = 0;

	if (!db_begin(conn))
		return 1;
	if (update(card_sql, who, NULL, present, 0) != 0)
		goto fail;
	if (present) {
		if ((st = db_prep(conn, account_id_sql)) == NULL)
			goto fail;
		sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
		if (db_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (id == 0 || (n = billing_restore(id)) < 0)
			goto fail;
	}
	if (!db_commit(conn))
		return 1;
	if (n > 0)
		printf("%lld servers restored\n", (long long)n);
	return 0;
fail:
	db_rollback(conn);
	return 1;
}

static const char raw_sql[] =
    "SELECT r.body, r.body_zstd FROM snapshot_raw r JOIN server s"
    " ON s.id = r.server_id WHERE s.public_id = ?1"
    " ORDER BY r.ts_ms DESC, r.id DESC LIMIT 1";

/* The server's latest snapshot, byte for byte as its agent sent it. */
static int
print_raw(const char *server)
{
	sqlite3_stmt	*st = db_prep(db_main(), raw_sql);
	char		*body = NULL;
	size_t		 len = 0;
	int		 rc;

	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, server, -1, SQLITE_STATIC);
	if ((rc = db_step(st)) == SQLITE_ROW)
		rc = store_raw_body(st, 0, &body, &len) ? 0 : 1;
	else {
		if (rc == SQLITE_DONE)
			fprintf(stderr, "kiln-admin: no snapshot of %s\n",
			    server);
		rc = 1;
	}
	sqlite3_reset(st);
	if (rc == 0 && fwrite(body, 1, len, stdout) != len)
		rc = 1;
	free(body);
	return rc;
}

/* One line of rate-buckets: the bucket's name and tokens left. */
static void
print_bucket(void *arg, const char *name, double tokens)
{
	(void)arg;
	printf("%s %.3f\n", name, tokens);
}

/* "on"/"off"-style argument: returns 1, 0, or -1 when it is neither. */
static int
flag(const char *arg, const char *yes, const char *no)
{
	if (strcmp(arg, yes) == 0)
		return 1;
	if (strcmp(arg, no) == 0)
		return 0;
	return -1;
}

static int
usage(void)
{
	fputs("usage: kiln-admin accounts\n"
	    "       kiln-admin plan ACCOUNT free|pro\n"
	    "       kiln-admin exempt ACCOUNT on|off\n"
	    "       kiln-admin payment-method ACCOUNT present|absent\n"
	    "       kiln-admin verify ACCOUNT\n"
	    "       kiln-admin suspend SERVER_ID [REASON]\n"
	    "       kiln-admin raw SERVER_ID\n"
	    "       kiln-admin rate-buckets\n"
	    "ACCOUNT is the owner's email or the account id (acc_...).\n",
	    stderr);
	return 2;
}

int
main(int argc, char *argv[])
{
	const char	*cmd = argc > 1 ? argv[1] : "";
	int		 f;

	log_init(argv[0]);
	/* The buckets live outside the database: no schema needed. */
	if (strcmp(cmd, "rate-buckets") == 0 && argc == 2)
		return !rate_each(print_bucket, NULL);
	if (!db_schema_ok())
		return 1;
	if (strcmp(cmd, "accounts") == 0 && argc == 2)
		return list_accounts();
	if (strcmp(cmd, "plan") == 0 && argc == 4 &&
	    flag(argv[3], "pro", "free") >= 0)
		return update(plan_sql, argv[2], argv[3], 0, 0);
	if (strcmp(cmd, "exempt") == 0 && argc == 4 &&
	    (f = flag(argv[3], "on", "off")) >= 0)
		return update(exempt_sql, argv[2], NULL, f, 0);
	if (strcmp(cmd, "payment-method") == 0 && argc == 4 &&
	    (f = flag(argv[3], "present", "absent")) >= 0)
		return payment_method(argv[2], f);
	if (strcmp(cmd, "verify") == 0 && argc == 3)
		return update(verify_sql, argv[2], NULL, iso_now(), 0);
	if (strcmp(cmd, "suspend") == 0 && (argc == 3 || argc == 4))
		return update(suspend_sql, argv[2],
		    argc == 4 ? argv[3] : "operator", 0, iso_now());
	if (strcmp(cmd, "raw") == 0 && argc == 3)
		return print_raw(argv[2]);
	return usage();
}
