/*
 * alert: open, update, stack and resolve alerts; write outbox rows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "db.h"
#include "id.h"
#include "iso.h"
#include "log.h"
#include "req.h"
#include "rules.h"

/* What struct open_alert holds, in read_open_row's order. */
/* All in the index alert_open_state: the rows stay unread. */
#define OPEN_COLUMNS \
    "id, severity, acknowledged_at IS NOT NULL, occurrences, kind = 'event'," \
    " seen_with_server, content_hash"

/*
 * INDEXED BY: without statistics SQLite would rather take
 * alert_server_time, and read every alert the server ever had.
 */
static const char open_find_sql[] =
    "SELECT " OPEN_COLUMNS " FROM alert INDEXED BY alert_open_state"
    " WHERE server_id = ?1 AND rule = ?2 AND status = 'open'";
static const char open_all_sql[] =
    "SELECT " OPEN_COLUMNS ", rule FROM alert INDEXED BY alert_open_state"
    " WHERE server_id = ?1 AND status = 'open'";
static const char insert_sql[] =
    "INSERT INTO alert (public_id, server_id, rule, kind, severity, title,"
    " message, evidence, occurrences, opened_at, last_seen_at,"
    " seen_with_server, content_hash) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)";
/*
 * A state alert seen again. Nothing is written when nothing changed and
 * the alert already follows the server's last_seen_at: the common case,
 * and the reason for seen_with_server.
 */
static const char refresh_sql[] =
    "UPDATE alert SET severity = ?2, title = ?3, message = ?4,"
    " evidence = ?5, last_seen_at = ?6, seen_with_server = ?7,"
    " content_hash = ?8 "
    "WHERE id = ?1 AND NOT (severity IS ?2 AND title IS ?3 AND"
    " message IS ?4 AND evidence IS ?5 AND seen_with_server AND ?7 AND"
    " content_hash IS ?8)";
/* A new occurrence of an event clears the acknowledgement (SPEC 8). */
static const char stack_sql[] =
    "UPDATE alert SET severity = ?2, title = ?3, message = ?4,"
    " evidence = ?5, last_seen_at = ?6, occurrences = occurrences + ?7,"
    " acknowledged_at = NULL, acknowledged_by = NULL, content_hash = ?8 "
    "WHERE id = ?1";
/*
 * An alert that followed its server was last seen at ?4, or (?4 NULL)
 * at the server's latest snapshot.
 */
#define LAST_SEEN_PINNED \
    "last_seen_at = CASE WHEN seen_with_server THEN coalesce(?4," \
    " (SELECT last_seen_at FROM server WHERE id = alert.server_id))" \
    " ELSE last_seen_at END, seen_with_server = 0"
static const char resolve_sql[] =
    "UPDATE alert SET status = 'resolved', resolved_at = ?2,"
    " resolve_reason = ?3, " LAST_SEEN_PINNED " WHERE id = ?1";
static const char pin_sql[] =
    "UPDATE alert SET " LAST_SEEN_PINNED " WHERE id = ?1";
static const char pin_all_sql[] =
    "UPDATE alert SET last_seen_at = ?2, seen_with_server = 0 "
    "WHERE server_id = ?1 AND status = 'open' AND seen_with_server";
static const char outbox_sql[] =
    "INSERT INTO notify_outbox (alert_id, event, created_at) "
    "VALUES (?1, ?2, ?3)";
static const char occurrence_sql[] =
    "INSERT OR IGNORE INTO alert_occurrence (server_id, rule, key, seen_at) "
    "VALUES (?1, ?2, ?3, ?4)";
static const char open_by_id_sql[] =
    "SELECT " OPEN_COLUMNS " FROM alert WHERE id = ?1 AND status = 'open'";
static const char mutes_sql[] =
    "SELECT rule FROM mute WHERE server_id = ?1";
static const char open_count_sql[] =
    "SELECT count(*) FROM alert INDEXED BY alert_open_state"
    " WHERE server_id = ?1 AND status = 'open'";

/* The server's open alert of a rule. */
struct open_alert {
	int64_t	 id;		/* 0: none */
	int	 rank;		/* of its severity */
	int	 acked;
	int64_t	 occurrences;
	int	 event;		/* an event alert */
	int	 seen_with_server;
	int	 hashed;	/* content_hash is known */
	int64_t	 content_hash;
};

/*
 * How results are being applied: when, and whether they were judged on
 * the server's latest snapshot (ingest) rather than by a cron job.
 */
