/*
 * fcgi: the responder side of FastCGI (see fcgi.h). Record layout and
 * constants are the FastCGI 1.0 specification's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"
#include "log.h"

#define VERSION_1		1
#define BEGIN_REQUEST		1
#define ABORT_REQUEST		2
#define END_REQUEST		3
#define PARAMS			4
#define STDIN			5
#define STDOUT			6
#define GET_VALUES		9
#define GET_VALUES_RESULT	10
#define UNKNOWN_TYPE		11

#define ROLE_RESPONDER		1
#define REQUEST_COMPLETE	0
#define CANT_MPX_CONN		1
#define UNKNOWN_ROLE		3

#define HEADER_LEN		8
/* The most STDOUT bytes in one record: a multiple of 8, so no padding. */
#define CHUNK			65528

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
header(unsigned char *h, int type, unsigned id, size_t len)
{
	h[0] = VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = 0;	/* padding */
	h[7] = 0;
}

/*
 * Makes *buf (of *cap bytes, kept from one request to the next) hold at
 * least need bytes, doubling as it grows. Returns 0, logged, when out
 * of memory; *buf is then as it was.
 */
static int
grow(char **buf, size_t *cap, size_t need, const char *what)
{
	char	*p;
	size_t	 n = *cap * 2 > need ? *cap * 2 : need;

	if (need <= *cap)
		return 1;
	if ((p = realloc(*buf, n)) == NULL) {
		kiln_log(LOG_ERR, "fastcgi: out of memory for %s of %zu bytes",
		    what, need);
		return 0;
	}
	*buf = p;
	*cap = n;
	return 1;
}

/*
 * Waits for the connection to become readable or writable within the
 * request's deadline. A signal that stops the loop ends the wait; any
 * other one does not. Returns 1 when ready.
 */
static int
wait_fd(struct fcgi *f, short events)
{
	struct pollfd	 p = { f->fd, events, 0 };
	struct timespec	 ts;
	int64_t		 left;
	int		 rc;

	for (;;) {
		if ((left = f->deadline_ms - now_ms()) <= 0) {
			kiln_log(LOG_WARNING, "fastcgi: the web server "
			    "stalled for %d ms; request dropped",
			    f->timeout_ms);
			return 0;
		}
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		rc = ppoll(&p, 1, &ts, f->mask);
		if (rc > 0)
			return 1;
		if (rc < 0 && (errno != EINTR ||
		    (f->stop != NULL && *f->stop)))
			return 0;
	}
}

/* rpos has reached rlen: reads what the connection holds. 1: got some. */
static int
refill(struct fcgi *f)
{
	ssize_t	 got;

	f->rpos = f->rlen = 0;
	for (;;) {
		got = recv(f->fd, f->rbuf, sizeof(f->rbuf), 0);
		if (got > 0) {
			f->rlen = (size_t)got;
			return 1;
		}
		if (got == 0)
			return 0;	/* closed before the request ended */
		if (errno == EINTR)
			continue;
		if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
		    !wait_fd(f, POLLIN))
			return 0;
	}
}

/* The next n bytes of the connection into dst (NULL: skipped). */
static int
take(struct fcgi *f, void *dst, size_t n)
{
	unsigned char	*d = dst;
	size_t		 k;

	while (n > 0) {
		if (f->rpos == f->rlen && !refill(f))
			return 0;
		k = f->rlen - f->rpos < n ? f->rlen - f->rpos : n;
		if (d != NULL) {
			memcpy(d, f->rbuf + f->rpos, k);
			d += k;
		}
		f->rpos += k;
		n -= k;
	}
	return 1;
}

/* Sends all of iov[0..n), within the deadline. */
static int
send_all(struct fcgi *f, struct iovec *iov, int n)
{
	struct msghdr	 m;
	ssize_t		 sent;

	while (n > 0) {
		memset(&m, 0, sizeof(m));
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)n;
		sent = sendmsg(f->fd, &m, MSG_NOSIGNAL);
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
			    !wait_fd(f, POLLOUT))
				return 0;
			continue;
		}
		while (n > 0 && (size_t)sent >= iov->iov_len) {
			sent -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + sent;
			iov->iov_len -= (size_t)sent;
		}
	}
	return 1;
}

static int
send_end(struct fcgi *f, unsigned id, int protocol_status)
{
	unsigned char	 rec[HEADER_LEN + 8] = { 0 };
	struct iovec	 iov = { rec, sizeof(rec) };

	header(rec, END_REQUEST, id, 8);
	rec[HEADER_LEN + 4] = (unsigned char)protocol_status;
	return send_all(f, &iov, 1);
}

/*
 * Reads one name-value pair's length at *p (1 byte, or 4 with the top
 * bit set), within end. Returns 0 when it runs past end.
 */
