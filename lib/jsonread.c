/*
 * jsonread: a strict JSON reader that builds jansson values.
 *
 * jansson's lexer fetches every character through a stream callback,
 * decodes UTF-8 one character at a time and copies each token into a
 * growing buffer before converting it. Here the input is walked in
 * place: plain string bytes go by eight at a time, a string without
 * escapes becomes a json_t straight from the input, and most numbers
 * are converted without strtod. What is accepted, and the values built,
 * are jansson's (tests/fuzz/json.c holds the two side by side).
 *
 * The nesting is kept on an explicit stack, not in recursion: a
 * container is attached to its parent as soon as it opens, so a key is
 * no longer needed once its value starts and nothing but the parent
 * pointers has to be remembered per level.
 */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonread.h"
#include "utf8.h"

/* jansson reads integers with strtoll: json_int_t is 64 bits here. */
_Static_assert(sizeof(json_int_t) == sizeof(int64_t), "json_int_t");

#define IS_DIGIT(c)	((unsigned)(c) - '0' < 10)

/*
 * The decoded bytes of a string that holds escapes. The first 256 live
 * in the struct itself: a short escaped string costs no malloc.
 */
struct sbuf {
	char	*p;		/* local or malloc'd */
	size_t	 len;
	size_t	 cap;
	char	 local[256];
};

struct reader {
	const unsigned char	*buf;	/* the input */
	const unsigned char	*end;	/* one past its last byte */
	const unsigned char	*p;	/* next byte to read */
	json_error_t		*err;	/* may be NULL */
	struct sbuf		 key;	/* an escaped key */
	struct sbuf		 val;	/* an escaped string value */
};

/*
 * Fills rd->err with what went wrong at byte `at`. Line and column are
 * counted here, only on failure, so the happy path never tracks them.
 * The message names no input bytes: it is sent back to the client, and
 * the input may not even be UTF-8.
 */