struct applying {
	int64_t	 now;
	int	 judged;
	int64_t	 prev_seen;	/* the snapshot before (judged), 0: none */
};

/* Fills a from the current row of an OPEN_COLUMNS query. */
static void
read_open_row(sqlite3_stmt *st, struct open_alert *a)
{
	a->id = sqlite3_column_int64(st, 0);
	a->rank = rule_rank(db_text(st, 1));
	a->acked = sqlite3_column_int(st, 2);
	a->occurrences = sqlite3_column_int64(st, 3);
	a->event = sqlite3_column_int(st, 4);
	a->seen_with_server = sqlite3_column_int(st, 5);
	a->hashed = sqlite3_column_type(st, 6) != SQLITE_NULL;
	a->content_hash = sqlite3_column_int64(st, 6);
}

/* Reads the open alert a bound open_find_sql / open_by_id_sql finds. */
static int
read_open(sqlite3_stmt *st, struct open_alert *a)
{
	int	 rc;

	if ((rc = db_step(st)) == SQLITE_ROW)
		read_open_row(st, a);
	sqlite3_reset(st);
	return rc != 0;
}

static int
find_open(int64_t server_id, const char *rule, struct open_alert *a)
{
	sqlite3_stmt	*st = db_prep(db_main(), open_find_sql);

	memset(a, 0, sizeof(*a));
	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	sqlite3_bind_text(st, 2, rule, -1, SQLITE_STATIC);
	return read_open(st, a);
}

static int
queue(int64_t alert_id, const char *event, int64_t now)
{
	sqlite3_stmt	*st = db_prep(db_main(), outbox_sql);

	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, alert_id);
	sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	return db_run(st);
}

#define FNV_OFFSET	14695981039346656037ULL
#define FNV_PRIME	1099511628211ULL

static uint64_t
fnv(uint64_t h, const void *bytes, size_t n)
{
	const unsigned char	*p = bytes;

	while (n-- > 0) {
		h ^= *p++;
		h *= FNV_PRIME;
	}
	return h;
}

/* A string, with its length first: "ab","c" and "a","bc" differ. */
static uint64_t
fnv_str(uint64_t h, const char *s, size_t n)
{
	uint64_t	 len = n;

	return fnv(fnv(h, &len, sizeof(len)), s, n);
}

/*
 * Folds a JSON value into h: its type, then what it holds (an object's
 * members in their order, which the rule that built it fixes). The
 * tree, not its text: a pass that finds its alert unchanged never
 * writes the evidence out.
 */
static uint64_t
fnv_json(uint64_t h, json_t *v)
{
	const char	*key;
	json_t		*item;
	json_int_t	 i;
	double		 d;
	size_t		 n;
	char		 type = (char)json_typeof(v);

	h = fnv(h, &type, 1);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach(v, key, item)
			h = fnv_json(fnv_str(h, key, strlen(key)), item);
		return fnv(h, "}", 1);
	case JSON_ARRAY:
		json_array_foreach(v, n, item)
			h = fnv_json(h, item);
		return fnv(h, "]", 1);
	case JSON_STRING:
		return fnv_str(h, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		i = json_integer_value(v);
		return fnv(h, &i, sizeof(i));
	case JSON_REAL:
		d = json_real_value(v);
		return fnv(h, &d, sizeof(d));
	default:	/* true, false, null: the type says it */
		return h;
	}
}

/*
 * content_hash: FNV-1a (64 bits) of severity, title, message and the
 * evidence's tree. Not keyed: a server's own agent could craft a
 * collision and keep its alert showing an older severity and words
 * (and miss its escalation), which it could as well by sending false
 * numbers.
 */
static int64_t
content_hash(const char *severity, const char *title, const char *message,
    json_t *evidence)
{
	const char	*part[] = { severity, title, message };
	uint64_t	 h = FNV_OFFSET;

	for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++)
		h = part[i] != NULL ? fnv_str(h, part[i], strlen(part[i])) :
		    fnv(h, "", 1);
	return (int64_t)(evidence != NULL ? fnv_json(h, evidence) : h);
}

/* Binds ?2..?6 and ?8 (content_hash) of refresh_sql / stack_sql. */
static void
bind_result(sqlite3_stmt *st, const struct rule_result *res,
    const char *title, const char *evidence, int64_t now)
{
	sqlite3_bind_text(st, 2, res->severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, res->message, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, evidence, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 8, content_hash(res->severity, title,
	    res->message, res->evidence));
}

