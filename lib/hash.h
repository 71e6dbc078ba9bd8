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

/*
 * Authenticated encryption (AES-256-GCM) under a key derived from the
 * pepper and a label, for secrets Kiln must keep only for a while (the
 * idempotent replay of a response that holds a collector key). ad is
 * bound to the ciphertext without being in it. hash_seal returns a new
 * string "v1.<hex>" (caller frees) or NULL; hash_unseal returns the
 * plaintext (caller frees, NUL-terminated) or NULL when it was not
 * sealed under this pepper, label and ad.
 */
char	*hash_seal(const char *label, const char *ad, const char *plain,
	    size_t len);
char	*hash_unseal(const char *label, const char *ad, const char *sealed);

/* Lower-case hex of n bytes into out[2n+1]. */
void	hash_hex(char *out, const unsigned char *p, size_t n);

/* 1 when the n bytes at a and b are equal, in time independent of where. */
int	hash_equal(const void *a, const void *b, size_t n);

#endif
