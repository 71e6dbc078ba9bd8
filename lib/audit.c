/*
 * audit: one audit_log row per request of an audited route program.
 */
#include <string.h>

#include "audit.h"
#include "db.h"
#include "id.h"
#include "iso.h"
#include "log.h"
#include "req.h"

/* Longest resource or address kept; longer ones are logged as null. */
#define FIELD_MAX	64

static const char insert_sql[] =
    "INSERT INTO audit_log (public_id, at_ms, account_id, who, ip, method,"
    " route, resource, action, result, status, request_id) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

const char *
audit_result(int status)
{
	if (status < 400)
		return "ok";
	if (status == 401 || status == 402 || status == 403 || status == 429)
		return "denied";
	return "error";
}

/*
 * s when it is 1 to max printable ASCII characters, else NULL: path
 * segments and methods come from the client, and the log is read back
 * as JSON (which wants UTF-8) by people (who want no control bytes).
 */
static const char *
plain(const char *s, size_t max)
{
	size_t	 n;

	if (s == NULL)
		return NULL;
	for (n = 0; s[n] != '\0'; n++)
		if (n == max || s[n] <= ' ' || s[n] > '~')
			return NULL;
	return n > 0 ? s : NULL;
}

/* 1 when pattern matches r's path; *resource: its first ':' segment. */
static int
pattern_match(const char *pattern, const struct req *r,
    const char **resource)
{
	const char	*p = pattern, *res = NULL;
	size_t		 n;
	int		 i = 0;

	for (; *p == '/'; p += n, i++) {
		p++;
		n = strcspn(p, "/");
		if (i >= r->nsegs)
			return 0;
		if (*p == ':') {
			if (res == NULL)
				res = r->segs[i];
		} else if (strncmp(p, r->segs[i], n) != 0 ||
		    r->segs[i][n] != '\0')
			return 0;
	}
	if (*p != '\0' || i != r->nsegs)
		return 0;
	*resource = res;
	return 1;
}

void
audit_request(const struct audit_ep *eps, const struct req *r)
{
	const struct audit_ep	*e, *m = NULL;
	const char		*route = NULL, *resource = NULL;
	sqlite3			*conn;
	sqlite3_stmt		*st;
	char			 id[ID_MAX];

	for (e = eps; e->pattern != NULL; e++)
		if (pattern_match(e->pattern, r, &resource)) {
			route = e->pattern;
			break;
		}
	for (; route != NULL && e->pattern != NULL; e++)
		if (strcmp(e->pattern, route) == 0 &&
		    strcmp(e->method, r->method) == 0) {
			m = e;
			break;
		}
	/* A database that is missing or behind (503) has no table. */
	if ((m != NULL && m->action == NULL) || !db_schema_ok())
		return;
	/*
	 * A transaction of its own, to wait in the writers' queue: alone,
	 * the INSERT would wait in SQLite's busy handler, which sleeps 5 to
	 * 100 ms at a time (GET /servers had a p99 of 18 ms against a p50
	 * of 1.2 ms with two processes auditing).
	 */
	if (!id_new(id, "aud_") || (conn = db_main()) == NULL ||
	    !db_begin(conn))
		goto fail;
	if ((st = db_prep(conn, insert_sql)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, iso_now_ms());
	if (r->who_account != 0)
		sqlite3_bind_int64(st, 3, r->who_account);
	if (r->who[0] != '\0')
		sqlite3_bind_text(st, 4, r->who, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, plain(r->ip, FIELD_MAX) != NULL ? r->ip :
	    "unknown", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, plain(r->method, 16) != NULL ? r->method :
	    "?", -1, SQLITE_TRANSIENT);
	if (route != NULL)
		sqlite3_bind_text(st, 7, route, -1, SQLITE_STATIC);
	if (plain(resource, FIELD_MAX) != NULL)
		sqlite3_bind_text(st, 8, resource, -1, SQLITE_TRANSIENT);
	if (m != NULL)
		sqlite3_bind_text(st, 9, m->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, audit_result(r->status), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, r->status);
	sqlite3_bind_text(st, 12, r->id, -1, SQLITE_TRANSIENT);
	if (!db_run(st))
		goto rollback;
	if (db_commit(conn))	/* which rolls back when it fails */
		return;
	goto fail;
rollback:
	db_rollback(conn);
fail:
	kiln_log(LOG_ERR, "audit: %s %s (%d) not recorded", r->method,
	    r->path, r->status);
}
