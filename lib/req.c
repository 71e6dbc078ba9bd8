/*
 * req: the request loop (FastCGI, or one plain CGI request), request
 * parsing, and the buffered reply.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cfg.h"
#include "db.h"
#include "fcgi.h"
#include "id.h"
#include "jsonread.h"
#include "log.h"
#include "rate.h"
#include "req.h"
#include "valid.h"

extern char **environ;

/* One allocation owned by a request. */
struct req_alloc {
	struct req_alloc	*next;
	max_align_t		 data[];
};

/* One decoded query parameter. */
struct req_qpair {
	char	*name;
	char	*value;
};

void *
req_alloc(struct req *r, size_t n)
{
	struct req_alloc	*a = calloc(1, sizeof(*a) + n);

	if (a == NULL) {
		kiln_log(LOG_ERR, "out of memory (%zu bytes)", n);
		abort();
	}
	a->next = r->allocs;
	r->allocs = a;
	return a->data;
}

char *
req_strdup(struct req *r, const char *s)
{
	size_t	 n = strlen(s) + 1;

	return memcpy(req_alloc(r, n), s, n);
}

const char *
req_param(const struct req *r, const char *name)
{
	size_t	 n = strlen(name);
	char	**e;

	for (e = r->envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

const char *
req_header(struct req *r, const char *name)
{
	char	 var[128];
	size_t	 i = 0;

	if (strcasecmp(name, "Content-Type") == 0)
		return req_param(r, "CONTENT_TYPE");
	i = (size_t)snprintf(var, sizeof(var), "HTTP_");
	for (; *name != '\0' && i + 1 < sizeof(var); name++)
		var[i++] = *name == '-' ? '_' :
		    (char)toupper((unsigned char)*name);
	var[i] = '\0';
	return req_param(r, var);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Percent-decodes s[0..n) into a new string. A value that would decode
 * to a NUL byte or has a broken escape is kept undecoded: it then fails
 * whatever validation its parameter has, instead of being truncated.
 */
static char *
decode(struct req *r, const char *s, size_t n)
{
	char	*out = req_alloc(r, n + 1), *o = out;
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			*o++ = ' ';
		else if (s[i] != '%')
			*o++ = s[i];
		else if (i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0 && (hi | lo) != 0) {
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			memcpy(out, s, n);
			out[n] = '\0';
			return out;
		}
	}
	*o = '\0';
	return out;
}

static void
parse_query(struct req *r)
{
	const char	*p = r->query, *amp, *eq;
	int		 n = 0, max = 1;

	for (const char *c = p; *c != '\0'; c++)
		max += *c == '&';
	r->qpairs = req_alloc(r, sizeof(*r->qpairs) * (size_t)max);
	while (*p != '\0') {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		eq = memchr(p, '=', (size_t)(amp - p));
		if (amp > p) {
			if (eq == NULL)
				eq = amp;
			r->qpairs[n].name = decode(r, p, (size_t)(eq - p));
			r->qpairs[n].value = eq < amp ?
			    decode(r, eq + 1, (size_t)(amp - eq - 1)) :
			    req_strdup(r, "");
			n++;
		}
		p = *amp == '&' ? amp + 1 : amp;
	}
	r->nqpairs = n;
}

int
req_query_all(struct req *r, const char *name, const char **out, int max)
{
	int	 i, n = 0;

	if (r->nqpairs < 0)
		parse_query(r);
	for (i = 0; i < r->nqpairs; i++)
		if (strcmp(r->qpairs[i].name, name) == 0) {
			if (n < max)
				out[n] = r->qpairs[i].value;
			n++;
		}
	return n;
}

const char *
req_query(struct req *r, const char *name)
{
	const char	*v = NULL;

	return req_query_all(r, name, &v, 1) > 0 ? v : NULL;
}

int
req_query_is(struct req *r, const char *name, const char *value)
{
	const char	*v = req_query(r, name);

	return v != NULL && strcmp(v, value) == 0;
}

int
req_path_is(const struct req *r, int n, ...)
{
	va_list		 ap;
	int		 i, match = r->nsegs == n;

	va_start(ap, n);
	for (i = 0; match && i < n; i++) {
		const char	*want = va_arg(ap, const char *);

		if (strcmp(want, "*") != 0 && strcmp(want, r->segs[i]) != 0)
			match = 0;
	}
	va_end(ap);
	return match;
}

const char *
req_seg(const struct req *r, int i)
{
	return i >= 0 && i < r->nsegs ? r->segs[i] : NULL;
}

json_t *
req_json_object(struct req *r)
{
	json_error_t	 err;

	if (r->json != NULL)
		return r->json;
	r->json = jsonread_parse(r->body, r->body_len, &err);
	if (r->json == NULL)
		reply_err(r, 400, "invalid_json", "The request body is not "
		    "valid JSON: %s.", err.text);
	else if (!json_is_object(r->json)) {
		reply_err(r, 400, "invalid_json",
		    "The request body must be a JSON object.");
		json_decref(r->json);
		r->json = NULL;
	}
	return r->json;
}

/* --- replies ----------------------------------------------------------- */

static int
claim(struct req *r, int status)
{
	if (r->status != 0) {
		kiln_log(LOG_ERR, "second reply (%d after %d) dropped",
		    status, r->status);
		return 0;
	}
	r->status = status;
	return 1;
}

void
reply_header(struct req *r, const char *name, const char *fmt, ...)
{
	char	 value[512], line[700];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	/* Header values never carry CR/LF, whatever they were built from. */
	value[strcspn(value, "\r\n")] = '\0';
	n = snprintf(line, sizeof(line), "%s: %s\r\n", name, value);
	r->headers = realloc(r->headers, r->headers_len + (size_t)n + 1);
	if (r->headers == NULL)
		abort();
	memcpy(r->headers + r->headers_len, line, (size_t)n + 1);
	r->headers_len += (size_t)n;
}

void
reply_text_json(struct req *r, int status, const char *json)
{
	if (!claim(r, status))
		return;
	r->reply_len = strlen(json);
	r->reply = strdup(json);
	if (r->reply == NULL)
		abort();
}

void
reply_json(struct req *r, int status, json_t *body)
{
	char	*text;

	if (!claim(r, status)) {
		json_decref(body);
		return;
	}
	text = json_dumps(body, KILN_JSON);
	json_decref(body);
	if (text == NULL) {
		kiln_log(LOG_ERR, "json_dumps failed");
		r->status = 500;
		text = strdup("{\"error\":\"internal_error\",\"message\":"
		    "\"The response could not be encoded.\"}");
	}
	r->reply = text;
	r->reply_len = strlen(text);
}

void
reply_none(struct req *r, int status)
{
	claim(r, status);
}

void
reply_err_extra(struct req *r, int status, const char *code,
    const char *message, json_t *extra)
{
	json_t	*body = json_pack("{s:s, s:s}", "error", code,
	    "message", message);

	if (extra != NULL) {
		json_object_update_missing(body, extra);
		json_decref(extra);
	}
	if (status >= 500)
		kiln_log(LOG_ERR, "%d %s: %s", status, code, message);
	reply_json(r, status, body);
}

void
reply_err(struct req *r, int status, const char *code, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	valid_utf8_trim(msg);
	reply_err_extra(r, status, code, msg, NULL);
}

void
reply_method_not_allowed(struct req *r, const char *allow)
{
	reply_header(r, "Allow", "%s", allow);
	reply_err(r, 405, "method_not_allowed",
	    "This path accepts only %s.", allow);
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* --- one request -------------------------------------------------------- */

static size_t
read_in(struct req *r, char *buf, size_t n)
{
	if (r->cgi)
		return fread(buf, 1, n, stdin);
	return fcgi_read(r->fcgi, buf, n);
}

static void
write_out(struct req *r, const char *buf, size_t n)
{
	if (r->cgi)
		fwrite(buf, 1, n, stdout);
	else
		fcgi_write(r->fcgi, buf, n);
}

/* An incoming X-Request-Id is echoed only when it is short and plain. */
static void
set_request_id(struct req *r)
{
	const char	*in = req_header(r, "X-Request-Id");
	size_t		 n;

	if (in != NULL && (n = strlen(in)) > 0 && n < REQ_ID_MAX &&
	    strspn(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_.:") == n) {
		memcpy(r->id, in, n + 1);
		return;
	}
	if (!id_new(r->id, "req_"))
		snprintf(r->id, sizeof(r->id), "req_unknown");
}

/*
 * The client address: REMOTE_ADDR, or behind a trusted reverse proxy
 * the last X-Forwarded-For entry (the one our proxy appended; earlier
 * entries are the client's own claims).
 */
static void
set_ip(struct req *r)
{
	const char	*xff, *last;

	r->ip = req_param(r, "REMOTE_ADDR");
	if (r->ip == NULL)
		r->ip = "unknown";
	if (cfg_bool("trust_proxy") &&
	    (xff = req_header(r, "X-Forwarded-For")) != NULL) {
		last = strrchr(xff, ',');
		last = last != NULL ? last + 1 : xff;
		while (*last == ' ')
			last++;
		if (*last != '\0' && strlen(last) < 64)
			r->ip = req_strdup(r, last);
	}
}

/*
 * The path after API_PREFIX, from REQUEST_URI (the client's URI before
 * any rewrite) or, on a shared host's script URL, PATH_INFO. Splits it
 * into segments; empty or too many segments leave nsegs -1.
 */
static int
set_path(struct req *r)
{
	const char	*uri = req_param(r, "REQUEST_URI"), *qs;
	size_t		 plen = strlen(API_PREFIX), pathlen;
	char		*p, *s;

	if (uri == NULL || strncmp(uri, API_PREFIX, plen) != 0)
		uri = req_param(r, "PATH_INFO");
	if (uri == NULL || strncmp(uri, API_PREFIX, plen) != 0 ||
	    (uri[plen] != '/' && uri[plen] != '?' && uri[plen] != '\0'))
		return 0;
	pathlen = strcspn(uri, "?");
	if (uri[pathlen] == '?')
		r->query = req_strdup(r, uri + pathlen + 1);
	else if ((qs = req_param(r, "QUERY_STRING")) != NULL)
		r->query = qs;
	pathlen -= plen;
	p = req_alloc(r, pathlen + 1);
	memcpy(p, uri + plen, pathlen);
	r->path = req_strdup(r, p);
	r->nsegs = 0;
	if (*p == '/')
		p++;
	/* A trailing slash ("/servers/") names the same as none. */
	while (p != NULL && *p != '\0' && (s = strsep(&p, "/")) != NULL) {
		if (*s == '\0' || r->nsegs == REQ_MAX_SEGS) {
			r->nsegs = -1;
			return 1;
		}
		r->segs[r->nsegs++] = s;
	}
	return 1;
}

int
req_server_error(const struct req *r)
{
	const char	*s = req_param(r, "REDIRECT_STATUS");
	int		 status = s != NULL ? atoi(s) : 0;

	return status >= 400 && status <= 599 ? status : 0;
}

/* Reads the body within the cap. Returns 1, or 0 having answered. */
static int
read_body(struct req *r, size_t max)
{
	const char	*cl = req_param(r, "CONTENT_LENGTH");
	const char	*ct = req_param(r, "CONTENT_TYPE");
	char		*end, sink[4096];
	unsigned long long len = 0;
	size_t		 got = 0, n;

	if (cl != NULL && *cl != '\0') {
		len = strtoull(cl, &end, 10);
		if (*end != '\0' || *cl == '-') {
			reply_err(r, 400, "bad_request",
			    "Content-Length is not a number.");
			return 0;
		}
	}
	if (len > max) {
		/* FastCGI: drain, so the connection stays in step. */
		while (!r->cgi && read_in(r, sink, sizeof(sink)) > 0)
			continue;
		reply_err(r, 413, "payload_too_large",
		    "The request body exceeds %zu bytes.", max);
		return 0;
	}
	/* "application/json", optionally with parameters (charset). */
	if (len > 0 && ct != NULL && *ct != '\0' &&
	    (strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))) {
		reply_err(r, 415, "unsupported_media_type",
		    "Send the body as application/json.");
		return 0;
	}
	r->body = r->fcgi != NULL ? fcgi_body(r->fcgi, (size_t)len + 1) :
	    req_alloc(r, (size_t)len + 1);
	if (r->body == NULL) {
		reply_err(r, 500, "internal_error",
		    "No memory for the request body.");
		return 0;
	}
	while (got < len && (n = read_in(r, r->body + got,
	    (size_t)len - got)) > 0)
		got += n;
	if (got < len) {
		reply_err(r, 400, "bad_request",
		    "The request body ended early.");
		return 0;
	}
	r->body[got] = '\0';
	r->body_len = got;
	return 1;
}

static void
flush(struct req *r)
{
	char	 head[512];
	int	 n;

	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "X-Request-Id: %s\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: no-store\r\n",
	    r->status, reason(r->status), r->id);
	write_out(r, head, (size_t)n);
	if (r->headers_len > 0)
		write_out(r, r->headers, r->headers_len);
	if (r->status == 204 || r->reply == NULL)
		n = snprintf(head, sizeof(head), "\r\n");
	else
		n = snprintf(head, sizeof(head),
		    "Content-Type: application/json; charset=utf-8\r\n"
		    "Content-Length: %zu\r\n\r\n", r->reply_len);
	write_out(r, head, (size_t)n);
	if (r->status != 204 && r->reply != NULL)
		write_out(r, r->reply, r->reply_len);
}

static void
release(struct req *r)
{
	struct req_alloc	*a, *next;

	if (r->work_free != NULL)
		r->work_free(r->work_arg);
	for (a = r->allocs; a != NULL; a = next) {
		next = a->next;
		free(a);
	}
	json_decref(r->json);
	free(r->headers);
	free(r->reply);
}

/* Everything up to and including the route's dispatch. */
static void
serve_begin(const struct route *rt, struct req *r)
{
	const struct rate_class	*ipc = rt->ip_class ? rt->ip_class : &RATE_IP;
	size_t			 max = rt->max_body ? rt->max_body :
	    (size_t)cfg_int("max_body_bytes");

	r->nqpairs = -1;
	r->nsegs = -1;
	r->query = "";
	r->path = "";
	r->method = req_param(r, "REQUEST_METHOD");
	if (r->method == NULL)
		r->method = "GET";
	set_request_id(r);
	log_set_request(r->id);
	set_ip(r);

	if (!db_schema_ok())
		reply_err(r, 503, "unavailable",
		    "The database is not ready; try again shortly.");
	else if (!rate_check(r, ipc, r->ip))
		r->ip_limited = 1;	/* answered 429 */
	else if (!set_path(r) && !req_server_error(r))
		reply_err(r, 404, "not_found", "No such endpoint.");
	else if (read_body(r, max))
		rt->dispatch(r);
	log_set_request(NULL);
}

/* Sends the reply (a 500 if there is none) and ends the request. */
static void
serve_reply(struct req *r)
{
	log_set_request(r->id);
	if (r->status == 0)
		reply_err(r, 500, "internal_error",
		    "The request was not answered.");
	flush(r);
	if (!r->cgi && r->fcgi != NULL && !fcgi_end(r->fcgi))
		kiln_log(LOG_WARNING, "the reply did not reach the web "
		    "server");
	log_set_request(NULL);
}

/* What follows the reply: the audit row, then freeing the request. */
static void
serve_after(const struct route *rt, struct req *r)
{
	log_set_request(r->id);
	db_release();
	/*
	 * After db_release: a transaction the handler left open is gone.
	 * A request the per-IP bucket refused, before any authentication,
	 * leaves no row: a flood must not become a flood of writes.
	 */
	if (rt->audit != NULL && !r->ip_limited)
		audit_request(rt->audit, r);
	release(r);
	log_set_request(NULL);
}

/* --- group commit -------------------------------------------------------- */

void
req_defer(struct req *r, int (*work)(struct req *, void *), void *arg,
    void (*work_free)(void *))
{
	r->work = work;
	r->work_arg = arg;
	r->work_free = work_free;
}

/* Replaces whatever reply r has with a 500: its writes are gone. */
static void
unsaved(struct req *r)
{
	free(r->reply);
	free(r->headers);
	r->reply = r->headers = NULL;
	r->reply_len = r->headers_len = 0;
	r->status = 0;
	reply_err(r, 500, "internal_error",
	    "The request's changes were not saved.");
}

/* Runs one request's work in its savepoint. 0: the transaction is gone. */
static int
run_work(sqlite3 *conn, struct req *r)
{
	int	 kept;

	log_set_request(r->id);
	if (!db_run(db_prep(conn, "SAVEPOINT request")))
		return 0;
	kept = r->work(r, r->work_arg);
	if (r->status == 0) {
		reply_err(r, 500, "internal_error",
		    "The request was not answered.");
		kept = 0;
	}
	if (!kept && !db_run(db_prep(conn, "ROLLBACK TO request")))
		return 0;
	/* An I/O error or a full disk rolls back the whole transaction. */
	return db_run(db_prep(conn, "RELEASE request")) &&
	    !sqlite3_get_autocommit(conn);
}

void
req_run_deferred(struct req **rs, int n)
{
	sqlite3	*conn;
	int	 i, ok, works = 0;

	for (i = 0; i < n; i++)
		works += rs[i]->work != NULL;
	if (works == 0)
		return;
	ok = (conn = db_main()) != NULL && db_begin(conn);
	for (i = 0; ok && i < n; i++)
		if (rs[i]->work != NULL)
			ok = run_work(conn, rs[i]);
	log_set_request(NULL);
	if (ok && db_commit(conn)) {
		if (works > 1)
			kiln_log(LOG_DEBUG, "one commit for %d requests",
			    works);
		return;
	}
	db_rollback(conn);
	for (i = 0; i < n; i++)
		if (rs[i]->work != NULL) {
			log_set_request(rs[i]->id);
			unsaved(rs[i]);
		}
	log_set_request(NULL);
}

void
req_serve(const struct route *rt, struct req *r)
{
	serve_begin(rt, r);
	req_run_deferred(&r, 1);
	serve_reply(r);
	serve_after(rt, r);
}

/* --- the loop ------------------------------------------------------------ */

/*
 * The loop waits in ppoll, so it catches the signals that stop it
 * (lighttpd sends SIGTERM, mod_fcgid SIGUSR1) itself. They are blocked
 * (in every thread, so set up before the checkpoint thread starts) but
 * while it waits for a request or for the web server inside one: a
 * signal ends a connection that stalls there, and one that comes while
 * a batch's works run or its replies go out ends the loop after them.
 */
static volatile sig_atomic_t	 stopping;
static sigset_t			 wait_mask;	/* the mask ppoll waits with */

static void
stop_serving(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Returns 1 when the loop can serve, having logged why not otherwise. */
static int
loop_setup(void)
{
	struct sigaction	 sa;
	sigset_t		 stop;
	int			 flags;

	/* A request another process took first must not block accept. */
	if ((flags = fcntl(FCGI_LISTEN_FD, F_GETFL)) < 0 ||
	    fcntl(FCGI_LISTEN_FD, F_SETFL, flags | O_NONBLOCK) != 0) {
		kiln_log(LOG_ERR, "listening socket: %s", strerror(errno));
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_serving;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGUSR1);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	pthread_sigmask(SIG_BLOCK, &stop, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGUSR1);
	return 1;
}

/*
 * Accepts the next request into f, waiting for one up to wait_us (-1:
 * as long as it takes). Returns 1, 0 for none in time, -1 to stop.
 */
static int
accept_queued(struct fcgi *f, long wait_us)
{
	struct pollfd	 p = { FCGI_LISTEN_FD, POLLIN, 0 };
	struct timespec	 ts = { wait_us / 1000000, wait_us % 1000000 * 1000 };
	int		 rc;

	while (!stopping) {
		rc = ppoll(&p, 1, wait_us < 0 ? NULL : &ts, &wait_mask);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return rc;
		if ((rc = fcgi_accept(f, FCGI_LISTEN_FD)) != 0 || wait_us >= 0)
			return rc;
	}
	return -1;
}

#define BATCH_BODY_BYTES	(1024 * 1024)
/*
 * While a batch has fewer requests than the one before, the loop waits
 * this long for each next one: under steady load the front end hands
 * the connections over one by one, and a batch that went without the
 * last few would be followed by one of only those. Under light load
 * batches are of one, and nobody waits.
 */
#define GATHER_US		250
/* A process that checkpoints tidies its WAL after this long idle. */
#define IDLE_US			1000000

/*
 * The FastCGI loop. A route with batch > 1 gathers, after the request
 * it waited for, those already queued (see req_defer).
 */
static int
serve_loop(const struct route *rt, int max)
{
	static struct fcgi	 conns[REQ_BATCH_MAX];
	struct req		 reqs[REQ_BATCH_MAX], *rs[REQ_BATCH_MAX];
	size_t			 bytes;
	int			 i, n, rc = 1, last = 1;

	for (i = 0; i < max; i++)
		fcgi_init(&conns[i], (int)cfg_int("fastcgi_timeout_ms"),
		    &wait_mask, &stopping);
	while (rc >= 0) {
		for (n = 0, bytes = 0; n < max && bytes < BATCH_BODY_BYTES;
		    n++) {
			if ((rc = accept_queued(&conns[n], n > 0 ?
			    (n < last ? GATHER_US : 0) :
			    rt->checkpoints ? IDLE_US : -1)) <= 0)
				break;
			memset(&reqs[n], 0, sizeof(reqs[n]));
			reqs[n].fcgi = &conns[n];
			reqs[n].envp = conns[n].envp;
			rs[n] = &reqs[n];
			serve_begin(rt, rs[n]);
			bytes += rs[n]->body_len;
		}
		if (n == 0) {
			if (rc == 0)	/* a second with nothing to do */
				db_wal_trim();
			continue;
		}
		last = n;
		req_run_deferred(rs, n);
		/*
		 * Every reply first: no reply waits on another's freeing or
		 * audit row; the front end carries them on meanwhile.
		 */
		for (i = 0; i < n; i++)
			serve_reply(rs[i]);
		for (i = 0; i < n; i++)
			serve_after(rt, rs[i]);
	}
	for (i = 0; i < max; i++)
		fcgi_free(&conns[i]);
	return 0;
}

int
req_run(const struct route *rt)
{
	struct req	 r;
	int		 batch = rt->batch < 1 ? 1 : rt->batch <
	    REQ_BATCH_MAX ? rt->batch : REQ_BATCH_MAX;

	log_init(rt->name);
	if (!fcgi_is_listener()) {
		memset(&r, 0, sizeof(r));
		r.cgi = 1;
		r.envp = environ;
		req_serve(rt, &r);
		fflush(stdout);
		return 0;
	}
	if (!loop_setup())
		return 1;
	/*
	 * Not for plain CGI: a process that exits after one request would
	 * leave its thread's checkpoint undone, and the WAL to grow.
	 */
	if (rt->checkpoints)
		db_checkpoint_in_background();
	return serve_loop(rt, batch);
}
