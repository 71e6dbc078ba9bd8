/*
 * hash: thin wrappers over libcrypto.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "cfg.h"
#include "hash.h"
#include "id.h"
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

#define SEAL_NONCE	12
#define SEAL_TAG	16

/* The AES key for a label: HMAC(pepper, "seal|" label). */
static int
seal_key(unsigned char key[HASH_LEN], const char *label)
{
	char	 msg[128];

	snprintf(msg, sizeof(msg), "seal|%s", label);
	return hash_peppered(key, msg);
}

/*
 * Runs AES-256-GCM one way or the other over in[0..n) into out (n bytes).
 * tag is written when sealing and checked when opening. Returns 1/0.
 */
static int
gcm(int seal, const unsigned char key[HASH_LEN],
    const unsigned char nonce[SEAL_NONCE], const char *ad,
    const unsigned char *in, size_t n, unsigned char *out,
    unsigned char tag[SEAL_TAG])
{
	EVP_CIPHER_CTX	*ctx = EVP_CIPHER_CTX_new();
	int		 len, ok = 0;

	if (ctx == NULL || n > INT32_MAX ||
	    EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce,
	    seal) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &len, (const unsigned char *)ad,
	    (int)strlen(ad)) != 1 ||
	    EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1)
		goto out;
	if (!seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG,
	    tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + len, &len) != 1)
		goto out;	/* opening: the tag did not match */
	if (seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG,
	    tag) != 1)
		goto out;
	ok = 1;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

char *
hash_seal(const char *label, const char *ad, const char *plain, size_t len)
{
	unsigned char	 key[HASH_LEN], *raw = NULL;
	size_t		 rawlen = SEAL_NONCE + SEAL_TAG + len;
	char		*out = NULL;

	if (!seal_key(key, label) || (raw = malloc(rawlen)) == NULL ||
	    !id_random(raw, SEAL_NONCE) ||
	    !gcm(1, key, raw, ad, (const unsigned char *)plain, len,
	    raw + SEAL_NONCE + SEAL_TAG, raw + SEAL_NONCE) ||
	    (out = malloc(3 + 2 * rawlen + 1)) == NULL)
		goto done;
	memcpy(out, "v1.", 3);
	hash_hex(out + 3, raw, rawlen);
done:
	free(raw);
	OPENSSL_cleanse(key, sizeof(key));
	return out;
}

char *
hash_unseal(const char *label, const char *ad, const char *sealed)
{
	unsigned char	 key[HASH_LEN], *raw = NULL;
	size_t		 hexlen, rawlen, i;
	char		*plain = NULL;
	unsigned int	 b;

	if (strncmp(sealed, "v1.", 3) != 0)
		return NULL;
	hexlen = strlen(sealed + 3);
	rawlen = hexlen / 2;
	if (hexlen % 2 != 0 || rawlen < SEAL_NONCE + SEAL_TAG ||
	    !seal_key(key, label) || (raw = malloc(rawlen)) == NULL)
		goto done;
	for (i = 0; i < rawlen; i++) {
		if (sscanf(sealed + 3 + 2 * i, "%2x", &b) != 1)
			goto done;
		raw[i] = (unsigned char)b;
	}
	rawlen -= SEAL_NONCE + SEAL_TAG;
	if ((plain = malloc(rawlen + 1)) == NULL ||
	    !gcm(0, key, raw, ad, raw + SEAL_NONCE + SEAL_TAG, rawlen,
	    (unsigned char *)plain, raw + SEAL_NONCE)) {
		free(plain);
		plain = NULL;
		goto done;
	}
	plain[rawlen] = '\0';
done:
	free(raw);
	OPENSSL_cleanse(key, sizeof(key));
	return plain;
}
