/*
 * account: the programmatic API (SPEC 13). /api/v1/account/keys[/ID]
 * mints, lists and revokes account keys, signed in only (a key can't
 * mint keys); /account/audit reads the audit log, admin scope.
 */
#include <stdio.h>
#include <string.h>

#include "kiln.h"

/* Live (unrevoked, unexpired) keys an account may hold at once. */
#define KEYS_MAX	100
/* The hint a list shows of a key: its first characters, then "…". */
#define KEY_HINT_LEN	18
#define ELLIPSIS	"\xe2\x80\xa6"
/* Longest ?action= or ?resource= filter. */
#define FILTER_MAX	64

/* The columns of a key as the API shows it, in key_json()'s order. */
#define KEY_COLUMNS \
    "public_id, name, scope, prefix, created_at, expires_at, last_used_at"

static json_t *
key_json(sqlite3_stmt *st)
{
	char	 hint[KEY_HINT_LEN + sizeof(ELLIPSIS)];

	snprintf(hint, sizeof(hint), "%s" ELLIPSIS, db_text(st, 3));
	return json_pack("{s:o, s:o, s:o, s:s, s:o, s:o, s:o}",
	    "id", db_json_text(st, 0),
	    "name", db_json_text(st, 1),
	    "scope", db_json_text(st, 2),
	    "prefix", hint,
	    "created_at", db_json_time(st, 4),
	    "expires_at", db_json_time(st, 5),
	    "last_used_at", db_json_time(st, 6));
}

/*
 * Reads the optional expires_at: absent or null is never (*at 0), else
 * an ISO 8601 time in the future. Returns 1, or 0 having answered.
 */
static int
read_expiry(struct req *r, json_t *body, int64_t *at)
{
	json_t	*v = json_object_get(body, "expires_at");
	int64_t	 ms;

	*at = 0;
	if (v == NULL || json_is_null(v))
		return 1;
	if (!json_is_string(v) || !iso_parse_ms(json_string_value(v), &ms)) {
		valid_fail(r, "expires_at", "expires_at must be an ISO 8601 "
		    "time, e.g. 2027-01-01T00:00:00Z.");
		return 0;
	}
	if (ms / 1000 <= iso_now()) {
		valid_fail(r, "expires_at", "expires_at must be in the "
		    "future.");
		return 0;
	}
	*at = ms / 1000;
	return 1;
}

static const char key_live_sql[] =
    "SELECT count(*) FROM account_key WHERE account_id = ?1"
    " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)";
static const char key_insert_sql[] =
    "INSERT INTO account_key (public_id, account_id, user_id, name, scope,"
    " key_hash, prefix, created_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "RETURNING " KEY_COLUMNS;

