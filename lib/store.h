/*
 * store: a snapshot into the database, and what the rules need back
 * from it (the previous snapshot, recent history).
 */
#ifndef KILN_STORE_H
#define KILN_STORE_H

#include <stddef.h>
#include <stdint.h>

struct snapshot;
struct rule_history;

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
 * Loads the server's latest stored snapshot into prev (parsed and
 * derived; free with snapshot_free). Returns 1, 0 when there is none,
 * -1 on error.
 */
int	store_previous(int64_t server_id, struct snapshot *prev);

/* Loads recent history for the rules. Returns 1, or 0 (logged). */
int	store_history(int64_t server_id, int64_t now, struct rule_history *h);
void	store_history_free(struct rule_history *h);

/*
 * The smoothed cadence after a gap of gap_s seconds: the gap itself the
 * first time, then clamp(gap, 0.75 old, 1.5 old); gaps outside
 * 10 s .. 1 h leave it unchanged (old may be NAN: unknown).
 */
double	store_cadence(double old, double gap_s);

#endif
