/*
 * iso: ISO 8601 / RFC 3339 time in and out. Kiln stores Unix time in UTC
 * and renders "YYYY-MM-DDTHH:MM:SSZ" (or with ".mmmZ").
 */
#ifndef KILN_ISO_H
#define KILN_ISO_H

#include <stdint.h>

#define ISO_MAX	32	/* buffer size for any rendered time */

/*
 * Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.frac]]" followed by "Z" or
 * "+HH:MM"/"-HH:MM" (a time without a zone is refused: ambiguous), and
 * plain Unix seconds. Years 1970-9999. Returns 1 and *ms (Unix
 * milliseconds), or 0.
 */
int	 iso_parse_ms(const char *s, int64_t *ms);

/* Renders Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" into out[ISO_MAX]. */
char	*iso_format(char out[ISO_MAX], int64_t secs);

/* Renders Unix milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
char	*iso_format_ms(char out[ISO_MAX], int64_t ms);

/* The current time, Unix seconds / milliseconds (KILN_FAKE_NOW for tests). */
int64_t	 iso_now(void);
int64_t	 iso_now_ms(void);

/* A monotonic clock in milliseconds, for how long something took. */
int64_t	 iso_mono_ms(void);

#endif
