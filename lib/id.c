/*
 * id: public ids, collector/account keys with a CRC-32 checksum, opaque
 * tokens.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "hash.h"
#include "id.h"
#include "log.h"

static const char base62_digits[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int
id_random(void *buf, size_t n)
{
	unsigned char	*p = buf;
	ssize_t		 got;

	while (n > 0) {
		got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			kiln_log(LOG_ERR, "getrandom: %s", strerror(errno));
			return 0;
		}
		p += got;
		n -= (size_t)got;
	}
	return 1;
}

int
id_new(char out[ID_MAX], const char *prefix)
{
	unsigned char	 raw[ID_HEX_LEN / 2];
	size_t		 plen = strlen(prefix);

	if (plen + ID_HEX_LEN + 1 > ID_MAX || !id_random(raw, sizeof(raw)))
		return 0;
	memcpy(out, prefix, plen);
	hash_hex(out + plen, raw, sizeof(raw));
	return 1;
}

int
id_valid(const char *s, const char *prefix)
{
	size_t	 plen = strlen(prefix), i;

	if (s == NULL || strncmp(s, prefix, plen) != 0)
		return 0;
	s += plen;
	for (i = 0; i < ID_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[ID_HEX_LEN] == '\0';
}

/*
 * Schoolbook division of the big-endian number in[] by 62, emitting the
 * digits from the least significant end. Inputs are at most 32 bytes.
 */
int
id_base62(char *out, size_t width, const unsigned char *in, size_t n)
{
	unsigned char	 num[64];
	size_t		 pos = width, i;
	int		 nonzero;

	if (n > sizeof(num))
		return 0;
	memcpy(num, in, n);
	memset(out, '0', width);
	out[width] = '\0';
	for (;;) {
		unsigned int	 rem = 0;

		nonzero = 0;
		for (i = 0; i < n; i++) {
			unsigned int	 cur = rem * 256 + num[i];

			num[i] = (unsigned char)(cur / 62);
			rem = cur % 62;
			if (num[i] != 0)
				nonzero = 1;
		}
		if (pos == 0)
			return 0;
		out[--pos] = base62_digits[rem];
		if (!nonzero)
			return 1;
	}
}

uint32_t
id_crc32(const void *p, size_t n)
{
	static uint32_t		 table[256];
	static int		 ready;
	const unsigned char	*b = p;
	uint32_t		 crc = 0xffffffffu;
	size_t			 i;

	if (!ready) {
		for (uint32_t k = 0; k < 256; k++) {
			uint32_t	 c = k;

			for (int j = 0; j < 8; j++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[k] = c;
		}
		ready = 1;
	}
	for (i = 0; i < n; i++)
		crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

/* The last 4 base62 digits of CRC-32 of the first n characters of key. */
static void
key_checksum(char out[KEY_CHECK_LEN + 1], const char *key, size_t n)
{
	uint32_t	 crc = id_crc32(key, n);
	unsigned char	 be[4] = {
		(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
		(unsigned char)(crc >> 8), (unsigned char)crc
	};
	char		 full[7];	/* 62^6 > 2^32 */

	id_base62(full, 6, be, sizeof(be));
	memcpy(out, full + 6 - KEY_CHECK_LEN, KEY_CHECK_LEN + 1);
}

int
id_token_new(char out[KEY_MAX], const char *prefix)
{
	unsigned char	 raw[32];
	size_t		 plen = strlen(prefix);

	if (plen + KEY_BODY_LEN + 1 > KEY_MAX || !id_random(raw, sizeof(raw)))
		return 0;
	memcpy(out, prefix, plen);
	return id_base62(out + plen, KEY_BODY_LEN, raw, sizeof(raw));
}

int
id_key_new(char out[KEY_MAX], const char *prefix)
{
	size_t	 n = strlen(prefix) + KEY_BODY_LEN;

	if (n + 1 + KEY_CHECK_LEN + 1 > KEY_MAX || !id_token_new(out, prefix))
		return 0;
	out[n] = '_';
	key_checksum(out + n + 1, out, n);
	return 1;
}

int
id_key_valid(const char *s, const char *prefix)
{
	size_t	 plen = strlen(prefix), n = plen + KEY_BODY_LEN, i;
	char	 check[KEY_CHECK_LEN + 1];

	if (s == NULL || strncmp(s, prefix, plen) != 0 ||
	    strlen(s) != n + 1 + KEY_CHECK_LEN || s[n] != '_')
		return 0;
	for (i = plen; i < n; i++)
		if (strchr(base62_digits, s[i]) == NULL || s[i] == '\0')
			return 0;
	key_checksum(check, s, n);
	return strcmp(check, s + n + 1) == 0;
}
