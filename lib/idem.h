/*
 * idem: the Idempotency-Key header. The first response to a key (a
 * success or a deterministic 4xx) is kept 24 hours per account and key;
 * a replay gets it again with Idempotency-Replayed: true.
 */
#ifndef KILN_IDEM_H
#define KILN_IDEM_H

#include <stdint.h>

struct req;

/* One request's use of a key, between idem_begin and idem_finish. */
struct idem {
	int	 active;	/* a record is in flight for this request */
	int64_t	 account_id;
	char	 key[256];
};

/*
 * Looks at the request's Idempotency-Key. Returns 1 when the handler
 * should go on (with no key, or with a fresh one now marked in flight:
 * call idem_finish after answering), or 0 having answered: the replay,
 * 400 invalid_idempotency_key, 409 idempotency_key_conflict (the first
 * is still in flight) or 422 idempotency_key_reused (another body).
 */
int	idem_begin(struct req *r, int64_t account_id, struct idem *im);

/*
 * Stores the reply the handler gave for a key idem_begin accepted, or
 * forgets the key when the reply is not deterministic (429, 5xx).
 */
void	idem_finish(struct req *r, struct idem *im);

#endif