static void
key_create(struct req *r, const struct principal *who)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	json_t		*body, *k;
	const char	*name, *scope;
	char		 id[ID_MAX], key[KEY_MAX], prefix[KEY_HINT_LEN + 1];
	unsigned char	 digest[HASH_LEN];
	int64_t		 now = iso_now(), expires, live;

	if ((body = req_json_object(r)) == NULL ||
	    !valid_string(r, body, "name", 1, 100, 1, &name) ||
	    !valid_string(r, body, "scope", 1, 100, 1, &scope))
		return;
	if (strcmp(scope, "read") != 0 && strcmp(scope, "write") != 0 &&
	    strcmp(scope, "admin") != 0) {
		valid_fail(r, "scope", "scope must be read, write or admin.");
		return;
	}
	if (!read_expiry(r, body, &expires))
		return;
	if (!id_new(id, "key_") || !id_key_new(key, KEY_PREFIX_ACCOUNT) ||
	    !hash_peppered(digest, key) || !db_begin(conn))
		goto fail;
	memcpy(prefix, key, KEY_HINT_LEN);
	prefix[KEY_HINT_LEN] = '\0';
	/* Counted inside the write lock so two mints can't both squeeze in. */
	if ((st = db_prep(conn, key_live_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, who->account_id);
	sqlite3_bind_int64(st, 2, now);
	/* A failed count is a server fault, not a full account. */
	if (db_step(st) != SQLITE_ROW)
		goto fail;
	live = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (live >= KEYS_MAX) {
		db_rollback(conn);
		reply_err(r, 409, "too_many_keys", "An account holds at most "
		    "%d live keys; delete one first.", KEYS_MAX);
		return;
	}
	if ((st = db_prep(conn, key_insert_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	sqlite3_bind_int64(st, 3, who->user_id);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, scope, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, digest, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, now);
	if (expires != 0)
		sqlite3_bind_int64(st, 9, expires);
	if (db_step(st) != SQLITE_ROW)
		goto fail;
	k = key_json(st);
	if (!db_run(st) || !db_commit(conn)) {
		json_decref(k);
		goto fail;
	}
	json_object_set_new(k, "api_key", json_string(key));
	reply_json(r, 201, json_pack("{s:b, s:o, s:s}", "success", 1,
	    "key", k,
	    "message", "Save this key. It will not be shown again."));
	return;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error", "The key was not created.");
}

static const char key_list_sql[] =
    "SELECT " KEY_COLUMNS " FROM account_key "
    "WHERE account_id = ?1 AND revoked_at IS NULL "
    "ORDER BY created_at, id";

static void
key_list(struct req *r, const struct principal *who)
{
	sqlite3_stmt	*st = db_prep(db_main(), key_list_sql);
	json_t		*list;
	int		 rc;

	if (st == NULL) {
		reply_err(r, 500, "internal_error", "The list failed.");
		return;
	}
	sqlite3_bind_int64(st, 1, who->account_id);
	list = json_array();
	while ((rc = db_step(st)) == SQLITE_ROW)
		json_array_append_new(list, key_json(st));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(list);
		reply_err(r, 500, "internal_error", "The list failed.");
		return;
	}
	reply_json(r, 200, json_pack("{s:o}", "keys", list));
}

static const char key_revoke_sql[] =
    "UPDATE account_key SET revoked_at = ?3 "
    "WHERE public_id = ?1 AND account_id = ?2 AND revoked_at IS NULL";

/* The key stops working at once: auth looks for unrevoked keys only. */
static void
key_delete(struct req *r, const struct principal *who, const char *id)
{
	sqlite3_stmt	*st;

	if (!id_valid(id, "key_")) {
		reply_err(r, 404, "not_found", "No such key.");
		return;
	}
	if ((st = db_prep(db_main(), key_revoke_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	sqlite3_bind_int64(st, 3, iso_now());
	if (!db_run(st))
		goto fail;
	if (sqlite3_changes(db_main()) == 0)
		reply_err(r, 404, "not_found", "No such key.");
	else
		reply_none(r, 204);
	return;
fail:
	reply_err(r, 500, "internal_error", "The key was not deleted.");
}

/*
 * The audit log, newest first. The four statements differ only in the
 * filters, so that each can use its index. ?4/?5 is the cursor's
 * (at_ms, public id); without one, everything is before (max, max).
 */
#define AUDIT_LIST(filter) \
    "SELECT public_id, at_ms, who, ip, method, route, resource, action," \
    " result, status, request_id FROM audit_log " \
    "WHERE account_id = ?1" filter \
    " AND (at_ms, id) < (?4, coalesce((SELECT id FROM audit_log" \
    "  WHERE public_id = ?5), 9223372036854775807)) " \
    "ORDER BY at_ms DESC, id DESC LIMIT ?6"

static const char audit_all_sql[] = AUDIT_LIST("");
static const char audit_action_sql[] = AUDIT_LIST(" AND action = ?2");
static const char audit_resource_sql[] = AUDIT_LIST(" AND resource = ?3");
static const char audit_both_sql[] =
    AUDIT_LIST(" AND action = ?2 AND resource = ?3");

static json_t *
audit_json(sqlite3_stmt *st)
{
	char	 t[ISO_MAX];

	return json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
	    " s:I, s:o}",
	    "id", db_json_text(st, 0),
	    "created_at", iso_format_ms(t, sqlite3_column_int64(st, 1)),
	    "who", db_json_text(st, 2),
	    "ip", db_json_text(st, 3),
	    "method", db_json_text(st, 4),
	    "route", db_json_text(st, 5),
	    "resource", db_json_text(st, 6),
	    "action", db_json_text(st, 7),
	    "result", db_json_text(st, 8),
	    "status", (json_int_t)sqlite3_column_int64(st, 9),
	    "request_id", db_json_text(st, 10));
}

/*
 * Reads the optional filter ?name=: 1 to FILTER_MAX of [A-Za-z0-9_.:-]
 * (every action and id is). Returns 1 with *out (NULL when absent), or
 * 0 having answered 400 invalid_filter.
 */
static int
read_filter(struct req *r, const char *name, const char **out)
{
	const char	*v = req_query(r, name);
	size_t		 n;

	*out = v;
	if (v == NULL)
		return 1;
	n = strlen(v);
	if (n >= 1 && n <= FILTER_MAX && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.:-") == n)
		return 1;
	reply_err_extra(r, 400, "invalid_filter", "A filter is 1 to 64 "
	    "letters, digits and _ . : -.", json_pack("{s:s}", "field", name));
	return 0;
}

static void
audit_list(struct req *r, const struct principal *who)
{
	const char	*action, *resource, *sql;
	char		 context[2 * FILTER_MAX + 64], cursor[PAGE_CURSOR_MAX];
	struct page_pos	 pos, last;
	sqlite3_stmt	*st;
	json_t		*list;
	int		 limit, after, n = 0, more = 0, rc;

	if (!read_filter(r, "action", &action) ||
	    !read_filter(r, "resource", &resource))
		return;
	/* A cursor is good only for the same account and filters. */
	snprintf(context, sizeof(context), "audit:%lld:a=%s:r=%s",
	    (long long)who->account_id, action != NULL ? action : "",
	    resource != NULL ? resource : "");
	if (!page_params(r, context, &limit, &after, &pos))
		return;
	sql = action != NULL ? (resource != NULL ? audit_both_sql :
	    audit_action_sql) : resource != NULL ? audit_resource_sql :
	    audit_all_sql;
	if ((st = db_prep(db_main(), sql)) == NULL) {
		reply_err(r, 500, "internal_error", "The audit log failed.");
		return;
	}
	sqlite3_bind_int64(st, 1, who->account_id);
	if (action != NULL)
		sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
	if (resource != NULL)
		sqlite3_bind_text(st, 3, resource, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, after ? pos.t : INT64_MAX);
	if (after)
		sqlite3_bind_text(st, 5, pos.id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 6, limit + 1);
	list = json_array();
	while ((rc = db_step(st)) == SQLITE_ROW) {
		if (n == limit) {
			more = 1;
			break;
		}
		json_array_append_new(list, audit_json(st));
		last.t = sqlite3_column_int64(st, 1);
		snprintf(last.id, sizeof(last.id), "%s", db_text(st, 0));
		n++;
	}
	sqlite3_reset(st);
	if (rc == 0 || (more && !page_cursor_make(cursor, context, &last))) {
		json_decref(list);
		reply_err(r, 500, "internal_error", "The audit log failed.");
		return;
	}
	reply_json(r, 200, json_pack("{s:o, s:o}", "entries", list,
	    "next_cursor", more ? json_string(cursor) : json_null()));
}

static void
dispatch(struct req *r)
{
	struct principal	 who;
	const char		*m = r->method;

	if (req_path_is(r, 2, "account", "keys") ||
	    req_path_is(r, 3, "account", "keys", "*")) {
		/* Keys are managed signed in: no key can mint or revoke one. */
		if (!auth_require(r, &who, SCOPE_SESSION))
			return;
		if (r->nsegs == 3 && strcmp(m, "DELETE") == 0)
			key_delete(r, &who, req_seg(r, 2));
		else if (r->nsegs == 3)
			reply_method_not_allowed(r, "DELETE");
		else if (strcmp(m, "GET") == 0)
			key_list(r, &who);
		else if (strcmp(m, "POST") == 0)
			key_create(r, &who);
		else
			reply_method_not_allowed(r, "GET, POST");
	} else if (req_path_is(r, 2, "account", "audit")) {
		if (!auth_require(r, &who, SCOPE_ADMIN) ||
		    !auth_gate(r, &who, GATE_ADMIN))
			return;
		if (strcmp(m, "GET") == 0)
			audit_list(r, &who);
		else
			reply_method_not_allowed(r, "GET");
	} else
		reply_err(r, 404, "not_found", "No such endpoint.");
}

/* What the audit log calls each endpoint. */
static const struct audit_ep audit[] = {
	{ "GET",	"/account/keys",	"key.list" },
	{ "POST",	"/account/keys",	"key.create" },
	{ "DELETE",	"/account/keys/:id",	"key.delete" },
	{ "GET",	"/account/audit",	"audit.list" },
	AUDIT_END
};

int
main(void)
{
	static const struct route rt = {
		.name = "account",
		.dispatch = dispatch,
		.audit = audit,
	};

	return req_run(&rt);
}
