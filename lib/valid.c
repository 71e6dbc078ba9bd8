/*
 * valid: field validation.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "req.h"
#include "utf8.h"
#include "valid.h"

#define MAX_TAGS	20
#define MAX_TAG_CHARS	50

void
valid_fail(struct req *r, const char *field, const char *fmt, ...)
{
	char	 msg[300];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_err_extra(r, 400, "validation_failed", msg,
	    json_pack("{s:s}", "field", field));
}

/*
 * Copies byte by byte, out never ahead of in: a rule's title and message
 * pass here on every push, and are nearly always ASCII.
 */
void
valid_utf8_trim(char *s)
{
	unsigned char	*in = (unsigned char *)s, *out = in;
	const unsigned char *end = in + strlen(s);
	size_t		 n;

	while (in < end) {
		if (*in < 0x80) {
			*out++ = *in++;
			continue;
		}
		/* A byte that starts no whole character goes alone. */
		if ((n = utf8_len(in, end)) == 0) {
			in++;
			continue;
		}
		while (n-- > 0)
			*out++ = *in++;
	}
	*out = '\0';
}

size_t
valid_chars(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int
valid_string(struct req *r, json_t *obj, const char *field, size_t min,
    size_t max, int required, const char **out)
{
	json_t	*v = json_object_get(obj, field);
	size_t	 n;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 1;
		valid_fail(r, field, "%s is required.", field);
		return 0;
	}
	if (!json_is_string(v)) {
		valid_fail(r, field, "%s must be a string.", field);
		return 0;
	}
	n = valid_chars(json_string_value(v));
	if (n < min || n > max || has_control(json_string_value(v))) {
		valid_fail(r, field, "%s must be %zu to %zu characters, "
		    "without control characters.", field, min, max);
		return 0;
	}
	*out = json_string_value(v);
	return 1;
}

int
valid_hostname(const char *s)
{
	size_t	 len = strlen(s), label = 0;
	char	 prev = '.';

	if (len == 0 || len > 253)
		return 0;
	for (; *s != '\0'; prev = *s++) {
		if (*s == '.') {
			if (label == 0 || prev == '-')
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-') {
			if (*s == '-' && label == 0)
				return 0;
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	/* A trailing dot (absolute name) is fine; a trailing '-' is not. */
	return prev != '-';
}

int
valid_email(const char *s)
{
	const char	*at = strchr(s, '@');
	size_t		 len = strlen(s);

	if (len < 3 || len > 254 || at == NULL || at == s ||
	    strchr(at + 1, '@') != NULL || at[1] == '\0' ||
	    strchr(at + 1, '.') == NULL || at[strlen(at) - 1] == '.' ||
	    at[1] == '.' || strstr(at, "..") != NULL)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

int
valid_tags(struct req *r, json_t *obj, const char *field, json_t **out)
{
	json_t	*v = json_object_get(obj, field), *tag, *seen;
	size_t	 i, j, n;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 1;
	if (!json_is_array(v) || json_array_size(v) > MAX_TAGS) {
		valid_fail(r, field, "%s must be an array of at most %d "
		    "strings.", field, MAX_TAGS);
		return 0;
	}
	json_array_foreach(v, i, tag) {
		if (!json_is_string(tag) ||
		    (n = valid_chars(json_string_value(tag))) < 1 ||
		    n > MAX_TAG_CHARS || has_control(json_string_value(tag))) {
			valid_fail(r, field, "Each tag must be a string of 1 "
			    "to %d characters.", MAX_TAG_CHARS);
			return 0;
		}
	}
	/* Duplicates are dropped, first occurrence kept, order kept. */
	*out = json_array();
	json_array_foreach(v, i, tag) {
		int	 dup = 0;

		json_array_foreach(*out, j, seen)
			if (json_equal(seen, tag))
				dup = 1;
		if (!dup)
			json_array_append(*out, tag);
	}
	return 1;
}
