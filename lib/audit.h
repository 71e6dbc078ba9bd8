/*
 * audit: the append-only log of management requests (SPEC 13).
 *
 * A route program opts in by listing its endpoints in its struct
 * route's audit table; req_serve then writes one audit_log row for
 * every request the program gets, once the reply's status is known and
 * whatever gave it: the handler, auth_require (401, 403, 429), a rate
 * limit, a 404. auth_require leaves who it found in the request (who,
 * who_account), so the row says who, when anyone.
 */
#ifndef KILN_AUDIT_H
#define KILN_AUDIT_H

#include <stdint.h>

struct req;

/*
 * One endpoint as the audit log names it. A pattern segment starting
 * with ':' matches any one segment; the first such is the row's
 * resource. The first entry whose pattern matches gives the route (so
 * literal paths come before ":id" ones); the entry with that pattern
 * and the request's method gives the action. A path no pattern matches
 * is logged with route and action null; a pattern without the method
 * (405) with action null. An entry with action NULL is not logged at
 * all (the Stripe webhook, which is not a management request).
 */
struct audit_ep {
	const char	*method;	/* "POST" */
	const char	*pattern;	/* "/servers/:id/rotate-key" */
	const char	*action;	/* "server.rotate_key", or NULL */
};

/* Ends an audit table. */
#define AUDIT_END	{ NULL, NULL, NULL }

/*
 * Writes the row for the answered request r, described by table eps.
 * One prepared INSERT in a transaction of its own, which waits its turn
 * in the writers' queue like any other (db_begin); a failure is logged
 * and changes nothing else. req_serve calls it once the reply is flushed to
 * the web server (FastCGI; a CGI reply goes at exit), so the client does
 * not wait on this write, though the process does before its next
 * request.
 */
void	audit_request(const struct audit_ep *eps, const struct req *r);

/* "ok" below 400, "denied" for 401, 402, 403 and 429, else "error". */
const char *audit_result(int status);

#endif
