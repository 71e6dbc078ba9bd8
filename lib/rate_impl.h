/*
 * rate_impl: the shared table of token buckets behind rate.h, exposed
 * for its unit tests (tests/unit.c) and nothing else; routes use rate.h.
 * The layout and the reasons for it are in lib/rate.c.
 */
#ifndef KILN_RATE_IMPL_H
#define KILN_RATE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#define RATE_SLOTS	65536	/* buckets in the routes' table */
#define RATE_WAYS	16	/* slots a name may live in: its set */
#define RATE_STRIPES	256	/* mutexes; a set belongs to one */
#define RATE_NAME_MAX	48	/* a slot's copy of the name, NUL too */

struct rate_table;

/*
 * Maps the table in the file at path, creating it (or replacing a file
 * that is not a table of nslots slots made since the last boot) when
 * needed; nslots is a power of two, at least RATE_WAYS. Returns the
 * table, or NULL (logged). Caller closes.
 */
struct rate_table	*rate_table_open(const char *path, uint32_t nslots);

/* Unmaps the table; the file and its buckets stay for other processes. */
void		 rate_table_close(struct rate_table *t);

/*
 * Takes one token at now_ms from the bucket name of this capacity and
 * refill per second (per_sec > 0). Returns 1 when there was one, 0 when
 * not, and sets *level to the tokens the bucket had before the debit;
 * returns -1 when the stripe's mutex can't be had (the caller decides).
 */
int		 rate_table_take(struct rate_table *t, const char *name,
		    double cap, double per_sec, int64_t now_ms, double *level);

/*
 * Calls fn for each bucket still in use at now_ms (not yet full again),
 * with its stored name and its tokens after its last take. Returns 1,
 * or 0 when a stripe can't be locked.
 */
int		 rate_table_each(struct rate_table *t, int64_t now_ms,
		    void (*fn)(void *, const char *, double), void *arg);

/* The set (0 .. nslots / RATE_WAYS - 1) where the bucket name lives. */
uint32_t	 rate_table_set(const struct rate_table *t, const char *name);

/*
 * Locks and unlocks the stripe of a set, as rate_table_take does; the
 * lock takes over from a process that died holding it. Lock returns 1,
 * or 0 when the mutex is unusable.
 */
int		 rate_table_lock(struct rate_table *t, uint32_t set);
void		 rate_table_unlock(struct rate_table *t, uint32_t set);

/* SipHash-2-4 of msg under a 128-bit key. */
uint64_t	 rate_siphash(const unsigned char key[16], const void *msg,
		    size_t n);

/* Whole seconds until level reaches 1 at per_sec, at least 1. */
int		 rate_retry_after(double level, double per_sec);

#endif