static void __attribute__((format(printf, 4, 5)))
fail(struct reader *rd, const unsigned char *at, enum json_error_code code,
    const char *fmt, ...)
{
	json_error_t		*e = rd->err;
	const unsigned char	*q;
	char			 what[100];
	int			 line = 1, col = 1;
	va_list			 ap;

	if (e == NULL)
		return;
	for (q = rd->buf; q < at; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else if ((*q & 0xc0) != 0x80)	/* not a continuation */
			col++;
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	e->line = line;
	e->column = col;
	e->position = at - rd->buf > INT_MAX ? INT_MAX : (int)(at - rd->buf);
	/* jansson keeps the error code in the text's last byte. */
	snprintf(e->text, sizeof(e->text) - 1, "%s at line %d, column %d",
	    what, line, col);
	e->text[sizeof(e->text) - 1] = (char)code;
}

static void
sbuf_init(struct sbuf *sb)
{
	sb->p = sb->local;
	sb->len = 0;
	sb->cap = sizeof(sb->local);
}

static void
sbuf_free(struct sbuf *sb)
{
	if (sb->p != sb->local)
		free(sb->p);
}

/* Appends n bytes. Returns 1, or 0 out of memory. */
static int
sbuf_add(struct sbuf *sb, const void *s, size_t n)
{
	char	*np;
	size_t	 cap;

	if (n > sb->cap - sb->len) {
		cap = sb->cap * 2 > sb->len + n ? sb->cap * 2 : sb->len + n;
		if (sb->p == sb->local) {
			if ((np = malloc(cap)) != NULL)
				memcpy(np, sb->p, sb->len);
		} else
			np = realloc(sb->p, cap);
		if (np == NULL)
			return 0;
		sb->p = np;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	return 1;
}

/* The four JSON whitespace bytes; anything else ends the run. */
static inline void
skip_ws(struct reader *rd)
{
	const unsigned char	*p = rd->p;

	while (p < rd->end && *p <= ' ' &&
	    (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	rd->p = p;
}

/* 1 for a byte a string holds as it is: printable ASCII but '"', '\'. */
static inline int
plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WORD_SCAN	1
#define ONES		0x0101010101010101ULL
#define HIGHS		0x8080808080808080ULL

/*
 * The number of plain bytes at the start of the 8 at s (8: all plain).
 * Each term sets a byte's high bit where that byte is special: >= 0x80
 * (v itself), < 0x20 (v - 0x20 borrows), '"' or '\' (the xor leaves a
 * zero byte, which borrows). A borrow can also flag the bytes above a
 * special one, never one below, so the lowest flag is exact.
 */
static inline unsigned
plain_prefix(const unsigned char *s)
{
	uint64_t	 v, m;

	memcpy(&v, s, 8);
	m = (v | (v - ONES * 0x20) | ((v ^ (ONES * '"')) - ONES) |
	    ((v ^ (ONES * '\\')) - ONES)) & HIGHS;
	return m == 0 ? 8 : (unsigned)__builtin_ctzll(m) / 8;
}
#endif

/* Four hex digits at p, if there are four before end; else -1. */
static long
hex4(const unsigned char *p, const unsigned char *end)
{
	long	 v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned char	 c = p[i];

		if (IS_DIGIT(c))
			v = v * 16 + (c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = v * 16 + ((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	return v;
}

/*
 * Decodes the escape after a backslash at rd->p into sb. Returns 1, or
 * 0 with the error set.
 */
static int
read_escape(struct reader *rd, struct sbuf *sb)
{
	const unsigned char	*p = rd->p, *at = p - 1;
	unsigned char		 out[4];
	long			 u, lo;
	size_t			 n;

	if (p == rd->end) {
		fail(rd, at, json_error_premature_end_of_input,
		    "unterminated string");
		return 0;
	}
	switch (*p++) {
	case '"':	out[0] = '"';	break;
	case '\\':	out[0] = '\\';	break;
	case '/':	out[0] = '/';	break;
	case 'b':	out[0] = '\b';	break;
	case 'f':	out[0] = '\f';	break;
	case 'n':	out[0] = '\n';	break;
	case 'r':	out[0] = '\r';	break;
	case 't':	out[0] = '\t';	break;
	case 'u':
		if ((u = hex4(p, rd->end)) < 0)
			goto bad;
		p += 4;
		if (u == 0) {
			/* jansson without JSON_ALLOW_NUL: no NUL anywhere. */
			fail(rd, at, json_error_null_character,
			    "\\u0000 is not allowed");
			return 0;
		}
		if (u >= 0xdc00 && u <= 0xdfff)
			goto lone;
		if (u >= 0xd800 && u <= 0xdbff) {
			/* A high surrogate needs its low half right after. */
			if (rd->end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    (lo = hex4(p + 2, rd->end)) < 0xdc00 || lo > 0xdfff)
				goto lone;
			u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		}
		if (u < 0x80) {
			out[0] = (unsigned char)u;
			n = 1;
		} else if (u < 0x800) {
			out[0] = (unsigned char)(0xc0 | u >> 6);
			out[1] = (unsigned char)(0x80 | (u & 0x3f));
			n = 2;
		} else if (u < 0x10000) {
			out[0] = (unsigned char)(0xe0 | u >> 12);
			out[1] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
			out[2] = (unsigned char)(0x80 | (u & 0x3f));
			n = 3;
		} else {
			out[0] = (unsigned char)(0xf0 | u >> 18);
			out[1] = (unsigned char)(0x80 | (u >> 12 & 0x3f));
			out[2] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
			out[3] = (unsigned char)(0x80 | (u & 0x3f));
			n = 4;
		}
		rd->p = p;
		if (!sbuf_add(sb, out, n))
			goto oom;
		return 1;
	default:
		goto bad;
	}
	rd->p = p;
	if (!sbuf_add(sb, out, 1))
		goto oom;
	return 1;
bad:
	fail(rd, at, json_error_invalid_syntax, "invalid escape");
	return 0;
lone:
	fail(rd, at, json_error_invalid_syntax,
	    "invalid Unicode escape (a lone surrogate half)");
	return 0;
oom:
	fail(rd, at, json_error_out_of_memory, "out of memory");
	return 0;
}

/*
 * Reads the string whose opening quote rd->p is just past. Returns 1
 * with *s, *n its decoded bytes: a slice of the input when it holds no
 * escape (no copy), else sb's contents until the next read into sb.
 * Returns 0 with the error set.
 */
static int
read_string(struct reader *rd, struct sbuf *sb, const char **s, size_t *n)
{
	const unsigned char	*p = rd->p, *end = rd->end, *run = p;
	size_t			 len;
	int			 escaped = 0;

	sb->len = 0;
	for (;;) {
#ifdef WORD_SCAN
		while (end - p >= 8) {
			unsigned	 k = plain_prefix(p);

			p += k;
			if (k < 8)
				break;
		}
#endif
		while (p < end && plain(*p))
			p++;
		if (p == end) {
			fail(rd, p, json_error_premature_end_of_input,
			    "unterminated string");
			return 0;
		}
		if (*p == '"')
			break;
		if (*p >= 0x80) {
			if ((len = utf8_len(p, end)) == 0) {
				fail(rd, p, json_error_invalid_utf8,
				    "invalid UTF-8 (byte 0x%02x)", *p);
				return 0;
			}
			p += len;
			continue;
		}
		if (*p != '\\') {
			fail(rd, p, json_error_invalid_syntax,
			    "control character 0x%02x in a string", *p);
			return 0;
		}
		/* An escape: from here on the string is built in sb. */
		if (!sbuf_add(sb, run, (size_t)(p - run))) {
			fail(rd, p, json_error_out_of_memory, "out of memory");
			return 0;
		}
		rd->p = p + 1;
		if (!read_escape(rd, sb))
			return 0;
		p = run = rd->p;
		escaped = 1;
	}
	if (!escaped) {
		*s = (const char *)run;
		*n = (size_t)(p - run);
	} else {
		if (!sbuf_add(sb, run, (size_t)(p - run))) {
			fail(rd, p, json_error_out_of_memory, "out of memory");
			return 0;
		}
		*s = sb->p;
		*n = sb->len;
	}
	rd->p = p + 1;
	return 1;
}

/*
 * strtod in the "C" locale, as jansson gets by swapping in the locale's
 * decimal point: Kiln never calls setlocale, but a library might.
 */
static double
c_strtod(const char *s, int *overflow)
{
	static locale_t	 c_loc;
	double		 v;

	if (c_loc == (locale_t)0)
		c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	errno = 0;
	v = c_loc != (locale_t)0 ? strtod_l(s, NULL, c_loc) : strtod(s, NULL);
	/* Underflow (to a subnormal or zero) is accepted, as by jansson. */
	*overflow = errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL);
	return v;
}

/* The powers of ten a double holds exactly. */
static const double exact10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/*
 * Reads the number at rd->p ('-' or a digit) as jansson does: an integer
 * (no '.', no exponent) must fit int64; a real is strtod's value and
 * must not overflow. Returns 1 with *out a new json_t (NULL: out of
 * memory), or 0 with the error set.
 */
static int
read_number(struct reader *rd, json_t **out)
{
	const unsigned char	*start = rd->p, *p = start, *end = rd->end;
	uint64_t		 m = 0;	/* first 19 significant digits */
	int			 neg = 0, nd = 0, real = 0, esign = 1;
	long			 e10 = 0, e = 0;	/* m * 10^e10 */
	double			 v;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (p == end || !IS_DIGIT(*p))
		goto bad;
	if (*p == '0') {
		if (++p < end && IS_DIGIT(*p))
			goto bad;		/* no leading zeros */
	} else {
		do {
			if (nd < 19)
				m = m * 10 + (*p - '0');
			nd++;
		} while (++p < end && IS_DIGIT(*p));
	}
	if (p < end && *p == '.') {
		real = 1;
		if (++p == end || !IS_DIGIT(*p))
			goto bad;
		do {
			if (nd == 0 && *p == '0')
				e10--;		/* a leading zero: 0.05 */
			else if (nd < 19) {
				m = m * 10 + (*p - '0');
				nd++;
				e10--;
			} else
				nd++;		/* too precise: strtod's */
		} while (++p < end && IS_DIGIT(*p));
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		real = 1;
		if (++p < end && (*p == '+' || *p == '-'))
			esign = *p++ == '-' ? -1 : 1;
		if (p == end || !IS_DIGIT(*p))
			goto bad;
		do {
			if (e < 100000)	/* far out of range already */
				e = e * 10 + (*p - '0');
		} while (++p < end && IS_DIGIT(*p));
		e10 += esign * e;
	}
	rd->p = p;

	if (!real) {
		/* strtoll's range: 20 digits or more never fit. */
		if (nd > 19 || m > (uint64_t)INT64_MAX + neg) {
			fail(rd, start, json_error_numeric_overflow,
			    "integer out of range");
			return 0;
		}
		*out = json_integer(!neg ? (json_int_t)m : m == 0 ? 0 :
		    -(json_int_t)(m - 1) - 1);
		return 1;
	}
	if (nd == 0)
		v = 0.0;		/* every digit zero: strtod gives +-0 */
#if FLT_EVAL_METHOD == 0
	else if (nd <= 19 && m <= (1ULL << 53) && e10 >= -22 && e10 <= 22)
		/*
		 * Both operands are exact doubles, so the one rounding of
		 * the product or quotient is the correctly rounded value,
		 * which is what glibc's strtod returns too (Clinger).
		 */
		v = e10 < 0 ? (double)m / exact10[-e10] :
		    (double)m * exact10[e10];
#endif
	else {
		char	 local[64], *s = local;
		size_t	 n = (size_t)(p - start);
		int	 overflow;

		if (n >= sizeof(local) && (s = malloc(n + 1)) == NULL) {
			fail(rd, start, json_error_out_of_memory,
			    "out of memory");
			return 0;
		}
		memcpy(s, start, n);
		s[n] = '\0';
		v = c_strtod(s, &overflow);
		if (s != local)
			free(s);
		if (overflow) {
			fail(rd, start, json_error_numeric_overflow,
			    "real number overflow");
			return 0;
		}
		*out = json_real(v);	/* the sign is in the text */
		return 1;
	}
	*out = json_real(neg ? -v : v);
	return 1;
bad:
	fail(rd, start, json_error_invalid_syntax, "invalid number");
	return 0;
}

/*
 * jansson reads one character past a number or a literal and puts it
 * back; a NUL put back is lost (its stream's small buffer reads a NUL
 * as "empty" and fetches the next byte), so one NUL byte right after a
 * number, true, false or null is skipped. Skipped here too: the
 * contract is to accept what jansson accepts, and the tree is the same.
 */
static inline void
lost_nul(struct reader *rd)
{
	if (rd->p < rd->end && *rd->p == '\0')
		rd->p++;
}

/*
 * Adds v to the container top: under key (klen bytes) for an object,
 * at the end for an array. Steals v, NULL included (out of memory).
 * Returns 1, or 0 with the error set at `at`.
 */
static int
attach(struct reader *rd, json_t *top, const char *key, size_t klen,
    json_t *v, const unsigned char *at)
{
	size_t	 had;

	if (v == NULL)
		goto oom;
	if (json_is_array(top)) {
		if (json_array_append_new(top, v) != 0)
			goto oom;
		return 1;
	}
	/*
	 * A duplicate key replaces the first value and leaves the size as
	 * it was: one hash lookup per key instead of json_object_getn's
	 * and then the insert's. The tree is thrown away either way.
	 */
	had = json_object_size(top);
	if (json_object_setn_new_nocheck(top, key, klen, v) != 0)
		goto oom;
	if (json_object_size(top) == had) {
		fail(rd, at, json_error_duplicate_key, "duplicate object key");
		return 0;
	}
	return 1;
oom:
	fail(rd, at, json_error_out_of_memory, "out of memory");
	return 0;
}

json_t *
jsonread_parse(const char *buf, size_t len, json_error_t *err)
{
	static const unsigned char	 none[1];
	struct reader			 rd;
	json_t				*stack[JSON_PARSER_MAX_DEPTH];
	json_t				*root = NULL, *top, *v;
	const unsigned char		*at, *keyat = NULL;
	const char			*key = NULL, *s;
	size_t				 klen = 0, n;
	int				 depth;	/* open containers */

	rd.buf = buf != NULL ? (const unsigned char *)buf : none;
	rd.end = rd.buf + (buf != NULL ? len : 0);
	rd.p = rd.buf;
	rd.err = err;
	sbuf_init(&rd.key);
	sbuf_init(&rd.val);
	if (err != NULL) {
		memset(err, 0, sizeof(*err));
		err->line = err->column = err->position = -1;
		snprintf(err->source, sizeof(err->source), "<buffer>");
	}

	skip_ws(&rd);
	if (rd.p == rd.end || (*rd.p != '{' && *rd.p != '[')) {
		if (rd.end - rd.p >= 3 && memcmp(rd.p, "\xef\xbb\xbf", 3) == 0)
			fail(&rd, rd.p, json_error_invalid_syntax,
			    "a byte-order mark is not JSON");
		else
			fail(&rd, rd.p, rd.p == rd.end ?
			    json_error_premature_end_of_input :
			    json_error_invalid_syntax,
			    "'{' or '[' expected");
		goto out;
	}
	root = *rd.p++ == '{' ? json_object() : json_array();
	if (root == NULL) {
		fail(&rd, rd.buf, json_error_out_of_memory, "out of memory");
		goto out;
	}
	stack[0] = top = root;
	depth = 1;

open:
	/* Just inside '{' or '[': the first member, or the end of none. */
	skip_ws(&rd);
	if (rd.p < rd.end && *rd.p == (json_is_object(top) ? '}' : ']')) {
		rd.p++;
		goto close;
	}
member:
	if (json_is_object(top)) {
		keyat = rd.p;
		if (rd.p == rd.end || *rd.p != '"') {
			fail(&rd, rd.p, rd.p == rd.end ?
			    json_error_premature_end_of_input :
			    json_error_invalid_syntax,
			    "string or '}' expected");
			goto bad;
		}
		rd.p++;
		if (!read_string(&rd, &rd.key, &key, &klen))
			goto bad;
		skip_ws(&rd);
		if (rd.p == rd.end || *rd.p != ':') {
			fail(&rd, rd.p, rd.p == rd.end ?
			    json_error_premature_end_of_input :
			    json_error_invalid_syntax, "':' expected");
			goto bad;
		}
		rd.p++;
		skip_ws(&rd);
	}
	/* jansson counts every value, scalars too, against its limit. */
	if (depth >= JSON_PARSER_MAX_DEPTH) {
		fail(&rd, rd.p, json_error_stack_overflow,
		    "nesting deeper than %d levels", JSON_PARSER_MAX_DEPTH);
		goto bad;
	}
	at = json_is_object(top) ? keyat : rd.p;
	if (rd.p == rd.end) {
		fail(&rd, rd.p, json_error_premature_end_of_input,
		    "value expected");
		goto bad;
	}
	switch (*rd.p) {
	case '{':
	case '[':
		/* Attached now and filled later: see the top of the file. */
		v = *rd.p++ == '{' ? json_object() : json_array();
		if (!attach(&rd, top, key, klen, v, at))
			goto bad;
		stack[depth++] = top = v;
		goto open;
	case '"':
		rd.p++;
		if (!read_string(&rd, &rd.val, &s, &n))
			goto bad;
		v = json_stringn_nocheck(s, n);
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		if (!read_number(&rd, &v))
			goto bad;
		lost_nul(&rd);
		break;
	case 't':
		if (rd.end - rd.p < 4 || memcmp(rd.p, "true", 4) != 0)
			goto literal;
		rd.p += 4;
		v = json_true();
		lost_nul(&rd);
		break;
	case 'f':
		if (rd.end - rd.p < 5 || memcmp(rd.p, "false", 5) != 0)
			goto literal;
		rd.p += 5;
		v = json_false();
		lost_nul(&rd);
		break;
	case 'n':
		if (rd.end - rd.p < 4 || memcmp(rd.p, "null", 4) != 0)
			goto literal;
		rd.p += 4;
		v = json_null();
		lost_nul(&rd);
		break;
	default:
		fail(&rd, rd.p, json_error_invalid_syntax, "value expected");
		goto bad;
	}
	if (!attach(&rd, top, key, klen, v, at))
		goto bad;
next:
	/* After a member: another, or the end of the container. */
	skip_ws(&rd);
	if (rd.p < rd.end && *rd.p == ',') {
		rd.p++;
		skip_ws(&rd);
		goto member;
	}
	if (rd.p < rd.end && *rd.p == (json_is_object(top) ? '}' : ']')) {
		rd.p++;
		goto close;
	}
	fail(&rd, rd.p, rd.p == rd.end ? json_error_premature_end_of_input :
	    json_error_invalid_syntax, json_is_object(top) ?
	    "',' or '}' expected" : "',' or ']' expected");
	goto bad;
close:
	if (--depth > 0) {
		top = stack[depth - 1];
		goto next;
	}
	skip_ws(&rd);
	if (rd.p != rd.end) {
		fail(&rd, rd.p, json_error_end_of_input_expected,
		    "end of input expected");
		goto bad;
	}
	goto out;
literal:
	fail(&rd, rd.p, json_error_invalid_syntax, "invalid literal");
bad:
	json_decref(root);
	root = NULL;
out:
	sbuf_free(&rd.key);
	sbuf_free(&rd.val);
	return root;
}
