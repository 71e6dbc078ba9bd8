/*
 * ingest: POST /api/v1/ingest, the agents' snapshot push (SPEC 6).
 * Checks in order: per-IP bucket and body size (the library, with this
 * route's limits), key, suspension, the per-server gate, parse, shape;
 * then, in the transaction it shares with the pushes that arrived with
 * it (req_defer), the gate again, the snapshot and the rule pass.
 */
#include <math.h>
#include <string.h>

#include "kiln.h"
#include "alert.h"
#include "rules.h"
#include "snapshot.h"
#include "store.h"

#define MAX_SNAPSHOT	(512 * 1024)
#define GATE_MS		55000	/* one push per server per 55 s */
/*
 * Pushes that arrive together share one transaction (req_defer). 16 is
 * twice the connections of bench/run.sh; beyond a dozen or so the
 * commit's share of a push hardly shrinks.
 */
#define INGEST_BATCH	16

/* The server a collector key belongs to. */
struct pusher {
	int64_t	 id;
	int	 suspended;
	int64_t	 last_ingest_ms;	/* 0: never */
	double	 interval_s;		/* NAN: unknown */
	double	 uptime_s;		/* in the last push; NAN: unknown */
	json_t	*overrides;		/* owned */
};

static const char pusher_sql[] =
    "SELECT id, status = 'suspended', coalesce(last_ingest_ms, 0),"
    " interval_s, config_overrides, uptime_s FROM server WHERE id = ?1";

static int
load_pusher(int64_t id, struct pusher *p)
{
	sqlite3_stmt	*st = db_prep(db_main(), pusher_sql);
	int		 found = 0;

	memset(p, 0, sizeof(*p));
	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, id);
	if (db_step(st) == SQLITE_ROW) {
		p->id = sqlite3_column_int64(st, 0);
		p->suspended = sqlite3_column_int(st, 1);
		p->last_ingest_ms = sqlite3_column_int64(st, 2);
		p->interval_s = sqlite3_column_type(st, 3) == SQLITE_NULL ?
		    NAN : sqlite3_column_double(st, 3);
		p->overrides = json_loads(db_text(st, 4), 0, NULL);
		p->uptime_s = sqlite3_column_type(st, 5) == SQLITE_NULL ?
		    NAN : sqlite3_column_double(st, 5);
		found = 1;
	}
	sqlite3_reset(st);
	return found;
}

/* 1 when the server may push now; else answers 429 too_frequent. */
static int
gate_open(struct req *r, int64_t last_ms, int64_t now_ms)
{
	int64_t	 wait;

	/* A clock that stepped back must not lock the server out. */
	if (last_ms == 0 || now_ms - last_ms >= GATE_MS || now_ms < last_ms)
		return 1;
	wait = (GATE_MS - (now_ms - last_ms) + 999) / 1000;
	reply_header(r, "Retry-After", "%lld", (long long)wait);
	reply_err(r, 429, "too_frequent",
	    "One snapshot per server per 55 seconds; retry in %lld s.",
	    (long long)wait);
	return 0;
}

static const char gate_sql[] =
    "SELECT coalesce(last_ingest_ms, 0) FROM server WHERE id = ?1";

/* The gate again inside the write lock: two pushes can't both pass. */
static int
gate_recheck(struct req *r, int64_t server_id, int64_t now_ms)
{
	sqlite3_stmt	*st = db_prep(db_main(), gate_sql);
	int64_t		 last = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, server_id);
	if (db_step(st) == SQLITE_ROW)
		last = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return gate_open(r, last, now_ms);
}

/*
 * Runs the rules inside a savepoint: a failure there is logged and
 * rolled back to the savepoint, and the snapshot is kept. Returns the
 * alerts opened, or -1 when even the fallback failed.
 */
static int
rule_pass(int64_t server_id, const struct rule_ctx *c, int64_t now,
    int64_t prev_seen)
{
	int	 opened = 0;

	if (!db_run(db_prep(db_main(), "SAVEPOINT rules")))
		return -1;
	if (!alert_pass(server_id, c, now, prev_seen, &opened)) {
		kiln_log(LOG_ERR, "rule pass failed for server %lld; "
		    "snapshot kept", (long long)server_id);
		if (!db_run(db_prep(db_main(), "ROLLBACK TO rules")))
			return -1;
		/* Failing that too only shows a later last_seen_at. */
		if (!alert_unjudged(server_id, prev_seen))
			kiln_log(LOG_ERR, "server %lld: open alerts not "
			    "pinned", (long long)server_id);
		opened = 0;
	}
	return db_run(db_prep(db_main(), "RELEASE rules")) ? opened : -1;
}

