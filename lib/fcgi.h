/*
 * fcgi: the responder side of FastCGI (one request per connection), as
 * the web server speaks it on the listening socket it hands us as fd 0.
 *
 * Kiln's own instead of libfcgi's: the parameters are decoded into one
 * buffer the connection keeps from request to request (no allocation per
 * parameter), the reply goes out as one writev of its records with the
 * END_REQUEST, the connection is closed without lingering for the web
 * server to close first, and every wait has a deadline, so a front end
 * that stalls half way through a request costs that request only.
 */
#ifndef KILN_FCGI_H
#define KILN_FCGI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define FCGI_LISTEN_FD		0
/* The most the parameters (CGI variables and HTTP headers) may hold. */
#define FCGI_MAX_PARAMS		(256 * 1024)

struct fcgi {
	int		 fd;		/* the connection; -1 between requests */
	uint16_t	 id;		/* the request's id */
	int		 in_done;	/* the empty STDIN record came */
	size_t		 in_left;	/* STDIN bytes left in this record */
	size_t		 pad_left;	/* then padding to skip */
	int		 timeout_ms;	/* for a request to come, a reply to go */
	int64_t		 deadline_ms;	/* CLOCK_MONOTONIC */
	const sigset_t	*mask;		/* waits run with it (ppoll) */
	volatile sig_atomic_t *stop;	/* set: a signal ends a wait */

	/* Bytes read from the connection, not yet consumed. */
	unsigned char	 rbuf[16384];
	size_t		 rpos, rlen;

	/* The parameters: "NAME=value" strings, and envp over them. */
	char		*env;
	size_t		 env_len, env_cap;
	char		**envp;		/* NULL-terminated */
	size_t		 envp_cap;

	/* The request body, for the route (fcgi_body). */
	char		*body;
	size_t		 body_cap;

	/* The reply's bytes (the STDOUT stream), sent by fcgi_end. */
	char		*out;
	size_t		 out_len, out_cap;
};

/* 1 when fd 0 is a listening socket (FastCGI), 0 for plain CGI. */
int	 fcgi_is_listener(void);

/*
 * A request must arrive, and its reply leave, within timeout_ms each.
 * Waits for the web server run with mask as the signal mask (NULL: the
 * thread's); a signal that sets *stop ends them, any other one does not.
 */
void	 fcgi_init(struct fcgi *f, int timeout_ms, const sigset_t *mask,
	    volatile sig_atomic_t *stop);
void	 fcgi_free(struct fcgi *f);

/*
 * Accepts one connection on the listening socket and reads its request
 * up to the end of its parameters (f->envp). Management records are
 * answered on the way; a request for a role other than responder is
 * refused and the next connection taken. Returns 1, 0 when nothing is
 * queued (the socket is non-blocking) and -1 on an error of the
 * listening socket itself.
 */
int	 fcgi_accept(struct fcgi *f, int listen_fd);

/*
 * A buffer of n bytes for the request's body, kept by the connection
 * from one request to the next (a fresh one each time would cost an
 * allocation large enough to make malloc tidy all its small free
 * chunks first). Valid until the next fcgi_accept; NULL: no memory.
 */
char	*fcgi_body(struct fcgi *f, size_t n);

/* Up to n bytes of the request body; 0 at its end or on an error. */
size_t	 fcgi_read(struct fcgi *f, char *buf, size_t n);

/* Appends to the reply. Returns 0 when out of memory. */
int	 fcgi_write(struct fcgi *f, const char *buf, size_t n);

/*
 * Sends the reply and the END_REQUEST, and closes the connection (what
 * is left of the body is read first, so the close loses nothing).
 * Returns 1 when all of it was sent.
 */
int	 fcgi_end(struct fcgi *f);

#endif
