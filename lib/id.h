/*
 * id: random identifiers and secrets. Everything random comes from the
 * kernel CSPRNG through getrandom(2).
 */
#ifndef KILN_ID_H
#define KILN_ID_H

#include <stddef.h>
#include <stdint.h>

/* Public ids: prefix + 20 lowercase hex characters (80 random bits). */
#define ID_HEX_LEN	20
#define ID_MAX		32	/* buffer size for any public id */

/* Collector and account keys: <prefix><43 base62>_<4 base62>. */
#define KEY_BODY_LEN	43
#define KEY_CHECK_LEN	4
#define KEY_MAX		64	/* buffer size for any key */

#define KEY_PREFIX_COLLECTOR	"gmk_cru_live_"
#define KEY_PREFIX_ACCOUNT	"gmk_acct_live_"
#define TOKEN_PREFIX_SESSION	"kiln_sess_"
#define TOKEN_PREFIX_VERIFY	"kiln_verify_"

/* Fills buf with n random bytes. Returns 1, or 0 (logged) on failure. */
int	id_random(void *buf, size_t n);

/* Writes prefix + 20 random hex characters into out[ID_MAX]. Returns 1/0. */
int	id_new(char out[ID_MAX], const char *prefix);

/*
 * 1 when s is prefix followed by exactly 20 lowercase hex characters.
 * Route handlers use it to refuse malformed ids before any lookup.
 */
int	id_valid(const char *s, const char *prefix);

/*
 * base62 (0-9A-Za-z) of a big-endian byte string, left-padded with '0'
 * to width characters. Returns 1, or 0 if it does not fit in width.
 */
int	id_base62(char *out, size_t width, const unsigned char *in, size_t n);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of n bytes. */
uint32_t id_crc32(const void *p, size_t n);

/* Writes prefix + 43 base62 + '_' + 4-character checksum into out[KEY_MAX]. */
int	id_key_new(char out[KEY_MAX], const char *prefix);

/*
 * 1 when s has the key shape for prefix and its checksum matches, so a
 * mistyped key is refused without touching the database.
 */
int	id_key_valid(const char *s, const char *prefix);

/* Writes prefix + 43 base62 characters (256 random bits) into out[KEY_MAX]. */
int	id_token_new(char out[KEY_MAX], const char *prefix);

#endif
