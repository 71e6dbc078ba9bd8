/*
 * page: cursor = hex("<t>|<id>") + "." + hex(first 12 bytes of
 * HMAC(pepper, "<context>|<t>|<id>")).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "hash.h"
#include "page.h"
#include "req.h"

#define MAC_BYTES	12

static int
mac(unsigned char out[HASH_LEN], const char *context, const char *payload)
{
	const unsigned char	*pepper;
	size_t			 plen, n;
	char			*msg;

	if (!cfg_pepper(&pepper, &plen))
		return 0;
	n = strlen(context) + strlen(payload) + 2;
	if ((msg = malloc(n)) == NULL)
		return 0;
	snprintf(msg, n, "%s|%s", context, payload);
	hash_hmac(out, pepper, plen, msg, n - 1);
	free(msg);
	return 1;
}

int
page_cursor_make(char out[PAGE_CURSOR_MAX], const char *context,
    const struct page_pos *pos)
{
	char		 payload[64];
	unsigned char	 m[HASH_LEN];
	size_t		 n;

	n = (size_t)snprintf(payload, sizeof(payload), "%" PRId64 "|%s",
	    pos->t, pos->id);
	if (n >= sizeof(payload) || 2 * n + 1 + 2 * MAC_BYTES >=
	    PAGE_CURSOR_MAX || !mac(m, context, payload))
		return 0;
	hash_hex(out, (const unsigned char *)payload, n);
	out[2 * n] = '.';
	hash_hex(out + 2 * n + 1, m, MAC_BYTES);
	return 1;
}

static int
unhex(unsigned char *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int	 b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1 ||
		    strchr("0123456789abcdef", s[2 * i]) == NULL ||
		    strchr("0123456789abcdef", s[2 * i + 1]) == NULL)
			return 0;
		out[i] = (unsigned char)b;
	}
	return 1;
}

int
page_cursor_read(const char *cursor, const char *context,
    struct page_pos *pos)
{
	const char	*dot = strchr(cursor, '.');
	char		 payload[64], *bar, *end;
	unsigned char	 want[HASH_LEN], got[MAC_BYTES];
	size_t		 hexlen;

	if (dot == NULL || (hexlen = (size_t)(dot - cursor)) % 2 != 0 ||
	    hexlen / 2 >= sizeof(payload) || hexlen == 0 ||
	    strlen(dot + 1) != 2 * MAC_BYTES ||
	    !unhex((unsigned char *)payload, cursor, hexlen / 2) ||
	    !unhex(got, dot + 1, MAC_BYTES))
		return 0;
	payload[hexlen / 2] = '\0';
	if (strlen(payload) != hexlen / 2 || !mac(want, context, payload) ||
	    !hash_equal(want, got, MAC_BYTES))
		return 0;
	if ((bar = strchr(payload, '|')) == NULL)
		return 0;
	*bar = '\0';
	pos->t = strtoll(payload, &end, 10);
	if (*end != '\0' || strlen(bar + 1) >= sizeof(pos->id))
		return 0;
	memcpy(pos->id, bar + 1, strlen(bar + 1) + 1);
	return 1;
}

int
page_params(struct req *r, const char *context, int *limit, int *after,
    struct page_pos *pos)
{
	const char	*l = req_query(r, "limit"), *c = req_query(r, "cursor");
	char		*end;
	long		 n;

	*limit = PAGE_LIMIT_MAX;
	*after = 0;
	if (l != NULL) {
		n = strtol(l, &end, 10);
		if (*l == '\0' || *end != '\0' || n < 1 ||
		    n > PAGE_LIMIT_MAX) {
			reply_err(r, 400, "invalid_limit",
			    "limit must be a whole number from 1 to %d.",
			    PAGE_LIMIT_MAX);
			return 0;
		}
		*limit = (int)n;
	}
	if (c != NULL && *c != '\0') {
		if (!page_cursor_read(c, context, pos)) {
			reply_err(r, 400, "invalid_cursor",
			    "The cursor is not one this list gave out.");
			return 0;
		}
		*after = 1;
	}
	return 1;
}
