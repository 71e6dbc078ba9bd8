/*
 * valid: input checks shared by the routes. The reply-making ones
 * answer 400 validation_failed with the offending "field".
 */
#ifndef KILN_VALID_H
#define KILN_VALID_H

#include <stddef.h>

#include <jansson.h>

struct req;

/* Answers 400 validation_failed naming field. */
void	valid_fail(struct req *r, const char *field, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Drops from s every byte that is not part of a whole UTF-8 character,
 * such as the half characters left by cutting strings to a buffer's size
 * (at the end, or inside a value built from cut parts): jansson refuses
 * the whole string for half a character. What is left is UTF-8 as
 * jansson checks it (no overlong form, no surrogate, nothing past
 * U+10FFFF).
 */
void	valid_utf8_trim(char *s);

/* Number of UTF-8 code points in s (jansson has checked the encoding). */
size_t	valid_chars(const char *s);

/*
 * Reads obj[field] as a string of min..max characters with no control
 * characters. Returns 1 with *out borrowed from obj (NULL when absent
 * and not required), or 0 having answered.
 */
int	valid_string(struct req *r, json_t *obj, const char *field,
	    size_t min, size_t max, int required, const char **out);

/* 1 for an RFC 1035 host name: labels 1-63 of [A-Za-z0-9-], no edge '-'. */
int	valid_hostname(const char *s);

/* 1 for a plausible address: local@domain, no spaces, <= 254 bytes. */
int	valid_email(const char *s);

/*
 * Reads obj[field] as up to 20 distinct tags of 1-50 characters.
 * Returns 1 with *out a new reference (NULL when absent), or 0 having
 * answered.
 */
int	valid_tags(struct req *r, json_t *obj, const char *field,
	    json_t **out);

#endif
