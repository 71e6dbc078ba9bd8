/*
 * utf8: the length of one well-formed UTF-8 character, for the JSON
 * reader (which refuses a string without it) and valid_utf8_trim (which
 * drops the bytes that aren't one). Inline: the reader asks for every
 * non-ASCII character of every snapshot.
 */
#ifndef KILN_UTF8_H
#define KILN_UTF8_H

#include <stddef.h>

/*
 * The length of the well-formed UTF-8 sequence at p, whose first byte
 * is >= 0x80, or 0. Well-formed as in Unicode's table 3-7: no overlong
 * forms, no surrogates (ED A0..BF), nothing past U+10FFFF (F4 90..).
 */
static inline size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t		 avail = (size_t)(end - p);
	unsigned char	 c = p[0], lo = 0x80, hi = 0xbf;

	if (c < 0xc2)		/* a continuation, or overlong C0/C1 */
		return 0;
	if (c < 0xe0)
		return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c < 0xf0) {
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		return avail >= 3 && p[1] >= lo && p[1] <= hi &&
		    (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c < 0xf5) {
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		return avail >= 4 && p[1] >= lo && p[1] <= hi &&
		    (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

#endif
