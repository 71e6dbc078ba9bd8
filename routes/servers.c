/*
 * servers: /api/v1/servers[/ID[/rotate-key|/restore]] and
 * /servers/restore-all.
 */
#include <stdio.h>
#include <string.h>

#include "kiln.h"
#include "billing.h"
#include "health.h"
#include "rules.h"

#define MAX_TAG_FILTERS	20

/*
 * The columns of a server as the API shows it, in the order
 * server_json() reads them; the last two are its open alerts and the
 * worst drive state its latest snapshot showed ("pending" before one).
 */
#define SERVER_COLUMNS \
    "s.public_id, s.name, s.hostname, s.ip, s.os_type, s.os_version," \
    " s.status, s.suspended_at, s.suspended_reason, s.last_seen_at," \
    " s.collector_version, s.created_at, s.tags, s.dmi_vendor," \
    " s.dmi_product, s.ipmi_sensors_count, s.config_overrides," \
    " s.free_analysis_used," \
    " (SELECT count(*) FROM alert a WHERE a.server_id = s.id" \
    "  AND a.status = 'open')," \
    " CASE WHEN s.last_seen_at IS NULL THEN '" DISK_HEALTH_PENDING "'" \
    "  ELSE coalesce(s.disk_health, 'healthy') END"

/* A server row (SERVER_COLUMNS) as JSON; full adds the detail fields. */
static json_t *
server_json(sqlite3_stmt *st, int full)
{
	json_t	*s = json_object();

	json_object_set_new(s, "id", db_json_text(st, 0));
	json_object_set_new(s, "name", db_json_text(st, 1));
	json_object_set_new(s, "hostname", db_json_text(st, 2));
	json_object_set_new(s, "ip", db_json_text(st, 3));
	json_object_set_new(s, "os_type", db_json_text(st, 4));
	json_object_set_new(s, "os_version", db_json_text(st, 5));
	json_object_set_new(s, "status", db_json_text(st, 6));
	json_object_set_new(s, "suspended_at", db_json_time(st, 7));
	json_object_set_new(s, "suspended_reason", db_json_text(st, 8));
	json_object_set_new(s, "last_seen_at", db_json_time(st, 9));
	json_object_set_new(s, "collector_version", db_json_text(st, 10));
	json_object_set_new(s, "active_alerts", db_json_int(st, 18));
	json_object_set_new(s, "disk_health_rollup", db_json_text(st, 19));
	json_object_set_new(s, "created_at", db_json_time(st, 11));
	json_object_set_new(s, "tags", db_json_parsed(st, 12));
	json_object_set_new(s, "dmi_vendor", db_json_text(st, 13));
	json_object_set_new(s, "dmi_product", db_json_text(st, 14));
	json_object_set_new(s, "ipmi_sensors_count", db_json_int(st, 15));
	if (full) {
		json_object_set_new(s, "config_overrides", db_json_parsed(st, 16));
		json_object_set_new(s, "free_analysis_used",
		    json_boolean(sqlite3_column_int(st, 17)));
	}
	return s;
}

static const char server_get_sql[] =
    "SELECT " SERVER_COLUMNS " FROM server s "
    "WHERE s.public_id = ?1 AND s.account_id = ?2";

/*
 * The server id in the path as JSON, or NULL having answered 404. Another
 * account's server is "not found" too: no existence leak.
 */
static json_t *
server_load(struct req *r, const struct principal *who, const char *id,
    int full)
{
	sqlite3_stmt	*st = db_prep(db_main(), server_get_sql);
	json_t		*s = NULL;

	if (id_valid(id, "srv_") && st != NULL) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, who->account_id);
		if (db_step(st) == SQLITE_ROW)
			s = server_json(st, full);
		sqlite3_reset(st);
	}
	if (s == NULL)
		reply_err(r, 404, "not_found", "No such server.");
	return s;
}

/* 1 when the account may have one more active server (else 402). */
static int
quota_allows(struct req *r, const struct principal *who)
{
	int64_t	 room = billing_quota_room(who->account_id, who->plan);

	if (room == BILLING_QUOTA_ERROR)
		return 0;	/* the caller answers 500 */
	if (room == BILLING_NO_LIMIT || room > 0)
		return 1;
	reply_err_extra(r, 402, "server_quota_exceeded",
	    "The free plan allows a limited number of active servers; "
	    "upgrade to Pro for more.",
	    json_pack("{s:I, s:o}", "free_server_quota",
	    (json_int_t)cfg_int("free_server_quota"),
	    "upgrade_url", auth_upgrade_url()));
	return 0;
}