static int
insert(int64_t server_id, const struct rule_def *rule,
    const struct rule_result *res, const char *title, const char *evidence,
    int64_t occurrences, const struct applying *at, int64_t *alert_id)
{
	sqlite3_stmt	*st = db_prep(db_main(), insert_sql);
	char		 pub[ID_MAX];

	if (st == NULL || !id_new(pub, "alr_"))
		return 0;
	sqlite3_bind_text(st, 1, pub, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, server_id);
	sqlite3_bind_text(st, 3, rule->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, rule->kind == RULE_EVENT ? "event" : "state",
	    -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, res->severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, res->message, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, evidence, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, occurrences);
	sqlite3_bind_int64(st, 10, at->now);
	sqlite3_bind_int(st, 11, rule->kind == RULE_STATE && at->judged);
	sqlite3_bind_int64(st, 12, content_hash(res->severity, title,
	    res->message, res->evidence));
	if (!db_run(st))
		return 0;
	*alert_id = sqlite3_last_insert_rowid(db_main());
	return 1;
}

/* Counts the occurrences of an event result not recorded before. */
static int
new_occurrences(int64_t server_id, const struct rule_def *rule,
    const struct rule_result *res, int64_t now, int64_t *fresh)
{
	sqlite3_stmt	*st;
	json_t		*key;
	size_t		 i;

	*fresh = 0;
	json_array_foreach(res->occurrences, i, key) {
		if (!json_is_string(key) ||
		    (st = db_prep(db_main(), occurrence_sql)) == NULL)
			continue;
		sqlite3_bind_int64(st, 1, server_id);
		sqlite3_bind_text(st, 2, rule->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, json_string_value(key), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		if (!db_run(st))
			return 0;
		*fresh += sqlite3_changes(db_main());
	}
	return 1;
}

static int
apply_event(int64_t server_id, const struct rule_def *rule,
    const struct rule_result *res, const struct open_alert *a,
    const char *evidence, const struct applying *at, int *opened)
{
	sqlite3_stmt	*st;
	char		 title[260];
	int64_t		 fresh, total, alert_id = a->id;

	if (!new_occurrences(server_id, rule, res, at->now, &fresh))
		return 0;
	if (fresh == 0)
		return 1;
	total = a->id != 0 ? a->occurrences + fresh : fresh;
	if (total > 1)
		snprintf(title, sizeof(title), "%s (%lld times)", res->title,
		    (long long)total);
	else
		snprintf(title, sizeof(title), "%s", res->title);
	if (a->id == 0) {
		if (!insert(server_id, rule, res, title, evidence, fresh, at,
		    &alert_id))
			return 0;
		(*opened)++;
	} else {
		if ((st = db_prep(db_main(), stack_sql)) == NULL)
			return 0;
		sqlite3_bind_int64(st, 1, a->id);
		bind_result(st, res, title, evidence, at->now);
		sqlite3_bind_int64(st, 7, fresh);
		if (!db_run(st))
			return 0;
	}
	return queue(alert_id, "firing", at->now);
}

static int
apply_state(int64_t server_id, const struct rule_def *rule,
    const struct rule_result *res, const struct open_alert *a,
    const char *evidence, const struct applying *at, int *opened)
{
	sqlite3_stmt	*st;
	int64_t		 alert_id;

	if (a->id == 0) {
		if (!insert(server_id, rule, res, res->title, evidence, 1, at,
		    &alert_id))
			return 0;
		(*opened)++;
		return queue(alert_id, "firing", at->now);
	}
	if ((st = db_prep(db_main(), refresh_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, a->id);
	bind_result(st, res, res->title, evidence, at->now);
	sqlite3_bind_int(st, 7, at->judged);
	if (!db_run(st))
		return 0;
	/* Getting worse is news, unless someone already acknowledged it. */
	if (rule_rank(res->severity) > a->rank && !a->acked)
		return queue(a->id, "firing", at->now);
	return 1;
}

/* Binds ?4 of LAST_SEEN_PINNED: the snapshot before, when judging one. */
static void
bind_pinned(sqlite3_stmt *st, const struct applying *at)
{
	if (at->judged && at->prev_seen > 0)
		sqlite3_bind_int64(st, 4, at->prev_seen);
	else
		sqlite3_bind_null(st, 4);
}

static int
resolve_open(const struct open_alert *a, const char *reason,
    const struct applying *at)
{
	sqlite3_stmt	*st = db_prep(db_main(), resolve_sql);

	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, a->id);
	sqlite3_bind_int64(st, 2, at->now);
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	bind_pinned(st, at);
	if (!db_run(st))
		return 0;
	/*
	 * "Resolved" is news for a state alert (the condition is gone); an
	 * event has no such end, and an acknowledged alert asked for quiet.
	 */
	return a->acked || a->event || queue(a->id, "resolved", at->now);
}

/*
 * A rule not judged on this snapshot (boot grace) leaves its alert
 * open, last seen in the snapshot before.
 */
static int
pin_open(const struct open_alert *a, const struct applying *at)
{
	sqlite3_stmt	*st;

	if (a->id == 0 || !a->seen_with_server)
		return 1;
	if ((st = db_prep(db_main(), pin_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, a->id);
	bind_pinned(st, at);
	return db_run(st);
}

int
alert_resolve(int64_t server_id, const char *rule, const char *reason,
    int64_t now)
{
	const struct applying	 at = { now, 0, 0 };
	struct open_alert	 a;

	if (!find_open(server_id, rule, &a))
		return 0;
	return a.id == 0 || resolve_open(&a, reason, &at);
}

int
alert_resolve_id(int64_t alert_id, const char *reason, int64_t now)
{
	const struct applying	 at = { now, 0, 0 };
	sqlite3_stmt		*st = db_prep(db_main(), open_by_id_sql);
	struct open_alert	 a;

	memset(&a, 0, sizeof(a));
	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, alert_id);
	if (!read_open(st, &a))
		return 0;
	return a.id == 0 || resolve_open(&a, reason, &at);
}

/* Applies res to the server's open alert a of rule (a->id 0: none). */
static int
apply_found(int64_t server_id, const struct rule_def *rule,
    const struct rule_result *res, const struct open_alert *a,
    const struct applying *at, int *opened)
{
	char	*evidence;
	int	 ok;

	if (res->severity == NULL) {
		/* Events end by hand or by TTL, never by a quiet snapshot. */
		if (a->id == 0 || rule->kind == RULE_EVENT)
			return 1;
		return resolve_open(a, "cleared", at);
	}
	/* A state alert unchanged, and following its server: nothing to
	 * write (apply_state writes it otherwise). */
	if (rule->kind == RULE_STATE && a->id != 0 && a->hashed &&
	    a->seen_with_server && at->judged &&
	    a->content_hash == content_hash(res->severity, res->title,
	    res->message, res->evidence))
		return 1;
	evidence = res->evidence != NULL ?
	    json_dumps(res->evidence, KILN_JSON) : NULL;
	if (rule->kind == RULE_EVENT)
		ok = apply_event(server_id, rule, res, a,
		    evidence != NULL ? evidence : "{}", at, opened);
	else
		ok = apply_state(server_id, rule, res, a,
		    evidence != NULL ? evidence : "{}", at, opened);
	free(evidence);
	return ok;
}

int
alert_apply(int64_t server_id, const struct rule_def *rule,
    const struct rule_result *res, int64_t now, int *opened)
{
	const struct applying	 at = { now, 0, 0 };
	struct open_alert	 a;

	return find_open(server_id, rule->id, &a) &&
	    apply_found(server_id, rule, res, &a, &at, opened);
}

/*
 * What one pass starts from, per rule of the catalogue (same index):
 * the server's open alert of it, and whether the rule is muted. Two
 * queries instead of one per rule.
 */
struct pass_state {
	struct open_alert	 open[RULE_CATALOG_MAX];
	char			 muted[RULE_CATALOG_MAX];
	/* Open alerts of rules this build doesn't know, still following. */
	struct open_alert	 stray[RULE_CATALOG_MAX];
	int			 nstray;
};

/* The catalogue index of rule id, or -1 for a rule no longer there. */
static int
catalog_index(const char *id)
{
	const struct rule_def	*rule = rule_find(id);

	return rule != NULL ? (int)(rule - rule_catalog) : -1;
}

static int
load_pass_state(int64_t server_id, struct pass_state *ps)
{
	sqlite3_stmt	*st;
	int		 rc, i;

	memset(ps, 0, sizeof(*ps));
	if ((st = db_prep(db_main(), open_all_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	while ((rc = db_next(st)) > 0) {
		if ((i = catalog_index(db_text(st, 7))) >= 0)
			read_open_row(st, &ps->open[i]);
		else if (ps->nstray < RULE_CATALOG_MAX)
			read_open_row(st, &ps->stray[ps->nstray++]);
	}
	sqlite3_reset(st);
	/* A partial state would open duplicates or let muted rules fire. */
	if (rc < 0 || (st = db_prep(db_main(), mutes_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	while ((rc = db_next(st)) > 0)
		if ((i = catalog_index(db_text(st, 0))) >= 0)
			ps->muted[i] = 1;
	sqlite3_reset(st);
	return rc == 0;
}

int
alert_pass(int64_t server_id, const struct rule_ctx *c, int64_t now,
    int64_t prev_seen, int *opened)
{
	const struct applying	 at = { now, 1, prev_seen };
	struct pass_state	 ps;
	struct rule_result	 res;
	int			 ok;

	ok = load_pass_state(server_id, &ps);
	/* Not judged: a rule of another build (a newer one, rolled back). */
	for (int i = 0; ok && i < ps.nstray; i++)
		ok = pin_open(&ps.stray[i], &at);
	for (int i = 0; ok && i < rule_count; i++) {
		const struct rule_def	*rule = &rule_catalog[i];
		struct open_alert	*a = &ps.open[i];

		if (ps.muted[i]) {
			ok = a->id == 0 || resolve_open(a, "muted", &at);
			continue;
		}
		if (rule->eval == NULL) {
			/* Raised by cron (server_unreachable): a push clears it. */
			ok = a->id == 0 || resolve_open(a, "cleared", &at);
			continue;
		}
		if (!rule_eval(c, rule, &res)) {
			ok = pin_open(a, &at);	/* boot grace */
			continue;
		}
		ok = apply_found(server_id, rule, &res, a, &at, opened);
		rule_result_clear(&res);
	}
	/* A rule that couldn't read the history it needed judged blind. */
	if (ok && c->source != NULL && c->source->failed) {
		kiln_log(LOG_ERR, "alert_pass: history of server %lld "
		    "unreadable", (long long)server_id);
		ok = 0;
	}
	return ok;
}

int
alert_unjudged(int64_t server_id, int64_t prev_seen)
{
	sqlite3_stmt	*st;

	/* Without a snapshot before, no alert can follow the server. */
	if (prev_seen <= 0)
		return 1;
	if ((st = db_prep(db_main(), pin_all_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	sqlite3_bind_int64(st, 2, prev_seen);
	return db_run(st);
}

int
alert_open_count(int64_t server_id)
{
	sqlite3_stmt	*st = db_prep(db_main(), open_count_sql);
	int		 n = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, server_id);
	if (db_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return n;
}

json_t *
alert_json(sqlite3_stmt *st, int c)
{
	json_t	*a = json_object(), *ev;

	/* evidence is stored as JSON text; a damaged one shows as {}. */
	if ((ev = json_loads(db_text(st, c + 7), 0, NULL)) == NULL ||
	    !json_is_object(ev)) {
		json_decref(ev);
		ev = json_object();
	}
	json_object_set_new(a, "id", db_json_text(st, c));
	json_object_set_new(a, "server_id", db_json_text(st, c + 1));
	json_object_set_new(a, "alert_type", db_json_text(st, c + 2));
	json_object_set_new(a, "kind", db_json_text(st, c + 3));
	json_object_set_new(a, "severity", db_json_text(st, c + 4));
	json_object_set_new(a, "title", db_json_text(st, c + 5));
	json_object_set_new(a, "message", db_json_text(st, c + 6));
	json_object_set_new(a, "evidence", ev);
	/* The table says open; the API (and its status filter) says active. */
	json_object_set_new(a, "status", json_string(
	    strcmp(db_text(st, c + 8), "open") == 0 ? "active" : "resolved"));
	json_object_set_new(a, "occurrences",
	    json_integer(sqlite3_column_int64(st, c + 9)));
	json_object_set_new(a, "opened_at", db_json_time(st, c + 10));
	json_object_set_new(a, "last_seen_at", db_json_time(st, c + 11));
	json_object_set_new(a, "acknowledged_at", db_json_time(st, c + 12));
	json_object_set_new(a, "resolved_at", db_json_time(st, c + 13));
	json_object_set_new(a, "resolve_reason", db_json_text(st, c + 14));
	return a;
}
