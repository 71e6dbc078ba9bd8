/*
 * hash: SHA-256, HMAC-SHA256 and constant-time comparison, from
 * OpenSSL's libcrypto (no home-made cryptography).
 */
#ifndef KILN_HASH_H
#define KILN_HASH_H

#include <stddef.h>

#define HASH_LEN	32

void	hash_sha256(unsigned char out[HASH_LEN], const void *p, size_t n);
void	hash_hmac(unsigned char out[HASH_LEN], const void *key, size_t klen,
	    const void *p, size_t n);

/* HMAC-SHA256 under the configured pepper. Returns 1, or 0 (logged). */
int	hash_peppered(unsigned char out[HASH_LEN], const char *s);

/* Lower-case hex of n bytes into out[2n+1]. */
void	hash_hex(char *out, const unsigned char *p, size_t n);

/* 1 when the n bytes at a and b are equal, in time independent of where. */
int	hash_equal(const void *a, const void *b, size_t n);

#endif
