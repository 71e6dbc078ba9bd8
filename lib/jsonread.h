/*
 * jsonread: Kiln's reader for untrusted JSON (request bodies, agent
 * snapshots). It accepts exactly what jansson's json_loadb(buf, len,
 * JSON_REJECT_DUPLICATES, &err) accepts and builds the same json_t tree,
 * but reads the buffer in place instead of one character at a time
 * through jansson's stream layer. jansson still builds and dumps JSON.
 */
#ifndef KILN_JSONREAD_H
#define KILN_JSONREAD_H

#include <stddef.h>

#include <jansson.h>

/*
 * Parses buf[0..len) (no NUL needed): one object or array, whitespace
 * around it, nothing else. Strict as jansson with JSON_REJECT_DUPLICATES:
 * valid UTF-8 only, no raw control characters or \u0000 in strings, no
 * lone surrogates, no duplicate keys, integers within int64 (json_integer)
 * and reals that don't overflow (json_real), at most JSON_PARSER_MAX_DEPTH
 * levels counting scalars. Returns a new tree (caller decrefs), or NULL
 * with err, when not NULL, filled: text says what and where ("duplicate
 * object key at line 3, column 9"), line and column (in characters) are
 * 1-based, position is the byte offset, json_error_code(err) is set.
 */
json_t	*jsonread_parse(const char *buf, size_t len, json_error_t *err);

#endif
