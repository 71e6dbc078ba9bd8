/*
 * cfg: configuration. One file of "key = value" lines (KILN_CONFIG, else
 * /etc/kiln/kiln.conf when it exists); every key can be overridden by the
 * environment variable KILN_<KEY> (upper case), e.g. port -> KILN_PORT.
 * Every key has a built-in default, so no file is needed at all.
 */
#ifndef KILN_CFG_H
#define KILN_CFG_H

#include <stdint.h>

/*
 * The value of a key: environment, then file, then default.
 * Borrowed for the life of the process. Never NULL for a known key
 * (an unset key with no default is "").
 */
const char	*cfg_get(const char *key);

/* The value as an integer; the default when unset or not a number. */
int64_t		 cfg_int(const char *key);

/* 1 when the key is "1", "yes", "true" or "on". */
int		 cfg_bool(const char *key);

/*
 * The secret used to hash keys and sign cursors: key_pepper when set,
 * otherwise 32 random bytes kept in <var_dir>/pepper (created 0600 on
 * first use). Returns 1 and fills *len, or 0 when it cannot be had.
 */
int		 cfg_pepper(const unsigned char **pepper, size_t *len);

#endif