static int
pair_len(const unsigned char **p, const unsigned char *end, size_t *len)
{
	const unsigned char	*s = *p;

	if (s >= end)
		return 0;
	if ((s[0] & 0x80) == 0) {
		*len = s[0];
		*p = s + 1;
		return 1;
	}
	if (end - s < 4)
		return 0;
	*len = ((size_t)(s[0] & 0x7f) << 24) | ((size_t)s[1] << 16) |
	    ((size_t)s[2] << 8) | s[3];
	*p = s + 4;
	return 1;
}

/*
 * Decodes the name-value pairs in env[0..env_len) in place into
 * "NAME=value" strings (each is shorter than its pair: the lengths took
 * at least two bytes) and points envp at them. A pair no C string can
 * carry (a NUL anywhere, an '=' or nothing in the name) is left out.
 */
static int
decode_params(struct fcgi *f)
{
	const unsigned char	*p = (unsigned char *)f->env, *end = p;
	char			*w = f->env, **np;
	size_t			 nlen, vlen, n = 0;

	if (f->env_len > 0)	/* env is NULL until a request has some */
		end = p + f->env_len;
	while (p < end) {
		if (!pair_len(&p, end, &nlen) || !pair_len(&p, end, &vlen) ||
		    nlen > (size_t)(end - p) || vlen > (size_t)(end - p) - nlen) {
			kiln_log(LOG_WARNING, "fastcgi: malformed parameters");
			return 0;
		}
		if (nlen == 0 || memchr(p, '=', nlen) != NULL ||
		    memchr(p, '\0', nlen + vlen) != NULL) {
			p += nlen + vlen;
			continue;
		}
		if (n + 2 > f->envp_cap) {
			np = realloc(f->envp, (f->envp_cap * 2 + 32) *
			    sizeof(*np));
			if (np == NULL)
				return 0;
			f->envp = np;
			f->envp_cap = f->envp_cap * 2 + 32;
		}
		f->envp[n++] = w;
		memmove(w, p, nlen);
		w[nlen] = '=';
		memmove(w + nlen + 1, p + nlen, vlen);
		w[nlen + 1 + vlen] = '\0';
		w += nlen + vlen + 2;
		p += nlen + vlen;
	}
	if (f->envp == NULL && (f->envp = malloc(sizeof(*f->envp))) == NULL)
		return 0;
	f->envp[n] = NULL;
	return 1;
}

/* Appends a PARAMS record's len bytes to env. */
static int
add_params(struct fcgi *f, size_t len)
{
	if (f->env_len + len > FCGI_MAX_PARAMS) {
		kiln_log(LOG_WARNING, "fastcgi: parameters over %d bytes",
		    FCGI_MAX_PARAMS);
		return 0;
	}
	if (!grow(&f->env, &f->env_cap, f->env_len + len, "parameters") ||
	    !take(f, f->env + f->env_len, len))
		return 0;
	f->env_len += len;
	return 1;
}

/*
 * A management record (request id 0): GET_VALUES is answered with the
 * variables we know (one connection, one request at a time), any other
 * type with UNKNOWN_TYPE.
 */
static int
management(struct fcgi *f, int type, size_t len)
{
	static const struct { const char *name, *value; } vars[] = {
		{ "FCGI_MAX_CONNS", "1" },
		{ "FCGI_MAX_REQS", "1" },
		{ "FCGI_MPXS_CONNS", "0" },
	};
	enum { NVARS = sizeof(vars) / sizeof(vars[0]) };
	unsigned char	 in[1024], out[HEADER_LEN + 64];
	const unsigned char *p = in, *end;
	size_t		 nlen, vlen, o = HEADER_LEN, i, v;
	int		 answered[NVARS] = { 0 };
	struct iovec	 iov = { out, 0 };

	if (type != GET_VALUES) {
		if (!take(f, NULL, len))
			return 0;
		header(out, UNKNOWN_TYPE, 0, 8);
		memset(out + HEADER_LEN, 0, 8);
		out[HEADER_LEN] = (unsigned char)type;
		iov.iov_len = HEADER_LEN + 8;
		return send_all(f, &iov, 1);
	}
	/* The names past the first KiB are not ours: skipped. */
	end = in + (len < sizeof(in) ? len : sizeof(in));
	if (!take(f, in, (size_t)(end - in)) ||
	    !take(f, NULL, len - (size_t)(end - in)))
		return 0;
	/* Each variable at most once, however often it is asked for. */
	while (pair_len(&p, end, &nlen) && pair_len(&p, end, &vlen) &&
	    nlen <= (size_t)(end - p) && vlen <= (size_t)(end - p) - nlen) {
		for (i = 0; i < NVARS; i++) {
			if (answered[i] || strlen(vars[i].name) != nlen ||
			    memcmp(vars[i].name, p, nlen) != 0)
				continue;
			answered[i] = 1;
			v = strlen(vars[i].value);
			out[o++] = (unsigned char)nlen;
			out[o++] = (unsigned char)v;
			memcpy(out + o, vars[i].name, nlen);
			memcpy(out + o + nlen, vars[i].value, v);
			o += nlen + v;
		}
		p += nlen + vlen;
	}
	header(out, GET_VALUES_RESULT, 0, o - HEADER_LEN);
	iov.iov_len = o;
	return send_all(f, &iov, 1);
}

