/*
 * stripe: calls to Stripe's HTTP API (form-encoded POSTs with the secret
 * key as Bearer) at the configured stripe_api_base, through one libcurl
 * handle kept for the life of the process. Hard timeouts: 5 s to
 * connect, 10 s in all.
 */
#ifndef KILN_STRIPE_H
#define KILN_STRIPE_H

#include <stddef.h>

#include <jansson.h>

#define STRIPE_ERR_MAX	256

/* One form field; the name may use Stripe's brackets ("metadata[k]"). */
struct stripe_field {
	const char	*name;
	const char	*value;
};

/* 1 when stripe_secret_key is set. */
int	 stripe_configured(void);

/*
 * POSTs the n fields to <stripe_api_base><path>, with an
 * Idempotency-Key header when idem_key is not NULL. Returns Stripe's
 * answer, a JSON object (caller decrefs), or NULL with err filled:
 * Stripe's own message when it answered an error, else what failed on
 * the way (logged).
 */
json_t	*stripe_post(const char *path, const struct stripe_field *f,
	    size_t n, const char *idem_key, char err[STRIPE_ERR_MAX]);

/*
 * The id an API object field holds, as a string or an expanded object
 * ({"id": ...}); NULL when absent, null or not an id. Borrowed from v.
 */
const char *stripe_id(json_t *v);

#endif
