/*
 * hash: thin wrappers over libcrypto.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "cfg.h"
#include "hash.h"
#include "log.h"

void
hash_sha256(unsigned char out[HASH_LEN], const void *p, size_t n)
{
	SHA256(p, n, out);
}

void
hash_hmac(unsigned char out[HASH_LEN], const void *key, size_t klen,
    const void *p, size_t n)
{
	unsigned int	 len = HASH_LEN;

	HMAC(EVP_sha256(), key, (int)klen, p, n, out, &len);
}

int
hash_peppered(unsigned char out[HASH_LEN], const char *s)
{
	const unsigned char	*pepper;
	size_t			 plen;

	if (!cfg_pepper(&pepper, &plen))
		return 0;
	hash_hmac(out, pepper, plen, s, strlen(s));
	return 1;
}

void
hash_hex(char *out, const unsigned char *p, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
hash_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
