/*
 * alerts: /api/v1/alerts/ID/acknowledge, /alerts/ID/resolve and
 * /servers/ID/mutes (SPEC 8).
 *
 * The Pro gate answers before the alert or server is looked up, so a
 * free account learns nothing about which ids exist (402 before 404).
 */
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "alert.h"
#include "rules.h"

static const char alert_find_sql[] =
    "SELECT a.id, a.status = 'open', a.acknowledged_at IS NOT NULL "
    "FROM alert a JOIN server s ON s.id = a.server_id "
    "WHERE a.public_id = ?1 AND s.account_id = ?2";
static const char alert_get_sql[] =
    "SELECT " ALERT_COLUMNS " FROM alert a "
    "JOIN server s ON s.id = a.server_id WHERE a.id = ?1";
static const char ack_sql[] =
    "UPDATE alert SET acknowledged_at = ?2, acknowledged_by = ?3 "
    "WHERE id = ?1 AND status = 'open' AND acknowledged_at IS NULL";

/* The caller's alert, as alert_find_sql sees it inside the write lock. */
struct found {
	int64_t	 id;		/* row id; 0: not found */
	int	 open;
	int	 acked;
};

/*
 * Looks up the caller's alert by public id. Returns 1 (f->id 0 when
 * there is none), or 0 on a database error.
 */
static int
alert_find(const struct principal *who, const char *id, struct found *f)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(f, 0, sizeof(*f));
	if ((st = db_prep(db_main(), alert_find_sql)) == NULL)
		return 0;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	if ((rc = db_step(st)) == SQLITE_ROW) {
		f->id = sqlite3_column_int64(st, 0);
		f->open = sqlite3_column_int(st, 1);
		f->acked = sqlite3_column_int(st, 2);
	}
	sqlite3_reset(st);
	return rc != 0;
}

/* Answers 200 with the alert of row id alert_id. */
static void
alert_reply(struct req *r, int64_t alert_id)
{
	sqlite3_stmt	*st = db_prep(db_main(), alert_get_sql);

	if (st != NULL) {
		sqlite3_bind_int64(st, 1, alert_id);
		if (db_step(st) == SQLITE_ROW)
			reply_json(r, 200, alert_json(st, 0));
		sqlite3_reset(st);
	}
	if (r->status == 0)
		reply_err(r, 500, "internal_error", "The alert was not read.");
}

/*
 * Opens the write transaction in which an alert of the caller's account
 * is acted on, and finds it. Returns 1 inside the transaction with f
 * filled, or 0 having answered (404 for a malformed, unknown or other
 * account's id; 500 on a database error) with no transaction open.
 */
static int
alert_begin(struct req *r, const struct principal *who, const char *id,
    struct found *f)
{
	sqlite3	*conn = db_main();

	if (id_valid(id, "alr_")) {
		if (!db_begin(conn) || !alert_find(who, id, f)) {
			db_rollback(conn);
			reply_err(r, 500, "internal_error",
			    "The alert could not be read.");
			return 0;
		}
		if (f->id != 0)
			return 1;
		db_rollback(conn);
	}
	reply_err(r, 404, "not_found", "No such alert.");
	return 0;
}

/*
 * acknowledge and resolve: look the alert up and change it inside one
 * write transaction, then answer with it. Repeating either is a no-op
 * success; acknowledging a resolved alert is a conflict.
 */
static void
alert_acknowledge(struct req *r, const struct principal *who, const char *id)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	struct found	 f;

	if (!alert_begin(r, who, id, &f))
		return;
	if (!f.open) {
		db_rollback(conn);
		reply_err(r, 409, "alert_resolved",
		    "This alert is already resolved.");
		return;
	}
	if (!f.acked) {
		if ((st = db_prep(conn, ack_sql)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, f.id);
		sqlite3_bind_int64(st, 2, iso_now());
		sqlite3_bind_int64(st, 3, who->user_id);
		if (!db_run(st))
			goto fail;
	}
	if (!db_commit(conn))
		goto fail;
	alert_reply(r, f.id);
	return;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error", "The alert was not acknowledged.");
}

static void
alert_resolve_manual(struct req *r, const struct principal *who,
    const char *id)
{
	sqlite3		*conn = db_main();
	struct found	 f;

	if (!alert_begin(r, who, id, &f))
		return;
	/* Outbox row and all, as when the condition clears by itself. */
	if (f.open && !alert_resolve_id(f.id, "manual", iso_now()))
		goto fail;
	if (!db_commit(conn))
		goto fail;
	alert_reply(r, f.id);
	return;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error", "The alert was not resolved.");
}

static const char mutes_list_sql[] =
    "SELECT rule FROM mute WHERE server_id = ?1 ORDER BY rule";

/* Answers 200 with the server's mutes and the catalogue to pick from. */
static void
mutes_reply(struct req *r, int64_t server_id, const char *public_id)
{
	sqlite3_stmt	*st = db_prep(db_main(), mutes_list_sql);
	json_t		*muted, *rules;
	int		 i, rc;

	if (st == NULL) {
		reply_err(r, 500, "internal_error", "The mutes were not read.");
		return;
	}
	muted = json_array();
	sqlite3_bind_int64(st, 1, server_id);
	while ((rc = db_step(st)) == SQLITE_ROW)
		json_array_append_new(muted, json_string(db_text(st, 0)));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(muted);
		reply_err(r, 500, "internal_error", "The mutes were not read.");
		return;
	}
	rules = json_array();
	for (i = 0; i < rule_count; i++)
		json_array_append_new(rules, json_pack("{s:s, s:s, s:s}",
		    "id", rule_catalog[i].id,
		    "description", rule_catalog[i].description,
		    "kind", rule_catalog[i].kind == RULE_EVENT ?
		    "event" : "state"));
	reply_json(r, 200, json_pack("{s:s, s:o, s:o}", "server_id",
	    public_id, "muted_rules", muted, "rules", rules));
}

