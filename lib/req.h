/*
 * req: one HTTP request as FastCGI or plain CGI gives it, and its reply.
 *
 * A route program hands a struct route to req_run(), which accepts
 * requests until the web server stops it (FastCGI) or serves exactly one
 * (plain CGI: when fd 0 is not a listening socket). For each request it checks the
 * schema, the per-IP rate limit, the path prefix and the body, calls the
 * route's dispatch, runs the write the handler deferred (req_defer), and
 * then writes the one reply the handler gave.
 */
#ifndef KILN_REQ_H
#define KILN_REQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "id.h"

#define API_PREFIX	"/api/v1"
/* How Kiln writes JSON: compact, reals with 15 significant digits. */
#define KILN_JSON	(JSON_COMPACT | JSON_REAL_PRECISION(15))
#define REQ_ID_MAX	65
#define REQ_MAX_SEGS	8

struct audit_ep;
struct fcgi;
struct req_alloc;
struct req_qpair;
struct rate_class;

struct req {
	struct fcgi	 *fcgi;		/* FastCGI connection, NULL as CGI */
	int		  cgi;		/* served as plain CGI */
	char		**envp;		/* the request's parameters */
	const char	 *method;	/* "GET", ... */
	const char	 *path;		/* after API_PREFIX: "/servers/srv_.." */
	const char	 *query;	/* raw query string, "" if none */
	char		 *body;		/* NUL-terminated, owned */
	size_t		  body_len;
	json_t		 *json;		/* req_json_object(), owned */
	char		  id[REQ_ID_MAX];	/* X-Request-Id */
	const char	 *ip;		/* client address */
	char		 *segs[REQ_MAX_SEGS];	/* path segments */
	int		  nsegs;	/* -1: malformed or too many */
	struct req_qpair *qpairs;	/* parsed query, on first use */
	int		  nqpairs;	/* -1 until parsed */

	/* The reply, written once the handler returns. */
	int		  status;	/* 0 until answered */
	char		 *headers;	/* extra "Name: value\r\n" lines */
	size_t		  headers_len;
	char		 *reply;	/* body, owned */
	size_t		  reply_len;

	struct req_alloc *allocs;	/* freed when the request ends */

	/* What the handler left for the write transaction (req_defer). */
	int		(*work)(struct req *, void *);
	void		 *work_arg;
	void		(*work_free)(void *);

	int		  ip_limited;	/* the per-IP bucket refused it */

	/* Who auth_require found, for the audit log ("" and 0 before). */
	char		  who[ID_MAX];	/* "usr_..." or "key_..." */
	int64_t		  who_account;	/* account row */
};

/* A route program: its name, its handler, its request limits, and what
 * the audit log calls its endpoints (lib/audit.h). */
struct route {
	const char		*name;		/* "servers" */
	void			(*dispatch)(struct req *);
	size_t			 max_body;	/* 0: cfg max_body_bytes */
	const struct rate_class	*ip_class;	/* NULL: RATE_IP */
	const struct audit_ep	*audit;		/* NULL: not audited */
	int			 checkpoints;	/* in a thread (FastCGI) */
	int			 batch;		/* see req_defer; 0: 1 */
};

/* The most requests a route's batch may gather (struct route batch). */
#define REQ_BATCH_MAX	32

/* Serves requests until the web server stops us. Returns exit status. */
int	 req_run(const struct route *rt);

/*
 * Serves one request whose parameters are envp, reading the body with
 * read_body and writing the reply with write_out. req_run's FastCGI and
 * CGI loops both come through here; so do the library's tests.
 */
void	 req_serve(const struct route *rt, struct req *r);

/*
 * Group commit. A handler that checked and parsed everything it can
 * outside a transaction hands the request's writes to the loop as
 * work(r, arg). The loop runs the works of all the requests it gathered
 * in one write transaction (BEGIN IMMEDIATE ... COMMIT), each inside a
 * savepoint of its own, and sends no reply before that COMMIT:
 *
 * - work returns 1 to keep its writes, 0 to undo them (ROLLBACK TO its
 *   savepoint); either way the reply it gave stands, and giving none
 *   is a 500 and undoes them;
 * - a COMMIT that fails turns every reply of the batch into a 500;
 * - work_free(arg), when not NULL, runs when the request ends;
 * - work must not begin, commit or roll back a transaction itself
 *   (savepoints of its own are fine): a COMMIT there would end the
 *   batch's transaction half way.
 *
 * Under FastCGI a route with batch > 1 gathers, after the request it
 * waited for, the ones already queued on its socket (at most batch, and
 * about 1 MiB of bodies): one commit, one WAL write and one fsync'd
 * checkpoint share pages instead of repeating them. A plain CGI request,
 * or a route without batch, is a batch of one.
 */
void	 req_defer(struct req *r, int (*work)(struct req *, void *),
	    void *arg, void (*work_free)(void *));

/* What the loop does with a batch: runs the works of rs[0..n). */
void	 req_run_deferred(struct req **rs, int n);

/* Memory that lives until the request ends. Never NULL (aborts). */
void	*req_alloc(struct req *r, size_t n);
char	*req_strdup(struct req *r, const char *s);

/* A CGI parameter ("REQUEST_METHOD"), or NULL. Borrowed. */
const char *req_param(const struct req *r, const char *name);

/*
 * The status (400..599) of an error lighttpd raised itself and hands to
 * its error handler in REDIRECT_STATUS, or 0. A request it could not
 * parse (400, 431) comes with no REQUEST_URI; the route answers it.
 */
int	 req_server_error(const struct req *r);

/* A request header by its HTTP name ("Idempotency-Key"), or NULL. */
const char *req_header(struct req *r, const char *name);

/*
 * The first value of query parameter name, percent-decoded, or NULL.
 * req_query_all fills out[max] with every value and returns how many
 * there were (which may exceed max). Borrowed until the request ends.
 */
const char *req_query(struct req *r, const char *name);
int	 req_query_all(struct req *r, const char *name, const char **out,
	    int max);

/* 1 when query parameter name is exactly value. */
int	 req_query_is(struct req *r, const char *name, const char *value);

/*
 * 1 when the path is exactly the given segments, "*" matching any one
 * segment: req_path_is(r, 3, "servers", "*", "rotate-key").
 */
int	 req_path_is(const struct req *r, int n, ...);

/* Path segment i (0-based), or NULL. */
const char *req_seg(const struct req *r, int i);

/*
 * The body as a JSON object. On anything else answers 400 invalid_json
 * and returns NULL. The reference is owned by the request.
 */
json_t	*req_json_object(struct req *r);

/* Replies. Every request gets exactly one; a second is logged, dropped. */
void	 reply_json(struct req *r, int status, json_t *body); /* steals */
void	 reply_text_json(struct req *r, int status, const char *json);
void	 reply_none(struct req *r, int status);
void	 reply_err(struct req *r, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The envelope plus extra fields (steals extra; may be NULL). */
void	 reply_err_extra(struct req *r, int status, const char *code,
	    const char *message, json_t *extra);
/* 405 with the Allow header. */
void	 reply_method_not_allowed(struct req *r, const char *allow);
/* An extra response header; call before the reply. */
void	 reply_header(struct req *r, const char *name, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
