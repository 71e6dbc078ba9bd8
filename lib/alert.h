/*
 * alert: turns rule results into alerts (SPEC 8) and queues their
 * notifications in the outbox, inside the caller's write transaction.
 */
#ifndef KILN_ALERT_H
#define KILN_ALERT_H

#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

struct rule_ctx;
struct rule_def;
struct rule_result;

/*
 * Evaluates every rule of the catalogue for a server on the snapshot it
 * just stored (the server's last_seen_at is already now; prev_seen is
 * the snapshot before, 0: none) and applies the results: muted rules are
 * skipped and their open alert resolved ("muted"); state alerts open,
 * update or resolve ("cleared"); event alerts stack new occurrences; an
 * alert raised by cron (server_unreachable) resolves ("cleared").
 * Adds the alerts opened to *opened. Returns 1, or 0 (logged) on a
 * database error.
 */
int	alert_pass(int64_t server_id, const struct rule_ctx *c, int64_t now,
	    int64_t prev_seen, int *opened);

/*
 * After a pass that failed and was rolled back: the server's open
 * alerts were not judged on its latest snapshot, so they were last
 * seen at prev_seen. Returns 1, or 0 (logged).
 */
int	alert_unjudged(int64_t server_id, int64_t prev_seen);

/*
 * Applies one rule's result to a server's alerts (res->severity NULL:
 * the condition is gone). Used by alert_pass and by cron jobs raising
 * rules of their own (server_unreachable). Returns 1, or 0 (logged).
 */
int	alert_apply(int64_t server_id, const struct rule_def *rule,
	    const struct rule_result *res, int64_t now, int *opened);

/* Resolves the server's open alert of rule, if any, with reason. 1/0. */
int	alert_resolve(int64_t server_id, const char *rule, const char *reason,
	    int64_t now);

/*
 * Resolves the alert with row id alert_id, if it is still open, with
 * reason, queueing a "resolved" notification unless it was acknowledged
 * (as alert_resolve does). Inside the caller's write transaction.
 * Returns 1 (also when it was already resolved), or 0 (logged).
 */
int	alert_resolve_id(int64_t alert_id, const char *reason, int64_t now);

/*
 * The columns of an alert as the API shows it, in the order alert_json()
 * reads them, for a query that names the alert "a" and its server "s":
 *   SELECT ALERT_COLUMNS FROM alert a JOIN server s ON s.id = a.server_id
 */
#define ALERT_COLUMNS \
    "a.public_id, s.public_id, a.rule, a.kind, a.severity, a.title," \
    " a.message, a.evidence, a.status, a.occurrences, a.opened_at," \
    " CASE WHEN a.seen_with_server THEN s.last_seen_at" \
    "  ELSE a.last_seen_at END," \
    " a.acknowledged_at, a.resolved_at, a.resolve_reason"
#define ALERT_NCOLUMNS	15

/*
 * The alert whose ALERT_COLUMNS start at column first_col of the current
 * row of st, as the API's alert object (status "active" or "resolved",
 * times ISO 8601, null when unset). New reference.
 */
json_t	*alert_json(sqlite3_stmt *st, int first_col);

/* The server's open alerts, or -1 on error. */
int	alert_open_count(int64_t server_id);

#endif
