/*
 * rate: the token buckets.
 */
#include <math.h>
#include <stdio.h>

#include "cfg.h"
#include "db.h"
#include "iso.h"
#include "log.h"
#include "rate.h"
#include "req.h"

#define HOUR	3600.0

const struct rate_class RATE_IP = { "ip", "rate_ip", 100, 10 };
const struct rate_class RATE_INGEST_IP =
    { "ingest-ip", "rate_ingest_ip", 1000, 100 };
const struct rate_class RATE_KEY = { "key", "rate_key", 1000, 100 };
const struct rate_class RATE_ACCOUNT = { "acct", "rate_account", 5000, 500 };
const struct rate_class RATE_SERVER_CREATE =
    { "srv-create", "rate_server_create", 100, 100 / HOUR };
const struct rate_class RATE_SERVER_DELETE =
    { "srv-delete", "rate_server_delete", 100, 100 / HOUR };
const struct rate_class RATE_ROTATE_KEY =
    { "rotate-key", "rate_rotate_key", 10, 10 / HOUR };
const struct rate_class RATE_CHANNEL_TEST =
    { "channel-test", "rate_channel_test", 10, 10 / HOUR };
const struct rate_class RATE_REGISTER =
    { "register", "rate_register", 3, 3 / HOUR };

/*
 * ?1 name, ?2 capacity, ?3 now (ms), ?4 refill per ms. The DO UPDATE
 * spells the refilled level, min(?2, tokens + elapsed * ?4), three
 * times (for ok, for tokens and for the debit test): SQL has no local
 * names, and every copy reads the row's old values, so they agree. A
 * debit happens only when a whole token is there, so a flood of refused
 * requests does not push the bucket ever deeper.
 */
static const char take_sql[] =
    "INSERT INTO rate_bucket (name, tokens, at_ms, ok) "
    "VALUES (?1, ?2 - 1, ?3, 1) "
    "ON CONFLICT (name) DO UPDATE SET "
    " ok = (min(?2, tokens + max(0, ?3 - at_ms) * ?4) >= 1),"
    " tokens = min(?2, tokens + max(0, ?3 - at_ms) * ?4)"
    "  - (min(?2, tokens + max(0, ?3 - at_ms) * ?4) >= 1),"
    " at_ms = max(at_ms, ?3) "
    "RETURNING ok, tokens";

int
rate_take(const struct rate_class *c, const char *who, int *retry_after)
{
	sqlite3_stmt	*st = db_prep(db_rate(), take_sql);
	char		 name[256];
	int		 ok = 1;
	double		 tokens, cap = c->capacity, refill = c->per_sec;

	if (*cfg_get(c->cfg_key) != '\0' && cfg_int(c->cfg_key) > 0) {
		cap = (double)cfg_int(c->cfg_key);
		refill = c->per_sec * cap / c->capacity;
	}

	*retry_after = 0;
	if (st == NULL)
		return 1;
	snprintf(name, sizeof(name), "%s:%s", c->prefix, who);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 2, cap);
	sqlite3_bind_int64(st, 3, iso_now_ms());
	sqlite3_bind_double(st, 4, refill / 1000.0);
	if (db_step(st) == SQLITE_ROW) {
		ok = sqlite3_column_int(st, 0);
		tokens = sqlite3_column_double(st, 1);
		if (!ok)
			*retry_after = (int)ceil((1 - tokens) / refill);
		if (!ok && *retry_after < 1)
			*retry_after = 1;
		/*
		 * Step to the end: a write that sqlite3_reset() commits
		 * never runs the WAL auto-checkpoint, and rate.db-wal
		 * would grow by a page on every request for ever.
		 */
		db_step(st);
	}
	sqlite3_reset(st);
	return ok;
}

int
rate_check(struct req *r, const struct rate_class *c, const char *who)
{
	int	 retry;

	if (rate_take(c, who, &retry))
		return 1;
	reply_header(r, "Retry-After", "%d", retry);
	reply_err(r, 429, "rate_limited",
	    "Too many requests; retry in %d second%s.", retry,
	    retry == 1 ? "" : "s");
	return 0;
}
