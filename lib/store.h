/*
 * store: a snapshot into the database, and what the rules need back
 * from it (the previous snapshot, recent history).
 */
#ifndef KILN_STORE_H
#define KILN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "rules.h"
#include "snapshot.h"

/*
 * Stores snapshot s of server (body is its raw JSON) inside the
 * caller's write transaction: the raw row, the narrow metric row, the
 * hourly roll-ups, per-filesystem free space, and the server's
 * denormalised fields, last_seen_at and cadence (interval_s, the new
 * smoothed interval, or NAN if unknown). Returns 1, or 0 (logged).
 */
int	store_snapshot(int64_t server_id, const struct snapshot *s,
	    const char *body, size_t len, int64_t now_ms, double interval_s);

/*
 * The raw JSON of a snapshot_raw row whose columns body and body_zstd
 * are col and col + 1 of st: in *out (malloc'd, NUL-terminated; the
 * caller frees it) and *len. Returns 1, or 0 (logged).
 */
int	store_raw_body(sqlite3_stmt *st, int col, char **out, size_t *len);

/*
 * What the rules may ask about a server besides the snapshot being
 * stored (received at now_ms): the snapshot before it and the recent
 * history, each loaded from the database the first time a rule asks
 * (see struct rule_source). Pass &src of it in rule_ctx.source; free
 * with store_source_free.
 */
struct store_source {
	struct rule_source	 src;
	int64_t			 server_id;
	int64_t			 now_ms;
	int			 prev_state;	/* 0 unasked, 1 none, 2 in prev */
	struct snapshot		 prev;
	int			 hist_loaded;
	struct rule_history	 hist;
};

void	store_source_init(struct store_source *s, int64_t server_id,
	    int64_t now_ms);
void	store_source_free(struct store_source *s);

/*
 * The smoothed cadence after a gap of gap_s seconds: the gap itself the
 * first time, then clamp(gap, 0.75 old, 1.5 old); gaps outside
 * 10 s .. 1 h leave it unchanged (old may be NAN: unknown).
 */
double	store_cadence(double old, double gap_s);

#endif