/*
 * Reads records up to the end of the request's parameters. Returns 1
 * with envp set, 0 when the connection is to be dropped.
 */
static int
read_params(struct fcgi *f)
{
	unsigned char	 h[HEADER_LEN], begin[8];
	unsigned	 id;
	size_t		 len, pad;
	int		 begun = 0;

	f->env_len = 0;
	for (;;) {
		if (!take(f, h, sizeof(h)))
			return 0;
		if (h[0] != VERSION_1) {
			kiln_log(LOG_WARNING, "fastcgi: not a version 1 "
			    "record");
			return 0;
		}
		id = (unsigned)h[2] << 8 | h[3];
		len = (size_t)h[4] << 8 | h[5];
		pad = h[6];
		if (id == 0) {
			if (!management(f, h[1], len) || !take(f, NULL, pad))
				return 0;
		} else if (h[1] == BEGIN_REQUEST && !begun) {
			if (len != sizeof(begin) || !take(f, begin, len) ||
			    !take(f, NULL, pad))
				return 0;
			if (((unsigned)begin[0] << 8 | begin[1]) !=
			    ROLE_RESPONDER) {
				send_end(f, id, UNKNOWN_ROLE);
				return 0;
			}
			f->id = (uint16_t)id;
			begun = 1;
		} else if (h[1] == BEGIN_REQUEST) {
			/* One request per connection at a time. */
			if (!take(f, NULL, len + pad) ||
			    !send_end(f, id, CANT_MPX_CONN))
				return 0;
		} else if (!begun || id != f->id) {
			if (!take(f, NULL, len + pad))	/* not ours */
				return 0;
		} else if (h[1] == PARAMS && len > 0) {
			if (!add_params(f, len) || !take(f, NULL, pad))
				return 0;
		} else if (h[1] == PARAMS) {
			return take(f, NULL, pad) && decode_params(f);
		} else if (h[1] == ABORT_REQUEST) {
			send_end(f, id, REQUEST_COMPLETE);
			return 0;
		} else if (!take(f, NULL, len + pad)) {
			return 0;
		}
	}
}

int
fcgi_is_listener(void)
{
	int		 v = 0;
	socklen_t	 n = sizeof(v);

	return getsockopt(FCGI_LISTEN_FD, SOL_SOCKET, SO_ACCEPTCONN, &v,
	    &n) == 0 && v != 0;
}

void
fcgi_init(struct fcgi *f, int timeout_ms, const sigset_t *mask,
    volatile sig_atomic_t *stop)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->timeout_ms = timeout_ms;
	f->mask = mask;
	f->stop = stop;
}

static void
drop(struct fcgi *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->out_len = 0;
}

void
fcgi_free(struct fcgi *f)
{
	drop(f);
	free(f->env);
	free(f->envp);
	free(f->body);
	free(f->out);
	f->env = f->body = f->out = NULL;
	f->envp = NULL;
	f->env_cap = f->envp_cap = f->body_cap = f->out_cap = 0;
}

/*
 * FCGI_WEB_SERVER_ADDRS, when set, lists the addresses a TCP peer may
 * connect from (as libfcgi has it); a Unix socket's peer is the web
 * server that made it.
 */
static int
peer_allowed(int fd)
{
	const char		*list = getenv("FCGI_WEB_SERVER_ADDRS");
	struct sockaddr_storage	 sa;
	socklen_t		 n = sizeof(sa);
	char			 addr[INET6_ADDRSTRLEN];
	const void		*a;
	size_t			 len, item;

	if (list == NULL || *list == '\0' ||
	    getpeername(fd, (struct sockaddr *)&sa, &n) != 0)
		return 1;
	if (sa.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&sa)->sin_addr;
	else if (sa.ss_family == AF_INET6)
		a = &((struct sockaddr_in6 *)&sa)->sin6_addr;
	else
		return 1;
	if (inet_ntop(sa.ss_family, a, addr, sizeof(addr)) == NULL)
		return 0;
	len = strlen(addr);
	while (*list != '\0') {
		list += strspn(list, ", ");
		item = strcspn(list, ", ");
		if (item == len && strncmp(list, addr, len) == 0)
			return 1;
		list += item;
	}
	kiln_log(LOG_WARNING, "fastcgi: %s is not in FCGI_WEB_SERVER_ADDRS",
	    addr);
	return 0;
}