/* A fresh collector key (into key) and its stored hash. */
static int
new_collector_key(char key[KEY_MAX], unsigned char digest[HASH_LEN])
{
	return id_key_new(key, KEY_PREFIX_COLLECTOR) &&
	    hash_peppered(digest, key);
}

static const char server_insert_sql[] =
    "INSERT INTO server (public_id, account_id, name, hostname, tags,"
    " key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static void
create(struct req *r, const struct principal *who, json_t *body)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	const char	*name, *hostname;
	json_t		*tags = NULL;
	char		 id[ID_MAX], key[KEY_MAX], url[512], *tags_text = NULL;
	unsigned char	 digest[HASH_LEN];

	if (!valid_string(r, body, "name", 1, 100, 1, &name) ||
	    !valid_string(r, body, "hostname", 1, 253, 0, &hostname) ||
	    !valid_tags(r, body, "tags", &tags))
		goto out;
	if (hostname == NULL)
		hostname = name;
	/* Owned and released at out, like the validated array. */
	if (tags == NULL)
		tags = json_array();
	if (!valid_hostname(hostname)) {
		valid_fail(r, json_object_get(body, "hostname") != NULL ?
		    "hostname" : "name", "hostname must be a valid RFC 1035 "
		    "host name (give one when name is not).");
		goto out;
	}
	if (!rate_check(r, &RATE_SERVER_CREATE, who->account_bucket))
		goto out;
	tags_text = json_dumps(tags, KILN_JSON);
	if (!id_new(id, "srv_") || !new_collector_key(key, digest) ||
	    tags_text == NULL || !db_begin(conn))
		goto fail;
	/* Counted inside the write lock so two creates can't both squeeze in. */
	if (!quota_allows(r, who)) {
		db_rollback(conn);
		if (r->status == 0)
			goto fail;
		goto out;
	}
	if ((st = db_prep(conn, server_insert_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, tags_text, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, digest, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, iso_now());
	if (!db_run(st) || !db_commit(conn))
		goto fail;
	snprintf(url, sizeof(url), "%s%s/ingest", cfg_get("base_url"),
	    API_PREFIX);
	reply_json(r, 201, json_pack("{s:b, s:{s:s, s:s, s:s, s:O, s:s},"
	    " s:s, s:s}", "success", 1,
	    "server", "id", id, "name", name, "hostname", hostname,
	    "tags", tags, "api_key", key,
	    "ingest_url", url,
	    "message", "Save your collector key. It will not be shown again."));
	goto out;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error", "The server was not created.");
out:
	free(tags_text);
	json_decref(tags);
}

static void
server_create(struct req *r, const struct principal *who)
{
	struct idem	 im;
	json_t		*body;

	if (!idem_begin(r, who->account_id, &im))
		return;
	if ((body = req_json_object(r)) != NULL)
		create(r, who, body);
	idem_finish(r, &im);
}

static const char server_list_sql[] =
    "SELECT " SERVER_COLUMNS " FROM server s "
    "WHERE s.account_id = ?1"
    " AND (?2 IS NULL OR (s.created_at, s.id) >"
    "  (?2, coalesce((SELECT id FROM server WHERE public_id = ?3), -1)))"
    " AND NOT EXISTS (SELECT 1 FROM json_each(?4) want"
    "  WHERE want.value NOT IN (SELECT value FROM json_each(s.tags))) "
    "ORDER BY s.created_at, s.id LIMIT ?5";

static void
server_list(struct req *r, const struct principal *who)
{
	const char	*want[MAX_TAG_FILTERS];
	struct page_pos	 pos, last;
	sqlite3_stmt	*st;
	json_t		*list, *filter = json_array();
	char		*filter_text = NULL, *context = NULL, cursor[PAGE_CURSOR_MAX];
	int		 ntags, limit, after, n = 0, i, more = 0, rc;

	ntags = req_query_all(r, "tag", want, MAX_TAG_FILTERS);
	if (ntags > MAX_TAG_FILTERS) {
		reply_err(r, 400, "invalid_tag", "At most %d tag filters.",
		    MAX_TAG_FILTERS);
		goto out;
	}
	for (i = 0; i < ntags; i++) {
		size_t	 c = valid_chars(want[i]);
		json_t	*tag = json_string(want[i]);	/* NULL: bad UTF-8 */

		if (c < 1 || c > 50 || tag == NULL) {
			json_decref(tag);
			reply_err(r, 400, "invalid_tag", "A tag filter must be "
			    "1 to 50 characters of UTF-8.");
			goto out;
		}
		json_array_append_new(filter, tag);
	}
	if ((filter_text = json_dumps(filter, KILN_JSON)) == NULL)
		goto fail;
	/* A cursor is good only for the same account and the same filter. */
	context = req_alloc(r, strlen(filter_text) + 40);
	snprintf(context, strlen(filter_text) + 40, "servers:%lld:%s", (long long)who->account_id,
	    filter_text);
	if (!page_params(r, context, &limit, &after, &pos))
		goto out;
	if ((st = db_prep(db_main(), server_list_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, who->account_id);
	if (after) {
		sqlite3_bind_int64(st, 2, pos.t);
		sqlite3_bind_text(st, 3, pos.id, -1, SQLITE_TRANSIENT);
	}
	sqlite3_bind_text(st, 4, filter_text, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, limit + 1);
	list = json_array();
	while ((rc = db_next(st)) > 0) {
		if (n == limit) {
			more = 1;
			break;
		}
		json_array_append_new(list, server_json(st, 0));
		last.t = sqlite3_column_int64(st, 11);
		snprintf(last.id, sizeof(last.id), "%s", db_text(st, 0));
		n++;
	}
	sqlite3_reset(st);
	if (rc < 0 || (more && !page_cursor_make(cursor, context, &last))) {
		json_decref(list);
		goto fail;
	}
	reply_json(r, 200, json_pack("{s:o, s:o}", "servers", list,
	    "next_cursor", more ? json_string(cursor) : json_null()));
	goto out;
fail:
	reply_err(r, 500, "internal_error", "The list failed.");
out:
	free(filter_text);
	json_decref(filter);
}

static void
server_get(struct req *r, const struct principal *who, const char *id)
{
	json_t	*s = server_load(r, who, id, 1);

	if (s != NULL)
		reply_json(r, 200, s);
}

static const char server_update_sql[] =
    "UPDATE server SET name = coalesce(?3, name),"
    " tags = coalesce(?4, tags),"
    " config_overrides = coalesce(?5, config_overrides) "
    "WHERE public_id = ?1 AND account_id = ?2";

static void
server_update(struct req *r, const struct principal *who, const char *id)
{
	sqlite3_stmt	*st;
	json_t		*body, *tags = NULL, *over, *s;
	const char	*name, *why;
	char		 where[160], *tags_text = NULL, *over_text = NULL;

	if ((s = server_load(r, who, id, 0)) == NULL)
		return;
	json_decref(s);
	if ((body = req_json_object(r)) == NULL ||
	    !valid_string(r, body, "name", 1, 100, 0, &name) ||
	    !valid_tags(r, body, "tags", &tags))
		goto out;
	if (json_object_get(body, "hostname") != NULL) {
		valid_fail(r, "hostname", "hostname can't be changed, so the "
		    "server can still be found after a rename.");
		goto out;
	}
	over = json_object_get(body, "config_overrides");
	if (over != NULL && json_is_null(over))
		over_text = strdup("{}");
	else if (over != NULL) {
		if (!rule_overrides_valid(over, where, sizeof(where), &why)) {
			valid_fail(r, where, "%s %s.", where, why);
			goto out;
		}
		over_text = json_dumps(over, KILN_JSON);
	}
	if (tags != NULL)
		tags_text = json_dumps(tags, KILN_JSON);
	if ((st = db_prep(db_main(), server_update_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	if (name != NULL)
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	if (tags_text != NULL)
		sqlite3_bind_text(st, 4, tags_text, -1, SQLITE_STATIC);
	if (over_text != NULL)
		sqlite3_bind_text(st, 5, over_text, -1, SQLITE_STATIC);
	if (!db_run(st))
		goto fail;
	server_get(r, who, id);
	goto out;
fail:
	reply_err(r, 500, "internal_error", "The server was not updated.");
out:
	free(tags_text);
	free(over_text);
	json_decref(tags);
}

static const char server_delete_sql[] =
    "DELETE FROM server WHERE public_id = ?1 AND account_id = ?2";

static void
server_delete(struct req *r, const struct principal *who, const char *id)
{
	sqlite3_stmt	*st;
	json_t		*s;

	if ((s = server_load(r, who, id, 0)) == NULL)
		return;
	json_decref(s);
	if (!req_query_is(r, "confirm", "true")) {
		reply_err(r, 400, "confirmation_required",
		    "Add ?confirm=true: deleting a server removes all its "
		    "data.");
		return;
	}
	if (!rate_check(r, &RATE_SERVER_DELETE, who->account_bucket))
		return;
	if ((st = db_prep(db_main(), server_delete_sql)) == NULL) {
		reply_err(r, 500, "internal_error", "Delete failed.");
		return;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	if (!db_run(st))
		reply_err(r, 500, "internal_error", "Delete failed.");
	else
		reply_json(r, 200, json_pack("{s:b, s:s}", "success", 1,
		    "deleted", id));
}

static const char rotate_sql[] =
    "UPDATE server SET key_hash = ?3, key_rotated_at = ?4 "
    "WHERE public_id = ?1 AND account_id = ?2";

static void
server_rotate_key(struct req *r, const struct principal *who, const char *id)
{
	sqlite3_stmt	*st;
	json_t		*s;
	char		 key[KEY_MAX], when[ISO_MAX];
	unsigned char	 digest[HASH_LEN];
	int64_t		 now = iso_now();

	if ((s = server_load(r, who, id, 0)) == NULL)
		return;
	json_decref(s);
	if (!rate_check(r, &RATE_ROTATE_KEY, who->account_bucket))
		return;
	if (!new_collector_key(key, digest) ||
	    (st = db_prep(db_main(), rotate_sql)) == NULL) {
		reply_err(r, 500, "internal_error", "The key was not rotated.");
		return;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	sqlite3_bind_blob(st, 3, digest, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (!db_run(st)) {
		reply_err(r, 500, "internal_error", "The key was not rotated.");
		return;
	}
	reply_json(r, 200, json_pack("{s:b, s:{s:s}, s:s, s:s, s:s}",
	    "success", 1, "server", "id", id, "collector_key", key,
	    "rotated_at", iso_format(when, now),
	    "message", "Save this collector key. It will not be shown again."));
}

static const char can_restore_sql[] =
    "SELECT has_default_payment_method OR billing_enforcement_exempt "
    "FROM account WHERE id = ?1";

/* 1 when the account has a card on file or is exempt (else 400). */
static int
card_on_file(struct req *r, const struct principal *who)
{
	sqlite3_stmt	*st = db_prep(db_main(), can_restore_sql);
	int		 ok = 0;

	if (st != NULL) {
		sqlite3_bind_int64(st, 1, who->account_id);
		ok = db_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
		sqlite3_reset(st);
	}
	if (!ok)
		reply_err(r, 400, "no_card_on_file",
		    "Add a payment method in Settings to restore this "
		    "server.");
	return ok;
}

static const char restore_one_sql[] =
    "UPDATE server SET status = 'active', suspended_at = NULL,"
    " suspended_reason = NULL "
    "WHERE public_id = ?1 AND account_id = ?2 AND status = 'suspended'"
    " AND suspended_reason = 'no_card_on_file'";

static void
server_restore(struct req *r, const struct principal *who, const char *id)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	json_t		*s;
	const char	*reason;
	int		 suspended;

	if ((s = server_load(r, who, id, 0)) == NULL)
		return;
	suspended = strcmp(json_string_value(json_object_get(s, "status")),
	    "suspended") == 0;
	reason = json_string_value(json_object_get(s, "suspended_reason"));
	if (suspended && (reason == NULL ||
	    strcmp(reason, "no_card_on_file") != 0)) {
		json_decref(s);
		reply_err(r, 409, "not_restorable",
		    "This server was suspended by the operator; contact "
		    "support to restore it.");
		return;
	}
	json_decref(s);
	/* Restoring an active server is a no-op success: safe to retry. */
	if (suspended) {
		if (!card_on_file(r, who) || !db_begin(conn))
			goto done;
		if (!quota_allows(r, who)) {
			db_rollback(conn);
			goto done;
		}
		if ((st = db_prep(conn, restore_one_sql)) == NULL)
			goto fail;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, who->account_id);
		if (!db_run(st))
			goto fail;
		/* Suspended by the operator between the check and the lock. */
		if (sqlite3_changes(conn) == 0) {
			db_rollback(conn);
			reply_err(r, 409, "not_restorable", "This server was "
			    "suspended by the operator; contact support.");
			return;
		}
		if (!db_commit(conn))
			goto fail;
	}
	if ((s = server_load(r, who, id, 0)) != NULL)
		reply_json(r, 200, json_pack("{s:b, s:o}", "success", 1,
		    "server", s));
	return;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error", "The server was not restored.");
done:
	if (r->status == 0)
		reply_err(r, 500, "internal_error", "Restore failed.");
}

/* The oldest first; on the free plan only as many as the quota allows. */
static void
server_restore_all(struct req *r, const struct principal *who)
{
	sqlite3		*conn = db_main();
	int64_t		 n;

	if (!card_on_file(r, who) || !db_begin(conn))
		goto fail;
	if ((n = billing_restore(who->account_id)) < 0 || !db_commit(conn))
		goto fail;
	reply_json(r, 200, json_pack("{s:b, s:I}", "success", 1,
	    "restored", (json_int_t)n));
	return;
fail:
	db_rollback(conn);
	if (r->status == 0)
		reply_err(r, 500, "internal_error", "Restore failed.");
}

static void
dispatch(struct req *r)
{
	struct principal	 who;
	const char		*m = r->method, *id = req_seg(r, 1);
	int			 get = strcmp(m, "GET") == 0;
	int			 post = strcmp(m, "POST") == 0;

	if (r->nsegs < 1 || r->nsegs > 3) {
		reply_err(r, 404, "not_found", "No such endpoint.");
		return;
	}
	if (!auth_require(r, &who, get ? SCOPE_READ : SCOPE_WRITE))
		return;
	if (req_path_is(r, 1, "servers")) {
		if (get)
			server_list(r, &who);
		else if (post)
			server_create(r, &who);
		else
			reply_method_not_allowed(r, "GET, POST");
	} else if (req_path_is(r, 2, "servers", "restore-all")) {
		if (post)
			server_restore_all(r, &who);
		else
			reply_method_not_allowed(r, "POST");
	} else if (req_path_is(r, 2, "servers", "*")) {
		if (get)
			server_get(r, &who, id);
		else if (strcmp(m, "PATCH") == 0)
			server_update(r, &who, id);
		else if (strcmp(m, "DELETE") == 0)
			server_delete(r, &who, id);
		else
			reply_method_not_allowed(r, "GET, PATCH, DELETE");
	} else if (req_path_is(r, 3, "servers", "*", "rotate-key")) {
		if (post)
			server_rotate_key(r, &who, id);
		else
			reply_method_not_allowed(r, "POST");
	} else if (req_path_is(r, 3, "servers", "*", "restore")) {
		if (post)
			server_restore(r, &who, id);
		else
			reply_method_not_allowed(r, "POST");
	} else
		reply_err(r, 404, "not_found", "No such endpoint.");
}

/* What the audit log calls each endpoint. */
static const struct audit_ep audit[] = {
	{ "GET",	"/servers",			"server.list" },
	{ "POST",	"/servers",			"server.create" },
	{ "POST",	"/servers/restore-all",		"server.restore_all" },
	{ "GET",	"/servers/:id",			"server.get" },
	{ "PATCH",	"/servers/:id",			"server.update" },
	{ "DELETE",	"/servers/:id",			"server.delete" },
	{ "POST",	"/servers/:id/rotate-key",	"server.rotate_key" },
	{ "POST",	"/servers/:id/restore",		"server.restore" },
	AUDIT_END
};

int
main(void)
{
	static const struct route rt = {
		.name = "servers",
		.dispatch = dispatch,
		.audit = audit,
	};

	return req_run(&rt);
}