static void
mutes_get(struct req *r, const struct principal *who, const char *id)
{
	int64_t	 server_id;

	if ((server_id = auth_own_server(r, who, id)) != 0)
		mutes_reply(r, server_id, id);
}

/*
 * The body's muted_rules, checked: an array of at most the catalogue's
 * size of known rule ids. Returns it (borrowed from the body), or NULL
 * having answered 400.
 */
static json_t *
mutes_body(struct req *r)
{
	json_t		*body, *list, *v;
	size_t		 i;

	if ((body = req_json_object(r)) == NULL)
		return NULL;
	list = json_object_get(body, "muted_rules");
	if (!json_is_array(list)) {
		valid_fail(r, "muted_rules",
		    "muted_rules must be an array of rule ids.");
		return NULL;
	}
	if (json_array_size(list) > (size_t)rule_count) {
		valid_fail(r, "muted_rules",
		    "muted_rules has more entries than there are rules (%d).",
		    rule_count);
		return NULL;
	}
	json_array_foreach(list, i, v) {
		if (!json_is_string(v)) {
			valid_fail(r, "muted_rules",
			    "muted_rules must contain only rule id strings.");
			return NULL;
		}
		if (rule_find(json_string_value(v)) == NULL) {
			reply_err_extra(r, 400, "unknown_rule",
			    "muted_rules names a rule that does not exist; "
			    "GET the mutes for the catalogue.",
			    json_pack("{s:O}", "rule", v));
			return NULL;
		}
	}
	return list;
}

/*
 * Replacing keeps the rows (and created_at) of rules that stay muted;
 * the primary key collapses duplicates.
 */
static const char mutes_drop_sql[] =
    "DELETE FROM mute WHERE server_id = ?1"
    " AND rule NOT IN (SELECT value FROM json_each(?2))";
static const char mutes_add_sql[] =
    "INSERT OR IGNORE INTO mute (server_id, rule, created_at) "
    "SELECT ?1, value, ?3 FROM json_each(?2)";

static void
mutes_put(struct req *r, const struct principal *who, const char *id)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	json_t		*list;
	char		*text = NULL;
	int64_t		 server_id;
	int		 i;

	/* The server is looked up under the write lock: it can't vanish. */
	if (!db_begin(conn))
		goto fail;
	if ((server_id = auth_own_server(r, who, id)) == 0 ||
	    (list = mutes_body(r)) == NULL) {
		db_rollback(conn);
		return;
	}
	if ((text = json_dumps(list, KILN_JSON)) == NULL)
		goto fail;
	for (i = 0; i < 2; i++) {
		if ((st = db_prep(conn, i == 0 ? mutes_drop_sql :
		    mutes_add_sql)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, server_id);
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
		if (i == 1)
			sqlite3_bind_int64(st, 3, iso_now());
		if (!db_run(st))
			goto fail;
	}
	if (!db_commit(conn))
		goto fail;
	free(text);
	mutes_reply(r, server_id, id);
	return;
fail:
	db_rollback(conn);
	free(text);
	reply_err(r, 500, "internal_error", "The mutes were not saved.");
}

static void
dispatch(struct req *r)
{
	struct principal	 who;
	const char		*m = r->method, *id = req_seg(r, 1);
	int			 get = strcmp(m, "GET") == 0;
	int			 post = strcmp(m, "POST") == 0;

	if (r->nsegs != 3) {
		reply_err(r, 404, "not_found", "No such endpoint.");
		return;
	}
	if (!auth_require(r, &who, get ? SCOPE_READ : SCOPE_WRITE))
		return;
	if (req_path_is(r, 3, "alerts", "*", "acknowledge")) {
		if (!post)
			reply_method_not_allowed(r, "POST");
		else if (auth_gate(r, &who, GATE_PRO))
			alert_acknowledge(r, &who, id);
	} else if (req_path_is(r, 3, "alerts", "*", "resolve")) {
		if (!post)
			reply_method_not_allowed(r, "POST");
		else if (auth_gate(r, &who, GATE_PRO))
			alert_resolve_manual(r, &who, id);
	} else if (req_path_is(r, 3, "servers", "*", "mutes")) {
		if (get)
			mutes_get(r, &who, id);
		else if (strcmp(m, "PUT") != 0)
			reply_method_not_allowed(r, "GET, PUT");
		else if (auth_gate(r, &who, GATE_PRO | GATE_ADMIN))
			mutes_put(r, &who, id);
	} else
		reply_err(r, 404, "not_found", "No such endpoint.");
}

/* What the audit log calls each endpoint. */
static const struct audit_ep audit[] = {
	{ "POST",	"/alerts/:id/acknowledge",	"alert.acknowledge" },
	{ "POST",	"/alerts/:id/resolve",		"alert.resolve" },
	{ "GET",	"/servers/:id/mutes",		"mutes.get" },
	{ "PUT",	"/servers/:id/mutes",		"mutes.update" },
	AUDIT_END
};

int
main(void)
{
	static const struct route rt = {
		.name = "alerts",
		.dispatch = dispatch,
		.audit = audit,
	};

	return req_run(&rt);
}