int
fcgi_accept(struct fcgi *f, int listen_fd)
{
	int	 fd;

	drop(f);
	for (;;) {
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED)
				return 0;
			kiln_log(LOG_ERR, "fastcgi accept: %s",
			    strerror(errno));
			return -1;
		}
		f->fd = fd;
		f->rpos = f->rlen = 0;
		f->in_done = 0;
		f->in_left = f->pad_left = 0;
		f->deadline_ms = now_ms() + f->timeout_ms;
		if (peer_allowed(fd) && read_params(f))
			return 1;
		drop(f);
	}
}

/*
 * The next STDIN record of the request: sets in_left, or in_done at the
 * empty one. Other records are answered or skipped. 0: the connection
 * broke, or the web server aborted the request.
 */
static int
next_stdin(struct fcgi *f)
{
	unsigned char	 h[HEADER_LEN];
	unsigned	 id;
	size_t		 len;

	for (;;) {
		if (!take(f, NULL, f->pad_left) || !take(f, h, sizeof(h)) ||
		    h[0] != VERSION_1)
			return 0;
		f->pad_left = h[6];
		id = (unsigned)h[2] << 8 | h[3];
		len = (size_t)h[4] << 8 | h[5];
		if (id == 0) {
			if (!management(f, h[1], len))
				return 0;
		} else if (id == f->id && h[1] == STDIN) {
			f->in_left = len;
			f->in_done = len == 0;
			return 1;
		} else if (id == f->id && h[1] == ABORT_REQUEST) {
			send_end(f, id, REQUEST_COMPLETE);
			return 0;
		} else if (!take(f, NULL, len)) {
			return 0;
		}
	}
}

size_t
fcgi_read(struct fcgi *f, char *buf, size_t n)
{
	size_t	 got = 0, k;

	while (got < n && !f->in_done && f->fd >= 0) {
		if (f->in_left == 0) {
			if (!next_stdin(f))
				goto broken;
			continue;
		}
		if (f->rpos == f->rlen && !refill(f))
			goto broken;
		k = f->rlen - f->rpos;
		k = k < n - got ? k : n - got;
		k = k < f->in_left ? k : f->in_left;
		memcpy(buf + got, f->rbuf + f->rpos, k);
		f->rpos += k;
		f->in_left -= k;
		got += k;
	}
	return got;
broken:
	drop(f);
	return got;
}

char *
fcgi_body(struct fcgi *f, size_t n)
{
	return grow(&f->body, &f->body_cap, n, "a body") ? f->body : NULL;
}

int
fcgi_write(struct fcgi *f, const char *buf, size_t n)
{
	if (!grow(&f->out, &f->out_cap, f->out_len + n, "a reply"))
		return 0;
	memcpy(f->out + f->out_len, buf, n);
	f->out_len += n;
	return 1;
}

/* At most this many STDOUT records go in one sendmsg. */
#define RECORDS_PER_SEND	16

int
fcgi_end(struct fcgi *f)
{
	unsigned char	 heads[RECORDS_PER_SEND][HEADER_LEN];
	unsigned char	 tail[2 * HEADER_LEN + 8] = { 0 };
	struct iovec	 iov[2 * RECORDS_PER_SEND + 1];
	char		 sink[4096];
	size_t		 off = 0, len;
	int		 n, ok = 1;

	if (f->fd < 0)
		return 0;
	/* What is left of the body: a close must not discard it. */
	f->deadline_ms = now_ms() + f->timeout_ms;
	while (fcgi_read(f, sink, sizeof(sink)) > 0)
		continue;
	if (f->fd < 0)
		return 0;
	header(tail, STDOUT, f->id, 0);
	header(tail + HEADER_LEN, END_REQUEST, f->id, 8);
	do {
		for (n = 0; n < RECORDS_PER_SEND && off < f->out_len; n++) {
			len = f->out_len - off < CHUNK ? f->out_len - off :
			    CHUNK;
			header(heads[n], STDOUT, f->id, len);
			iov[2 * n].iov_base = heads[n];
			iov[2 * n].iov_len = HEADER_LEN;
			iov[2 * n + 1].iov_base = f->out + off;
			iov[2 * n + 1].iov_len = len;
			off += len;
		}
		n *= 2;
		if (off == f->out_len) {
			iov[n].iov_base = tail;
			iov[n++].iov_len = sizeof(tail);
		}
		ok = send_all(f, iov, n);
	} while (ok && off < f->out_len);
	drop(f);
	return ok;
}
