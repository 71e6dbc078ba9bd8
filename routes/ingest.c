/*
 * ingest: POST /api/v1/ingest, the agents' snapshot push (SPEC 6).
 * Checks in order: per-IP bucket and body size (the library, with this
 * route's limits), key, suspension, the per-server gate, parse, shape;
 * then the snapshot and the rule pass. All but the first two and a
 * malformed key answer from inside the transaction the push shares
 * with those that arrived with it (req_defer), though a snapshot of a
 * usual size has been parsed before it.
 */
#include <math.h>
#include <string.h>

#include "kiln.h"
#include "alert.h"
#include "rules.h"
#include "snapshot.h"
#include "store.h"

#define MAX_SNAPSHOT	(512 * 1024)
/*
 * A snapshot up to this size is parsed while its batch gathers, before
 * its key is looked up: the parses of a batch run together, and overlap
 * the front end's handing over of the next push (bench/ab.sh, 4 rounds:
 * CPU per first push 468 -> 398 us, per steady push 258 -> 234 us). A
 * larger one is parsed only once its key, suspension and gate have
 * passed, so a made-up key can't make Kiln parse half a megabyte: agents
 * send 4 to 20 KiB.
 */
#define EARLY_PARSE_MAX	(64 * 1024)
#define GATE_MS		55000	/* one push per server per 55 s */
/*
 * Pushes that arrive together share one transaction (req_defer). 16 is
 * twice the connections of bench/run.sh; beyond a dozen or so the
 * commit's share of a push hardly shrinks.
 */
#define INGEST_BATCH	16

/* The server a collector key belongs to, as the transaction sees it. */
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
    " interval_s, config_overrides, uptime_s FROM server WHERE key_hash = ?1";

/* Returns 1 with p filled, 0 for no such key, -1 (logged). */
static int
load_pusher(const unsigned char digest[HASH_LEN], struct pusher *p)
{
	sqlite3_stmt	*st = db_prep(db_main(), pusher_sql);
	int		 rc;

	memset(p, 0, sizeof(*p));
	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, digest, HASH_LEN, SQLITE_STATIC);
	if ((rc = db_next(st)) == 1) {
		p->id = sqlite3_column_int64(st, 0);
		p->suspended = sqlite3_column_int(st, 1);
		p->last_ingest_ms = sqlite3_column_int64(st, 2);
		p->interval_s = sqlite3_column_type(st, 3) == SQLITE_NULL ?
		    NAN : sqlite3_column_double(st, 3);
		p->overrides = json_loads(db_text(st, 4), 0, NULL);
		p->uptime_s = sqlite3_column_type(st, 5) == SQLITE_NULL ?
		    NAN : sqlite3_column_double(st, 5);
	}
	sqlite3_reset(st);
	return rc;
}

static void
reply_invalid_key(struct req *r)
{
	reply_header(r, "WWW-Authenticate", "Bearer");
	reply_err(r, 401, "invalid_key",
	    "Send this server's collector key as Bearer token.");
}

/*
 * 1 when the server may push now; else answers 429 too_frequent. It
 * runs inside the write transaction, on the last push the transaction
 * sees: two pushes of one server can't both pass.
 */
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
	unsigned char		 digest[HASH_LEN];	/* of its key */
	int			 parsed;	/* -1: not yet; 0: code */
	const char		*code;		/* and field say why */
	char			 field[256];
	struct pusher		 p;
	struct snapshot		 s;
	struct store_source	 source;
	struct rule_ctx		 ctx;
};

static void
push_free(void *arg)
{
	struct push	*push = arg;

	snapshot_free(&push->s);
	store_source_free(&push->source);
	json_decref(push->p.overrides);
}

/* Parses the body into push->s, keeping the verdict for its turn. */
static void
push_parse(struct req *r, struct push *push)
{
	push->parsed = snapshot_parse(&push->s, r->body, r->body_len,
	    &push->code, push->field, sizeof(push->field));
	if (push->parsed)
		snapshot_derive(&push->s);
}

/* The parse's verdict in its turn: 1, or 0 having answered 400. */
static int
push_parsed(struct req *r, struct push *push)
{
	if (push->parsed < 0)
		push_parse(r, push);
	if (push->parsed)
		return 1;
	if (strcmp(push->code, "invalid_json") == 0)
		reply_err(r, 400, push->code, "The snapshot is not valid "
		    "JSON: %s.", push->field);
	else
		reply_err_extra(r, 400, push->code, strcmp(push->code,
		    "oversize_field") == 0 ? "A string in the snapshot "
		    "exceeds 64 KiB." : "A field of the snapshot has the wrong "
		    "type.", json_pack("{s:s}", "field", push->field));
	return 0;
}

/*
 * The push inside the request loop's transaction: its key's server,
 * as the transaction sees it (so two pushes of one server can't both
 * pass the gate), its suspension and gate, the parse, then the
 * snapshot and the rule pass.
 */
static int
push_store(struct req *r, void *arg)
{
	struct push	*push = arg;
	struct pusher	*p = &push->p;
	int64_t		 now_ms = iso_now_ms(), prev_seen;
	double		 interval;
	char		 when[ISO_MAX];
	int		 opened, active, found;

	if ((found = load_pusher(push->digest, p)) <= 0) {
		if (found == 0)
			reply_invalid_key(r);
		return 0;	/* an error: no reply is a 500 */
	}
	if (p->suspended) {
		reply_err(r, 402, "server_suspended",
		    "This server is suspended; restore it in the dashboard.");
		return 0;
	}
	if (!gate_open(r, p->last_ingest_ms, now_ms) || !push_parsed(r, push))
		return 0;
	push->s.ts = now_ms / 1000;
	prev_seen = p->last_ingest_ms / 1000;
	interval = p->last_ingest_ms != 0 ? store_cadence(p->interval_s,
	    (now_ms - p->last_ingest_ms) / 1000.0) : p->interval_s;
	store_source_init(&push->source, p->id, now_ms);
	push->ctx.cur = &push->s;
	push->ctx.overrides = p->overrides;
	push->ctx.source = &push->source.src;
	push->ctx.prev_ts = prev_seen;
	push->ctx.prev_uptime = p->uptime_s;
	if (!store_snapshot(p->id, &push->s, r->body, r->body_len, now_ms,
	    interval) || (opened = rule_pass(p->id, &push->ctx, push->s.ts,
	    prev_seen)) < 0 || (active = alert_open_count(p->id)) < 0) {
		reply_err(r, 500, "internal_error",
		    "The snapshot was not stored.");
		return 0;
	}
	reply_json(r, 200, json_pack("{s:b, s:s, s:i, s:i}", "success", 1,
	    "received_at", iso_format_ms(when, now_ms),
	    "new_alerts", opened, "active_alerts", active));
	return 1;
}

/*
 * Before the transaction, only what needs no database: a key that
 * can't be one is refused at once, and a snapshot of a usual size is
 * parsed (EARLY_PARSE_MAX). Every other answer comes from inside it,
 * in SPEC 6's order (push_store).
 */
static void
ingest(struct req *r)
{
	struct push	*push = req_alloc(r, sizeof(*push));
	const char	*key = auth_bearer(r);

	/* Owned by the request from here: push_free runs at its end. */
	if (key == NULL || !auth_collector_digest(key, push->digest)) {
		reply_invalid_key(r);
		return;
	}
	push->parsed = -1;
	if (r->body_len <= EARLY_PARSE_MAX)
		push_parse(r, push);
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
