/*
 * rate: token buckets shared by every process of every route binary.
 * They live in a table of fixed size in a file every process maps
 * (rate_shm_path); taking a token locks one of its mutexes for a few
 * loads and stores. See lib/rate.c for the layout.
 */
#ifndef KILN_RATE_H
#define KILN_RATE_H

struct req;

/*
 * A kind of bucket: its name prefix, capacity and refill per second.
 * The configuration key rate_<prefix> (dashes as underscores), when
 * set, replaces the capacity and scales the refill with it (so the
 * bucket still refills completely in the same time).
 */
struct rate_class {
	const char	*prefix;
	const char	*cfg_key;
	double		 capacity;
	double		 per_sec;
};

extern const struct rate_class RATE_IP;		/* 100, 10/s */
extern const struct rate_class RATE_INGEST_IP;	/* 1000, 100/s */
extern const struct rate_class RATE_KEY;	/* 1000, 100/s */
extern const struct rate_class RATE_ACCOUNT;	/* 5000, 500/s */
extern const struct rate_class RATE_SERVER_CREATE;	/* 100/h/account */
extern const struct rate_class RATE_SERVER_DELETE;	/* 100/h/account */
extern const struct rate_class RATE_ROTATE_KEY;	/* 10/h/account */
extern const struct rate_class RATE_CHANNEL_TEST;	/* 10/h/account */
extern const struct rate_class RATE_REGISTER;	/* 3/h/IP */

/*
 * Takes one token from the bucket "<prefix>:<who>". Returns 1 when
 * there was one. Otherwise returns 0 and sets *retry_after to the whole
 * seconds until there will be. A table that can't be mapped lets the
 * request through (logged once): a limiter must not take the API down.
 */
int	rate_take(const struct rate_class *c, const char *who,
	    int *retry_after);

/*
 * rate_take, answering 429 rate_limited with Retry-After when empty.
 * Returns 1 when the request may go on.
 */
int	rate_check(struct req *r, const struct rate_class *c, const char *who);

/*
 * Calls fn(arg, name, tokens) for every bucket in use now (not yet full
 * again: a full bucket is the same as none), with its name (truncated
 * to 47 bytes) and its tokens after its last take; for kiln-admin.
 * A table that does not exist yet has none (and is not created).
 * Returns 1, or 0 (logged) when the table can't be read.
 */
int	rate_each(void (*fn)(void *, const char *, double), void *arg);

#endif