/* One push between its checks and its write (see req_defer). */
struct push {
	struct pusher		 p;
	struct snapshot		 s;
	struct store_source	 source;
	struct rule_ctx		 ctx;
	int64_t			 now_ms;
	double			 interval;
};

static void
push_free(void *arg)
{
	struct push	*push = arg;

	snapshot_free(&push->s);
	store_source_free(&push->source);
	json_decref(push->p.overrides);
}

/*
 * The push's writes, inside the request loop's transaction: the gate
 * again (two pushes can't both pass), the snapshot, the rule pass.
 */
static int
push_store(struct req *r, void *arg)
{
	struct push	*push = arg;
	int64_t		 server_id = push->p.id, now_ms = push->now_ms;
	int64_t		 prev_seen = push->p.last_ingest_ms / 1000;
	char		 when[ISO_MAX];
	int		 opened, active, gate;

	if ((gate = gate_recheck(r, server_id, now_ms)) <= 0)
		return gate == 0;
	if (!store_snapshot(server_id, &push->s, r->body, r->body_len,
	    now_ms, push->interval) ||
	    (opened = rule_pass(server_id, &push->ctx, push->s.ts,
	    prev_seen)) < 0 || (active = alert_open_count(server_id)) < 0) {
		reply_err(r, 500, "internal_error",
		    "The snapshot was not stored.");
		return 0;
	}
	reply_json(r, 200, json_pack("{s:b, s:s, s:i, s:i}", "success", 1,
	    "received_at", iso_format_ms(when, now_ms),
	    "new_alerts", opened, "active_alerts", active));
	return 1;
}

static void
ingest(struct req *r)
{
	struct push	*push = req_alloc(r, sizeof(*push));
	struct pusher	*p = &push->p;
	const char	*key = auth_bearer(r), *code;
	char		 field[256];
	int64_t		 server_id;

	/* Owned by the request from here: push_free runs at its end. */
	req_defer(r, NULL, push, push_free);
	push->now_ms = iso_now_ms();
	if (key == NULL || (server_id = auth_collector_server(key)) == 0 ||
	    !load_pusher(server_id, p)) {
		reply_header(r, "WWW-Authenticate", "Bearer");
		reply_err(r, 401, "invalid_key",
		    "Send this server's collector key as Bearer token.");
		return;
	}
	if (p->suspended) {
		reply_err(r, 402, "server_suspended",
		    "This server is suspended; restore it in the dashboard.");
		return;
	}
	if (!gate_open(r, p->last_ingest_ms, push->now_ms))
		return;
	if (!snapshot_parse(&push->s, r->body, r->body_len, &code, field,
	    sizeof(field))) {
		if (strcmp(code, "invalid_json") == 0)
			reply_err(r, 400, code, "The snapshot is not valid "
			    "JSON: %s.", field);
		else
			reply_err_extra(r, 400, code, strcmp(code,
			    "oversize_field") == 0 ? "A string in the snapshot "
			    "exceeds 64 KiB." : "A field of the snapshot has "
			    "the wrong type.", json_pack("{s:s}", "field",
			    field));
		return;
	}
	push->s.ts = push->now_ms / 1000;
	snapshot_derive(&push->s);
	push->interval = p->last_ingest_ms != 0 ? store_cadence(p->interval_s,
	    (push->now_ms - p->last_ingest_ms) / 1000.0) : p->interval_s;
	store_source_init(&push->source, server_id, push->now_ms);
	push->ctx.cur = &push->s;
	push->ctx.overrides = p->overrides;
	push->ctx.source = &push->source.src;
	push->ctx.prev_ts = p->last_ingest_ms / 1000;
	push->ctx.prev_uptime = p->uptime_s;
	req_defer(r, push_store, push, push_free);
}

static void
dispatch(struct req *r)
{
	if (!req_path_is(r, 1, "ingest"))
		reply_err(r, 404, "not_found", "No such endpoint.");
	else if (strcmp(r->method, "POST") != 0)
		reply_method_not_allowed(r, "POST");
	else
		ingest(r);
}

int
main(void)
{
	/* Every push writes: no push waits for a checkpoint. */
	static const struct route rt = {
		.name = "ingest",
		.dispatch = dispatch,
		.max_body = MAX_SNAPSHOT,
		.ip_class = &RATE_INGEST_IP,
		.checkpoints = 1,
		.batch = INGEST_BATCH,
	};

	return req_run(&rt);
}
