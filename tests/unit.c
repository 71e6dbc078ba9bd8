/*
 * unit: the library's functions, tested directly. Known values come from
 * the standards (RFC 4231, the CRC-32 check value) or were computed
 * outside Kiln (Python, date -u), never from the code under test.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "billing.h"
#include "fcgi.h"
#include "jsonread.h"
#include "kiln.h"
#include "migration.h"
#include "rate_impl.h"
#include "rules.h"
#include "snapshot.h"
#include "tap.h"

#define PEPPER		"unit-pepper"
#define BASE_URL	"https://kiln.example"

static int	 saved_stderr = -1;	/* while quiet(1) is in force */

/* Hides the error lines a test provokes on purpose ("second reply"). */
static void
quiet(int on)
{
	int	 fd;

	fflush(stderr);
	if (on && saved_stderr < 0) {
		saved_stderr = dup(2);
		if ((fd = open("/dev/null", O_WRONLY)) >= 0) {
			dup2(fd, 2);
			close(fd);
		}
	} else if (!on && saved_stderr >= 0) {
		dup2(saved_stderr, 2);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

/* --- a request without a web server --------------------------------- */

/* struct req_alloc is private to lib/req.c; its first member is the link. */
struct alloc_link {
	struct alloc_link	*next;
};

static void
fake_req(struct req *r, const char *method, const char *path,
    const char *query)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "req_unit");
	r->method = method;
	r->path = path;
	r->query = query;
	r->nqpairs = -1;
}

/* What req_serve's release() frees, then a clean slate. */
static void
fake_done(struct req *r)
{
	struct alloc_link	*a, *next;

	for (a = (struct alloc_link *)r->allocs; a != NULL; a = next) {
		next = a->next;
		free(a);
	}
	json_decref(r->json);
	free(r->headers);
	free(r->reply);
	memset(r, 0, sizeof(*r));
}

/* The reply body as JSON, or NULL (reported). Caller decrefs. */
static json_t *
reply_body(const struct req *r)
{
	json_error_t	 err;
	json_t		*j;

	if (r->reply == NULL) {
		fprintf(stderr, "#   no reply body\n");
		return NULL;
	}
	j = json_loadb(r->reply, r->reply_len, 0, &err);
	if (j == NULL)
		fprintf(stderr, "#   reply is not JSON: %s\n", r->reply);
	return j;
}

/* obj[key] as a string, or NULL. Borrowed from obj. */
static const char *
jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* --- 1. ids and keys ---------------------------------------------------- */

/* The key checksum recomputed here: base62(CRC-32(s[0..n))), last 4. */
static void
checksum(char out[KEY_CHECK_LEN + 1], const char *s, size_t n)
{
	uint32_t	 crc = id_crc32(s, n);
	unsigned char	 be[4] = {
		(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
		(unsigned char)(crc >> 8), (unsigned char)crc
	};
	char		 full[7];

	id_base62(full, 6, be, sizeof(be));
	memcpy(out, full + 2, KEY_CHECK_LEN + 1);
}

static void
test_ids(void)
{
	static const char fixed[] = KEY_PREFIX_COLLECTOR
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg_uk2a";
	static const char digits62[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	static const unsigned char b0[] = { 0x00 }, b61[] = { 0x3d },
	    b62[] = { 0x3e }, b255[] = { 0xff }, b3844[] = { 0x0f, 0x04 },
	    bmax32[] = { 0xff, 0xff, 0xff, 0xff },
	    bcheck[] = { 0xcb, 0xf4, 0x39, 0x26 },
	    bmax64[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	unsigned char	 big[65], ones[32];
	char		 id[ID_MAX], id2[ID_MAX], key[KEY_MAX], bad[KEY_MAX];
	char		 out[80], sum[KEY_CHECK_LEN + 1];
	size_t		 plen = strlen(KEY_PREFIX_COLLECTOR), n, i;
	int		 accepted, tries;

	ok(id_new(id, "srv_") && id_valid(id, "srv_"), "1.1 new id is valid");
	is_int((long long)strlen(id), 4 + ID_HEX_LEN, "1.2 id length");
	ok(strspn(id + 4, "0123456789abcdef") == ID_HEX_LEN,
	    "1.3 id body is lowercase hex");
	ok(id_new(id2, "srv_") && strcmp(id, id2) != 0,
	    "1.4 two new ids differ");
	ok(id_valid("srv_0123456789abcdef0123", "srv_"), "1.5 known id valid");
	ok(!id_valid("srv_0123456789ABCDEF0123", "srv_"),
	    "1.6 uppercase refused");
	ok(!id_valid("srv_0123456789abcdef012", "srv_"), "1.7 short refused");
	ok(!id_valid("srv_0123456789abcdef01234", "srv_"), "1.8 long refused");
	ok(!id_valid("srv_../../etc", "srv_"), "1.9 traversal refused");
	ok(!id_valid("", "srv_"), "1.10 empty refused");
	ok(!id_valid(NULL, "srv_"), "1.11 NULL refused");
	ok(!id_valid("usr_0123456789abcdef0123", "srv_"),
	    "1.12 wrong prefix refused");
	ok(!id_valid("srv_0123456789abcdeg0123", "srv_"),
	    "1.13 non-hex refused");
	ok(!id_valid("srv_0123456789abcdef012\n", "srv_"),
	    "1.14 newline refused");
	ok(!id_new(out, "a_prefix_too_long_for_an_id_"),
	    "1.15 id_new refuses a prefix that can't fit");

	ok(id_base62(out, 4, b0, 1) && strcmp(out, "0000") == 0,
	    "1.16 base62 of 0 is all '0'");
	is_str(out, "0000", "1.17 base62 0 text");
	ok(id_base62(out, 4, b61, 1), "1.18 base62 61 fits");
	is_str(out, "000z", "1.19 base62 61 is z");
	ok(id_base62(out, 4, b62, 1), "1.20 base62 62 fits");
	is_str(out, "0010", "1.21 base62 62 is 10");
	id_base62(out, 4, b255, 1);
	is_str(out, "0047", "1.22 base62 255 is 47");
	id_base62(out, 4, b3844, 2);
	is_str(out, "0100", "1.23 base62 62^2 is 100");
	id_base62(out, 6, bmax32, 4);
	is_str(out, "4gfFC3", "1.24 base62 2^32-1");
	id_base62(out, 6, bcheck, 4);
	is_str(out, "3jZRME", "1.25 base62 0xcbf43926");
	ok(id_base62(out, 11, bmax64, 8), "1.26 2^64-1 fits 11");
	is_str(out, "LygHa16AHYF", "1.27 base62 2^64-1");
	ok(id_base62(out, 1, b61, 1) && strcmp(out, "z") == 0,
	    "1.28 exact fit in width 1");
	ok(!id_base62(out, 1, b62, 1), "1.29 62 overflows width 1");
	ok(!id_base62(out, 10, bmax64, 8), "1.30 2^64-1 overflows width 10");
	memset(ones, 0xff, sizeof(ones));
	ok(id_base62(out, KEY_BODY_LEN, ones, sizeof(ones)),
	    "1.31 2^256-1 fits a key body");
	is_str(out, "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1",
	    "1.32 base62 2^256-1");
	ok(!id_base62(out, KEY_BODY_LEN - 1, ones, sizeof(ones)),
	    "1.33 2^256-1 overflows 42");
	memset(big, 0, sizeof(big));
	ok(!id_base62(out, 8, big, sizeof(big)), "1.34 over 64 bytes refused");

	is_int(id_crc32("123456789", 9), 0xcbf43926, "1.35 CRC-32 check value");
	is_int(id_crc32("", 0), 0, "1.36 CRC-32 of nothing");
	is_int(id_crc32("The quick brown fox jumps over the lazy dog", 43),
	    0x414fa339, "1.37 CRC-32 of the fox");

	ok(id_key_new(key, KEY_PREFIX_COLLECTOR) &&
	    id_key_valid(key, KEY_PREFIX_COLLECTOR), "1.38 new key is valid");
	is_int((long long)strlen(key), (long long)plen + KEY_BODY_LEN + 1 +
	    KEY_CHECK_LEN, "1.39 key length");
	ok(strncmp(key, "gmk_cru_live_", 13) == 0, "1.40 collector prefix");
	ok(strspn(key + plen, digits62) == KEY_BODY_LEN &&
	    key[plen + KEY_BODY_LEN] == '_', "1.41 key shape");
	checksum(sum, key, plen + KEY_BODY_LEN);
	is_str(key + plen + KEY_BODY_LEN + 1, sum,
	    "1.42 checksum is base62(CRC-32) recomputed");
	ok(!id_key_valid(key, KEY_PREFIX_ACCOUNT),
	    "1.43 collector key is not an account key");
	ok(id_key_new(key, KEY_PREFIX_ACCOUNT) &&
	    id_key_valid(key, KEY_PREFIX_ACCOUNT), "1.44 account key valid");
	ok(strncmp(key, "gmk_acct_live_", 14) == 0 &&
	    strlen(key) == 14 + KEY_BODY_LEN + 1 + KEY_CHECK_LEN,
	    "1.45 account prefix and length");
	checksum(sum, key, 14 + KEY_BODY_LEN);
	is_str(key + 14 + KEY_BODY_LEN + 1, sum, "1.46 account checksum");
	ok(!id_key_valid(key, KEY_PREFIX_COLLECTOR),
	    "1.47 account key is not a collector key");

	/* A fixed key, its checksum computed outside Kiln, so no flakes. */
	ok(id_key_valid(fixed, KEY_PREFIX_COLLECTOR), "1.48 fixed key valid");
	checksum(sum, fixed, plen + KEY_BODY_LEN);
	is_str(sum, "uk2a", "1.49 fixed key checksum recomputed");
	accepted = tries = 0;
	for (i = plen; i < plen + KEY_BODY_LEN + 1 + KEY_CHECK_LEN; i++) {
		if (i == plen + KEY_BODY_LEN)
			continue;
		for (n = 0; n < 62; n++) {
			if (digits62[n] == fixed[i])
				continue;
			memcpy(bad, fixed, sizeof(fixed));
			bad[i] = digits62[n];
			tries++;
			accepted += id_key_valid(bad, KEY_PREFIX_COLLECTOR);
		}
	}
	is_int(accepted, 0, "1.50 every changed body or checksum char "
	    "refused (%d tries)", tries);
	memcpy(bad, fixed, sizeof(fixed));
	bad[0] = 'G';
	ok(!id_key_valid(bad, KEY_PREFIX_COLLECTOR), "1.51 wrong prefix");
	memcpy(bad, fixed, sizeof(fixed));
	bad[strlen(bad) - 1] = '\0';
	ok(!id_key_valid(bad, KEY_PREFIX_COLLECTOR), "1.52 short key");
	snprintf(bad, sizeof(bad), "%sa", fixed);
	ok(!id_key_valid(bad, KEY_PREFIX_COLLECTOR), "1.53 long key");
	memcpy(bad, fixed, sizeof(fixed));
	bad[plen + 5] = '-';
	ok(!id_key_valid(bad, KEY_PREFIX_COLLECTOR), "1.54 non-base62 char");
	memcpy(bad, fixed, sizeof(fixed));
	bad[plen + KEY_BODY_LEN] = 'x';
	ok(!id_key_valid(bad, KEY_PREFIX_COLLECTOR), "1.55 missing '_'");
	/* The body shifted by one: '_' lands in the body, length kept. */
	snprintf(bad, sizeof(bad), "%s%.42s__uk2a", KEY_PREFIX_COLLECTOR,
	    fixed + plen);
	ok(!id_key_valid(bad, KEY_PREFIX_COLLECTOR), "1.56 '_' in the body");
	ok(!id_key_valid("", KEY_PREFIX_COLLECTOR), "1.57 empty key");
	ok(!id_key_valid(NULL, KEY_PREFIX_COLLECTOR), "1.58 NULL key");

	ok(id_token_new(key, TOKEN_PREFIX_SESSION) &&
	    strncmp(key, "kiln_sess_", 10) == 0 &&
	    strlen(key) == 10 + KEY_BODY_LEN &&
	    strspn(key + 10, digits62) == KEY_BODY_LEN, "1.59 session token");
}

/* --- 2. hash ------------------------------------------------------------ */

/* is_str on the hex of an HMAC-SHA256. */
static void
is_hmac(const void *key, size_t klen, const void *msg, size_t n,
    const char *want, const char *name)
{
	unsigned char	 mac[HASH_LEN];
	char		 hex[2 * HASH_LEN + 1];

	hash_hmac(mac, key, klen, msg, n);
	hash_hex(hex, mac, HASH_LEN);
	is_str(hex, want, "%s", name);
}

static void
test_hash(void)
{
	static const char tc6[] =
	    "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char tc7[] = "This is a test using a larger than "
	    "block-size key and a larger than block-size data. The key "
	    "needs to be hashed before being used by the HMAC algorithm.";
	static const unsigned char raw[] = { 0x00, 0x01, 0x7f, 0x80, 0xfe,
	    0xff };
	const unsigned char *pepper;
	unsigned char	 key[131], data[50], d[HASH_LEN], d2[HASH_LEN];
	char		 hex[2 * HASH_LEN + 1], path[300];
	size_t		 i, plen;

	memset(key, 0x0b, 20);
	is_hmac(key, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7", "2.1 RFC 4231 case 1");
	is_hmac("Jefe", 4, "what do ya want for nothing?", 28,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	    "2.2 RFC 4231 case 2");
	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	is_hmac(key, 20, data, 50, "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe", "2.3 RFC 4231 case 3");
	for (i = 0; i < 25; i++)
		key[i] = (unsigned char)(i + 1);
	memset(data, 0xcd, 50);
	is_hmac(key, 25, data, 50, "82558a389a443c0ea4cc819899f2083a"
	    "85f0faa3e578f8077a2e3ff46729665b", "2.4 RFC 4231 case 4");
	memset(key, 0xaa, 131);
	is_hmac(key, 131, tc6, strlen(tc6), "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54", "2.5 RFC 4231 case 6");
	is_hmac(key, 131, tc7, strlen(tc7), "9b09ffa71b942fcb27635fbcd5b0e944"
	    "bfdc63644f0713938a7f51535c3a35e2", "2.6 RFC 4231 case 7");

	hash_sha256(d, "abc", 3);
	hash_hex(hex, d, HASH_LEN);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad", "2.7 SHA-256 of abc");
	hash_sha256(d, "", 0);
	hash_hex(hex, d, HASH_LEN);
	is_str(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855", "2.8 SHA-256 of nothing");
	hash_hex(hex, raw, sizeof(raw));
	is_str(hex, "00017f80feff", "2.9 hash_hex is lower-case, padded");
	hash_hex(hex, raw, 0);
	is_str(hex, "", "2.10 hash_hex of nothing");

	memcpy(d2, d, HASH_LEN);
	ok(hash_equal(d, d2, HASH_LEN), "2.11 hash_equal same");
	d2[HASH_LEN - 1] ^= 1;
	ok(!hash_equal(d, d2, HASH_LEN), "2.12 hash_equal last bit");
	d2[HASH_LEN - 1] ^= 1;
	d2[0] ^= 0x80;
	ok(!hash_equal(d, d2, HASH_LEN), "2.13 hash_equal first bit");

	ok(cfg_pepper(&pepper, &plen) && plen == strlen(PEPPER) &&
	    memcmp(pepper, PEPPER, plen) == 0, "2.14 pepper from the "
	    "environment");
	snprintf(path, sizeof(path), "%s/pepper", getenv("KILN_VAR_DIR"));
	ok(access(path, F_OK) != 0, "2.15 a configured pepper writes no file");
	ok(hash_peppered(d, "gmk_cru_live_x"), "2.16 hash_peppered");
	hash_hmac(d2, PEPPER, strlen(PEPPER), "gmk_cru_live_x", 14);
	ok(hash_equal(d, d2, HASH_LEN), "2.17 peppered is HMAC(pepper, s)");
}

/* --- 3. ISO time -------------------------------------------------------- */

/* One accepted input and its Unix milliseconds. */
static void
parses(const char *s, int64_t want, const char *name)
{
	int64_t	 ms = -1;

	if (!ok(iso_parse_ms(s, &ms) && ms == want, "%s", name))
		fprintf(stderr, "#   \"%s\": got %lld, want %lld\n", s,
		    (long long)ms, (long long)want);
}

static void
refuses(const char *s, const char *name)
{
	int64_t	 ms = -1;

	if (!ok(!iso_parse_ms(s, &ms), "%s", name))
		fprintf(stderr, "#   \"%s\" parsed as %lld\n", s,
		    (long long)ms);
}

static void
test_iso(void)
{
	static const int64_t round[] = { 0, 1, 999, 951782400000,
	    1709164800000, 1709251199999, 1779433200123, 253402300799999 };
	const int64_t	 t = 1779433200000;	/* date -u -d @1779433200 */
	char		 buf[ISO_MAX];
	int64_t		 ms;
	size_t		 i;
	int		 bad = 0;

	parses("2026-05-22T07:00:00Z", t, "3.1 Z");
	parses("2026-05-22T07:00:00.123Z", t + 123, "3.2 .123 is ms");
	parses("2026-05-22T07:00:00.1Z", t + 100, "3.3 .1 is 100 ms");
	parses("2026-05-22T07:00:00.12Z", t + 120, "3.4 .12 is 120 ms");
	parses("2026-05-22T07:00:00.123456789Z", t + 123,
	    "3.5 9 digits truncate to ms");
	parses("2026-05-22T07:00:00.999999Z", t + 999, "3.6 no rounding up");
	parses("2026-05-22T07:00:00,5Z", t + 500, "3.7 comma fraction");
	parses("2026-05-22T09:00:00+02:00", t, "3.8 +02:00");
	parses("2026-05-22T01:30:00-05:30", t, "3.9 -05:30");
	parses("2026-05-22T09:00:00+0200", t, "3.10 +0200");
	parses("2026-05-22T07:00:00+00:00", t, "3.11 +00:00");
	parses("2026-05-22T07:00:00-00:00", t, "3.12 -00:00");
	parses("2026-05-22", t - 7 * 3600 * 1000, "3.13 date only");
	parses("2026-05-22t07:00:00z", t, "3.14 lower-case t and z");
	parses("2026-05-22 07:00:00Z", t, "3.15 space separator");
	parses("2026-05-22T07:00Z", t, "3.16 no seconds");
	parses("1779433200", t, "3.17 Unix seconds");
	parses("0", 0, "3.18 Unix zero");
	parses("1970-01-01T00:00:00Z", 0, "3.19 the epoch");
	parses("2024-02-29", 1709164800000, "3.20 Feb 29 2024");
	parses("2000-02-29T00:00:00Z", 951782400000, "3.21 Feb 29 2000");
	parses("9999-12-31T23:59:59.999Z", 253402300799999,
	    "3.22 the last moment");
	parses("2026-05-22T07:00:00.123+02:00", t - 7200000 + 123,
	    "3.23 fraction with offset");

	refuses("2026-05-22T07:00:00", "3.24 missing zone");
	refuses("2026-05-22T07:00", "3.25 missing zone, no seconds");
	refuses("2026-02-30", "3.26 Feb 30");
	refuses("2025-02-29", "3.27 Feb 29 2025");
	refuses("2100-02-29", "3.28 Feb 29 2100");
	refuses("2026-04-31", "3.29 Apr 31");
	refuses("2026-13-01", "3.30 month 13");
	refuses("2026-00-10", "3.31 month 0");
	refuses("2026-05-00", "3.32 day 0");
	refuses("2026-05-22T24:00:00Z", "3.33 hour 24");
	refuses("2026-05-22T07:60:00Z", "3.34 minute 60");
	refuses("2026-05-22T07:00:60Z", "3.35 second 60");
	refuses("1969-12-31T23:59:59Z", "3.36 year 1969");
	refuses("1970-01-01T00:30:00+01:00", "3.37 before the epoch by zone");
	refuses("2026-05-22T07:00:00Zjunk", "3.38 trailing garbage");
	refuses("2026-05-22junk", "3.39 garbage after date");
	refuses("", "3.40 empty");
	ok(!iso_parse_ms(NULL, &ms), "3.41 NULL");
	refuses("2026-5-22", "3.42 one-digit month");
	refuses("2026-05-2", "3.43 one-digit day");
	refuses("26-05-22", "3.44 two-digit year");
	refuses("2026-05-22T07:00:00.Z", "3.45 empty fraction");
	refuses("2026-05-22T07:00:00+2:00", "3.46 one-digit offset");
	refuses("2026-05-22T07:00:00+24:00", "3.47 offset 24h");
	refuses("2026-05-22T07:00:00+02:60", "3.48 offset minute 60");
	refuses("2026-05-22T07:00:00+02", "3.49 offset without minutes");
	refuses("2026-05-22T7:00:00Z", "3.50 one-digit hour");
	refuses("2026-05-22T", "3.51 T and nothing");
	refuses("2026-05-22T07Z", "3.52 hour only");
	refuses("123456789012", "3.53 12-digit Unix time");
	refuses("-1", "3.54 negative Unix time");
	refuses("2026-05-22T07:00:00 Z", "3.55 space before zone");
	refuses(" 2026-05-22T07:00:00Z", "3.56 leading space");
	refuses("2026/05/22", "3.57 slashes");

	is_str(iso_format(buf, 0), "1970-01-01T00:00:00Z", "3.58 format 0");
	is_str(iso_format(buf, 1779433200), "2026-05-22T07:00:00Z",
	    "3.59 format 1779433200");
	is_str(iso_format(buf, 253402300799), "9999-12-31T23:59:59Z",
	    "3.60 format the last second");
	is_str(iso_format_ms(buf, 1779433200123), "2026-05-22T07:00:00.123Z",
	    "3.61 format_ms");
	is_str(iso_format_ms(buf, 5), "1970-01-01T00:00:00.005Z",
	    "3.62 format_ms pads");
	is_str(iso_format_ms(buf, 1709164800000), "2024-02-29T00:00:00.000Z",
	    "3.63 format_ms whole second");
	for (i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
		if (!iso_parse_ms(iso_format_ms(buf, round[i]), &ms) ||
		    ms != round[i]) {
			fprintf(stderr, "#   %lld -> %s -> %lld\n",
			    (long long)round[i], buf, (long long)ms);
			bad++;
		}
		if (!iso_parse_ms(iso_format(buf, round[i] / 1000), &ms) ||
		    ms != round[i] / 1000 * 1000) {
			fprintf(stderr, "#   %lld -> %s -> %lld\n",
			    (long long)round[i], buf, (long long)ms);
			bad++;
		}
	}
	is_int(bad, 0, "3.64 format and parse round-trip");

	setenv("KILN_FAKE_NOW", "2026-05-22T07:00:00.250Z", 1);
	is_int(iso_now(), 1779433200, "3.65 KILN_FAKE_NOW seconds");
	is_int(iso_now_ms(), 1779433200250, "3.66 KILN_FAKE_NOW ms");
	setenv("KILN_FAKE_NOW", "1779433300", 1);
	is_int(iso_now(), 1779433300, "3.67 KILN_FAKE_NOW Unix seconds");
	setenv("KILN_FAKE_NOW", "not a time", 1);
	ok(iso_now() > 1700000000, "3.68 bad KILN_FAKE_NOW: real clock");
	unsetenv("KILN_FAKE_NOW");
	ok(iso_now() > 1700000000 && iso_now_ms() / 1000 >= iso_now() - 1,
	    "3.69 real clock");
}

/* --- 4. cursors --------------------------------------------------------- */

/*
 * A cursor signed here, byte for byte as page.c documents it, so the
 * reader's checks after the signature can be reached. Only the first
 * nsigned bytes of the payload are signed.
 */
static void
forge(char *out, const char *context, const char *payload, size_t n,
    size_t nsigned)
{
	unsigned char	 mac[HASH_LEN];
	char		 msg[256];
	int		 m;

	m = snprintf(msg, sizeof(msg), "%s|", context);
	memcpy(msg + m, payload, nsigned);
	hash_hmac(mac, PEPPER, strlen(PEPPER), msg, (size_t)m + nsigned);
	hash_hex(out, (const unsigned char *)payload, n);
	out[2 * n] = '.';
	hash_hex(out + 2 * n + 1, mac, 12);
}

static void
test_cursor(void)
{
	static const char set[] = "0123456789abcdefABCDEF.|g -";
	struct page_pos	 pos = { 1779433200, "srv_0123456789abcdef0123" };
	struct page_pos	 got;
	struct req	 r;
	char		 c[PAGE_CURSOR_MAX], want[PAGE_CURSOR_MAX];
	char		 bad[PAGE_CURSOR_MAX + 2], q[256], *huge;
	const char	*payload = "1779433200|srv_0123456789abcdef0123";
	size_t		 len, i, j;
	int		 accepted, tries, limit, after;

	ok(page_cursor_make(c, "servers:1", &pos), "4.1 make");
	forge(want, "servers:1", payload, strlen(payload), strlen(payload));
	is_str(c, want, "4.2 hex(t|id) . hex(HMAC[0..12))");
	memset(&got, 0, sizeof(got));
	ok(page_cursor_read(c, "servers:1", &got), "4.3 read");
	is_int(got.t, pos.t, "4.4 t round-trips");
	is_str(got.id, pos.id, "4.5 id round-trips");
	ok(!page_cursor_read(c, "servers:2", &got), "4.6 other context");
	ok(!page_cursor_read(c, "alerts:1", &got), "4.7 other list");

	len = strlen(c);
	accepted = tries = 0;
	for (i = 0; i < len; i++)
		for (j = 0; set[j] != '\0'; j++) {
			if (set[j] == c[i])
				continue;
			memcpy(bad, c, len + 1);
			bad[i] = set[j];
			tries++;
			if (page_cursor_read(bad, "servers:1", &got)) {
				fprintf(stderr, "#   accepted %s\n", bad);
				accepted++;
			}
		}
	is_int(accepted, 0, "4.8 every one-character change refused "
	    "(%d tries)", tries);
	accepted = 0;
	for (i = 0; i < len; i++) {
		memcpy(bad, c, i);
		bad[i] = '\0';
		accepted += page_cursor_read(bad, "servers:1", &got);
		/* The same with character i left out. */
		memcpy(bad, c, i);
		memcpy(bad + i, c + i + 1, len - i);
		accepted += page_cursor_read(bad, "servers:1", &got);
	}
	is_int(accepted, 0, "4.9 every truncation and deletion refused");
	snprintf(bad, sizeof(bad), "%s0", c);
	ok(!page_cursor_read(bad, "servers:1", &got), "4.10 extended");
	ok(!page_cursor_read("", "servers:1", &got), "4.11 empty");
	ok(!page_cursor_read(".", "servers:1", &got), "4.12 lone dot");
	ok(!page_cursor_read(strchr(c, '.'), "servers:1", &got),
	    "4.13 no payload");
	snprintf(bad, sizeof(bad), "abc%s", strchr(c, '.'));
	ok(!page_cursor_read(bad, "servers:1", &got), "4.14 odd-length hex");
	memcpy(bad, c, len + 1);
	*strchr(bad, '.') = '0';
	ok(!page_cursor_read(bad, "servers:1", &got), "4.15 no dot");
	if ((huge = malloc(100002)) == NULL)
		abort();
	memset(huge, 'a', 100000);
	huge[100000] = '\0';
	huge[50000] = '.';
	ok(!page_cursor_read(huge, "servers:1", &got), "4.16 huge input");
	huge[50000] = 'a';
	memcpy(huge + 99976, strchr(c, '.'), 26);	/* even hex length */
	ok(!page_cursor_read(huge, "servers:1", &got),
	    "4.17 huge payload, real signature");
	free(huge);
	for (i = 0; i < len; i++)
		bad[i] = (char)(c[i] >= 'a' && c[i] <= 'f' ? c[i] - 32 : c[i]);
	bad[len] = '\0';
	ok(strcmp(bad, c) != 0 && !page_cursor_read(bad, "servers:1", &got),
	    "4.18 upper-case hex refused");

	/* Well signed, badly formed: only the reader's own checks stop it. */
	forge(bad, "servers:1", "1779433200srv_x", 15, 15);
	ok(!page_cursor_read(bad, "servers:1", &got), "4.19 no '|' refused");
	forge(bad, "servers:1", "17794x|srv_x", 12, 12);
	ok(!page_cursor_read(bad, "servers:1", &got), "4.20 bad t refused");
	forge(bad, "servers:1", "1|srv_0123456789abcdef0123456789ab", 34,
	    34);
	ok(!page_cursor_read(bad, "servers:1", &got),
	    "4.21 id too long refused");
	/* Signed as the reader would see it through %s: "1|srv_x". */
	forge(bad, "servers:1", "1|srv_x\0z", 9, 7);
	ok(!page_cursor_read(bad, "servers:1", &got),
	    "4.22 payload with NUL refused");
	forge(bad, "servers:1", "-5|a", 4, 4);
	ok(page_cursor_read(bad, "servers:1", &got) && got.t == -5 &&
	    strcmp(got.id, "a") == 0, "4.23 forged control case accepted");
	pos.t = INT64_MAX;
	ok(page_cursor_make(c, "x", &pos) && page_cursor_read(c, "x", &got) &&
	    got.t == INT64_MAX, "4.24 largest t round-trips");

	/* page_params reads ?limit and ?cursor. */
	pos.t = 1779433200;
	page_cursor_make(c, "servers:1", &pos);
	snprintf(q, sizeof(q), "limit=5&cursor=%s", c);
	fake_req(&r, "GET", "/servers", q);
	ok(page_params(&r, "servers:1", &limit, &after, &got) &&
	    limit == 5 && after == 1 && got.t == pos.t &&
	    strcmp(got.id, pos.id) == 0 && r.status == 0,
	    "4.25 page_params limit and cursor");
	fake_done(&r);
	fake_req(&r, "GET", "/servers", "");
	ok(page_params(&r, "servers:1", &limit, &after, &got) &&
	    limit == PAGE_LIMIT_MAX && after == 0, "4.26 defaults");
	fake_done(&r);
	fake_req(&r, "GET", "/servers", "cursor=");
	ok(page_params(&r, "servers:1", &limit, &after, &got) && after == 0,
	    "4.27 empty cursor is the first page");
	fake_done(&r);
	fake_req(&r, "GET", "/servers", "limit=100");
	ok(page_params(&r, "servers:1", &limit, &after, &got) &&
	    limit == 100, "4.28 limit 100");
	fake_done(&r);
	{
		static const char *const badlim[] = { "limit=0", "limit=101",
		    "limit=abc", "limit=", "limit=5x", "limit=-1",
		    "limit=99999999999999999999" };

		accepted = 0;
		for (i = 0; i < sizeof(badlim) / sizeof(badlim[0]); i++) {
			json_t	*body;

			fake_req(&r, "GET", "/servers", badlim[i]);
			if (page_params(&r, "servers:1", &limit, &after,
			    &got) || r.status != 400 ||
			    (body = reply_body(&r)) == NULL) {
				fprintf(stderr, "#   %s accepted\n", badlim[i]);
				accepted++;
			} else {
				if (jstr(body, "error") == NULL ||
				    strcmp(jstr(body, "error"),
				    "invalid_limit") != 0)
					accepted++;
				json_decref(body);
			}
			fake_done(&r);
		}
		is_int(accepted, 0, "4.29 bad limits answer 400 invalid_limit");
	}
	snprintf(q, sizeof(q), "cursor=%s", c);
	fake_req(&r, "GET", "/alerts", q);
	ok(!page_params(&r, "alerts:1", &limit, &after, &got) &&
	    r.status == 400 && r.reply != NULL &&
	    strstr(r.reply, "\"invalid_cursor\"") != NULL,
	    "4.30 cursor of another list answers 400 invalid_cursor");
	fake_done(&r);
}

/* --- 5. validation ------------------------------------------------------ */

static void
test_valid(void)
{
	char		 name[300], label[70];
	struct req	 r;
	json_t		*obj, *tags, *j;
	const char	*s;

	ok(valid_hostname("a"), "5.1 a");
	ok(valid_hostname("web-prod-01.example.com"), "5.2 dotted name");
	ok(valid_hostname("example.com."), "5.3 trailing dot");
	ok(valid_hostname("1.2.3.4"), "5.4 digits");
	ok(valid_hostname("A-b.C"), "5.5 mixed case");
	ok(!valid_hostname(""), "5.6 empty");
	ok(!valid_hostname("-a"), "5.7 leading '-'");
	ok(!valid_hostname("a-"), "5.8 trailing '-'");
	ok(!valid_hostname("a.-b"), "5.9 label starts with '-'");
	ok(!valid_hostname("a-.b"), "5.10 label ends with '-'");
	ok(!valid_hostname("a..b"), "5.11 empty label");
	ok(!valid_hostname(".a"), "5.12 leading dot");
	ok(!valid_hostname("."), "5.13 lone dot");
	ok(!valid_hostname("a_b"), "5.14 underscore");
	ok(!valid_hostname("a b"), "5.15 space");
	ok(!valid_hostname("caf\xc3\xa9.fr"), "5.16 UTF-8");
	ok(!valid_hostname("a/b"), "5.17 slash");
	memset(label, 'a', 63);
	label[63] = '\0';
	ok(valid_hostname(label), "5.18 63-char label");
	label[63] = 'a';
	label[64] = '\0';
	ok(!valid_hostname(label), "5.19 64-char label");
	snprintf(name, sizeof(name), "x.%s", label);
	ok(!valid_hostname(name), "5.20 64-char last label");
	/* 4 labels of 63 and dots = 255; cut to 253 and 254. */
	memset(name, 'a', 255);
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	ok(valid_hostname(name), "5.21 253-char name");
	name[253] = 'a';
	name[254] = '\0';
	ok(!valid_hostname(name), "5.22 254-char name");

	ok(valid_email("a@b.c"), "5.23 a@b.c");
	ok(valid_email("first.last+tag@mail.example.com"), "5.24 plus tag");
	ok(!valid_email(""), "5.25 empty");
	ok(!valid_email("ab.c"), "5.26 no @");
	ok(!valid_email("@b.c"), "5.27 no local part");
	ok(!valid_email("a@"), "5.28 no domain");
	ok(!valid_email("a@b"), "5.29 domain without dot");
	ok(!valid_email("a@@b.c"), "5.30 two @");
	ok(!valid_email("a@b@c.d"), "5.31 @ in domain");
	ok(!valid_email("a b@c.d"), "5.32 space");
	ok(!valid_email("a@b.c."), "5.33 trailing dot");
	ok(!valid_email("a\t@b.c"), "5.34 tab");
	ok(!valid_email("a@.com"), "5.35 domain starts with a dot");
	ok(!valid_email("a@b..com"), "5.36 empty domain label");
	memset(name, 'a', 260);
	memcpy(name + 240, "@example.com", 13);
	ok(valid_email(name), "5.37 252 bytes");
	memset(name, 'a', 260);
	memcpy(name + 243, "@example.com", 13);
	ok(!valid_email(name), "5.38 255 bytes");

	is_int((long long)valid_chars(""), 0, "5.39 chars of nothing");
	is_int((long long)valid_chars("abc"), 3, "5.40 ASCII");
	is_int((long long)valid_chars("\xc3\xa9"), 1, "5.41 e-acute is one");
	is_int((long long)valid_chars("caf\xc3\xa9"), 4, "5.42 cafe");
	is_int((long long)valid_chars("\xe6\x97\xa5\xe6\x9c\xac"), 2,
	    "5.43 two CJK");
	is_int((long long)valid_chars("a\xf0\x9f\x98\x80"), 2, "5.44 emoji");

	/* valid_string and valid_tags answer through the request. */
	obj = json_pack("{s:s, s:s, s:i, s:s, s:[s,s,s,s], s:[s,i]}",
	    "name", "web \xc3\xa9", "empty", "", "num", 5, "ctl", "a\nb",
	    "tags", "a", "b", "a", "\xc3\xa9", "badtags", "a", 1);
	fake_req(&r, "PATCH", "/servers/x", "");
	ok(valid_string(&r, obj, "name", 1, 5, 1, &s) && s != NULL &&
	    strcmp(s, "web \xc3\xa9") == 0 && r.status == 0,
	    "5.45 valid_string counts characters, not bytes");
	ok(valid_string(&r, obj, "missing", 1, 5, 0, &s) && s == NULL &&
	    r.status == 0, "5.46 optional and absent");
	ok(valid_tags(&r, obj, "tags", &tags) && tags != NULL &&
	    json_array_size(tags) == 3 &&
	    strcmp(json_string_value(json_array_get(tags, 2)),
	    "\xc3\xa9") == 0, "5.47 duplicate tags dropped, order kept");
	json_decref(tags);
	ok(valid_tags(&r, obj, "notags", &tags) && tags == NULL &&
	    r.status == 0, "5.48 absent tags");
	fake_done(&r);
	{
		static const struct {
			const char	*field;
			int		 required;
			size_t		 max;
		} cases[] = {
			{ "name", 1, 4 }, { "empty", 1, 5 }, { "num", 1, 5 },
			{ "ctl", 1, 5 }, { "missing", 1, 5 },
		};
		int	 wrong = 0;

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			fake_req(&r, "PATCH", "/servers/x", "");
			if (valid_string(&r, obj, cases[i].field, 1,
			    cases[i].max, cases[i].required, &s) ||
			    r.status != 400 || (j = reply_body(&r)) == NULL) {
				fprintf(stderr, "#   %s passed\n",
				    cases[i].field);
				wrong++;
			} else {
				if (jstr(j, "error") == NULL ||
				    strcmp(jstr(j, "error"),
				    "validation_failed") != 0 ||
				    jstr(j, "field") == NULL ||
				    strcmp(jstr(j, "field"),
				    cases[i].field) != 0)
					wrong++;
				json_decref(j);
			}
			fake_done(&r);
		}
		is_int(wrong, 0, "5.49 valid_string refusals name the field");
	}
	fake_req(&r, "PATCH", "/servers/x", "");
	ok(!valid_tags(&r, obj, "badtags", &tags) && tags == NULL &&
	    r.status == 400 && r.reply != NULL &&
	    strstr(r.reply, "\"field\":\"badtags\"") != NULL,
	    "5.50 a non-string tag is refused");
	fake_done(&r);
	json_decref(obj);

	/* valid_utf8_trim: whole characters stay, broken ones go. */
	{
		static const struct {
			const char	*in, *out, *what;
		} trims[] = {
			{ "plain ascii: 100 %", "plain ascii: 100 %",
			    "ASCII unchanged" },
			{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5",
			    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5",
			    "two-, three- and four-byte characters kept" },
			{ "cut at the end \xe2\x82", "cut at the end ",
			    "a character cut at the end dropped" },
			{ "a\x80" "b\xbf" "c", "abc",
			    "stray continuation bytes dropped" },
			{ "x\xc3y\xe2\x82z", "xyz",
			    "cut characters inside dropped, what follows kept" },
			{ "\xff\xfe", "", "lone lead bytes dropped" },
			{ "\xc2\x80 \xe0\xa0\x80 \xed\x9f\xbf \xf4\x8f\xbf\xbf",
			    "\xc2\x80 \xe0\xa0\x80 \xed\x9f\xbf \xf4\x8f\xbf\xbf",
			    "the edges of each length kept (U+0080, U+0800, "
			    "U+D7FF, U+10FFFF)" },
			{ "<\xc0\x80|\xe0\x80\x80|\xf0\x80\x80\x80>", "<||>",
			    "overlong forms dropped" },
			{ "<\xed\xa0\x80|\xed\xbf\xbf>", "<|>",
			    "surrogates dropped" },
			{ "<\xf4\x90\x80\x80|\xf8\x88\x80\x80\x80>", "<|>",
			    "past U+10FFFF, and five-byte forms, dropped" },
		};
		char	 buf[64];
		int	 bad = 0;

		for (size_t i = 0; i < sizeof(trims) / sizeof(trims[0]);
		    i++) {
			snprintf(buf, sizeof(buf), "%s", trims[i].in);
			valid_utf8_trim(buf);
			if (strcmp(buf, trims[i].out) != 0) {
				fprintf(stderr, "#   valid_utf8_trim, %s: "
				    "got \"%s\"\n", trims[i].what, buf);
				bad++;
			}
		}
		is_int(bad, 0, "5.51 valid_utf8_trim keeps whole characters "
		    "(ASCII, 2-4 bytes) and drops cut, stray, overlong, "
		    "surrogate and out-of-range bytes");
		/* What it leaves, jansson takes: random bytes, trimmed. */
		bad = 0;
		srandom(51);
		for (int round = 0; round < 20000; round++) {
			size_t	 len = (size_t)(random() % 40);
			json_t	*js;

			for (size_t i = 0; i < len; i++)
				buf[i] = (char)(random() % 255 + 1);
			buf[len] = '\0';
			valid_utf8_trim(buf);
			if ((js = json_string(buf)) == NULL)
				bad++;
			json_decref(js);
		}
		is_int(bad, 0, "5.52 jansson accepts what valid_utf8_trim "
		    "leaves of 20 000 random byte strings");
	}
}

/* --- 6. rules ----------------------------------------------------------- */

/* rule_overrides_valid on JSON text: the result, and where into where. */
static int
overrides(const char *text, char *where, size_t where_sz)
{
	json_error_t	 err;
	json_t		*j = json_loads(text, JSON_DECODE_ANY, &err);
	const char	*why = NULL;
	int		 rc;

	if (j == NULL) {
		fprintf(stderr, "#   bad test JSON %s\n", text);
		return -1;
	}
	rc = rule_overrides_valid(j, where, where_sz, &why);
	if (!rc && (why == NULL || *why == '\0'))
		rc = -1;	/* a refusal must say why */
	json_decref(j);
	return rc;
}

static void
test_rules(void)
{
	const struct rule_def	*rule;
	char			 where[160], text[400], small[24];
	char			 small28[28];
	int			 i, bad = 0;

	rule = rule_find("cpu_high");
	ok(rule != NULL && strcmp(rule->id, "cpu_high") == 0 &&
	    rule->kind == RULE_STATE, "6.1 rule_find cpu_high");
	ok(rule != NULL && strcmp(rule->thresholds[0].key, "warning") == 0 &&
	    rule->thresholds[0].def == 90, "6.2 cpu_high warning default");
	rule = rule_find("ipmi_sel_critical");
	ok(rule != NULL && rule->kind == RULE_EVENT, "6.3 an event rule");
	ok(rule_find("cpu_hig") == NULL, "6.4 unknown rule");
	ok(rule_find("") == NULL, "6.5 empty id");
	ok(rule_count >= 40, "6.6 the catalogue (%d rules)", rule_count);
	for (i = 0; i < rule_count; i++)
		if (rule_find(rule_catalog[i].id) != &rule_catalog[i])
			bad++;
	is_int(bad, 0, "6.7 every rule id is unique and found");

	is_int(overrides("{\"cpu_high\":{\"warning\":85}}", where,
	    sizeof(where)), 1, "6.8 cpu_high.warning 85");
	is_int(overrides("{\"cpu_high\":{\"warning\":85.5,\"critical\":0},"
	    "\"load_high\":{\"warning_per_core\":2}}", where, sizeof(where)),
	    1, "6.9 several rules, real and zero values");
	is_int(overrides("{}", where, sizeof(where)), 1, "6.10 empty object");
	is_int(overrides("{\"cpu_high\":{}}", where, sizeof(where)), 1,
	    "6.11 rule without overrides");
	is_int(overrides("{\"cpu_hot\":{\"warning\":85}}", where,
	    sizeof(where)), 0, "6.12 unknown rule refused");
	is_str(where, "config_overrides.cpu_hot", "6.13 where names the rule");
	is_int(overrides("{\"cpu_high\":{\"warn\":85}}", where,
	    sizeof(where)), 0, "6.14 unknown threshold refused");
	is_str(where, "config_overrides.cpu_high.warn",
	    "6.15 where names the threshold");
	is_int(overrides("{\"cpu_high\":{\"warning\":\"85\"}}", where,
	    sizeof(where)), 0, "6.16 string value refused");
	is_str(where, "config_overrides.cpu_high.warning", "6.17 where");
	is_int(overrides("{\"cpu_high\":{\"warning\":-1}}", where,
	    sizeof(where)), 0, "6.18 negative value refused");
	is_int(overrides("{\"cpu_high\":{\"warning\":-0.5}}", where,
	    sizeof(where)), 0, "6.19 negative real refused");
	is_int(overrides("{\"cpu_high\":{\"warning\":null}}", where,
	    sizeof(where)), 0, "6.20 null refused");
	is_int(overrides("{\"cpu_high\":{\"warning\":true}}", where,
	    sizeof(where)), 0, "6.21 boolean refused");
	is_int(overrides("{\"cpu_high\":85}", where, sizeof(where)), 0,
	    "6.22 rule value not an object");
	is_str(where, "config_overrides.cpu_high", "6.23 where");
	is_int(overrides("[]", where, sizeof(where)), 0,
	    "6.24 array refused");
	is_str(where, "config_overrides", "6.25 where for the whole");
	is_int(overrides("\"x\"", where, sizeof(where)), 0,
	    "6.26 string refused");
	is_int(overrides("{\"oom_kills\":{\"warning\":1}}", where,
	    sizeof(where)), 0, "6.27 rule without thresholds");
	is_int(overrides("{\"cpu_high\":{\"warning\":85}}", small,
	    sizeof(small)), 1, "6.28 a small where buffer");
	is_int(overrides("{\"cpu_high\":{\"warning\":-1}}", small,
	    sizeof(small)), 0, "6.29 small buffer refusal");
	is_int((long long)strlen(small), sizeof(small) - 1,
	    "6.30 where truncated, terminated");
	/* A long unknown id of 2-byte characters, cut mid-character. */
	snprintf(text, sizeof(text), "{\"x");
	for (i = 0; i < 100; i++)
		strcat(text, "\xc3\xa9");
	strcat(text, "\":{}}");
	is_int(overrides(text, where, sizeof(where)), 0, "6.31 long id");
	{
		json_t	*w = json_string(where);

		ok(w != NULL, "6.32 a truncated where is still UTF-8");
		json_decref(w);
	}
	is_int(overrides("{\"\xc3\xa9\":{}}", where, sizeof(where)), 0,
	    "6.33 a short non-ASCII id");
	is_str(where, "config_overrides.\xc3\xa9", "6.34 is kept whole");
	/* 26 bytes, then one of the three of U+65E5. */
	is_int(overrides("{\"cpu_high\":{\"\xe6\x97\xa5\":1}}", small28,
	    sizeof(small28)), 0, "6.35 a non-ASCII key, buffer cut in it");
	is_str(small28, "config_overrides.cpu_high.",
	    "6.36 the part-character dropped");
}

/* --- 7. replies and the gate ------------------------------------------- */

static void
test_reply(void)
{
	struct principal	 who;
	struct req		 r;
	json_t			*j, *extra;
	const char		*url;
	char			 msg[700];
	size_t			 i;

	fake_req(&r, "GET", "/x", "");
	reply_err(&r, 400, "x_code", "msg %d", 5);
	is_int(r.status, 400, "7.1 reply_err status");
	j = reply_body(&r);
	ok(j != NULL && json_object_size(j) == 2, "7.2 envelope has 2 keys");
	is_str(jstr(j, "error"), "x_code", "7.3 error");
	is_str(jstr(j, "message"), "msg 5", "7.4 message formatted");
	is_int((long long)r.reply_len, (long long)strlen(r.reply),
	    "7.5 reply_len");
	json_decref(j);
	quiet(1);
	reply_err(&r, 500, "other", "second");
	quiet(0);
	is_int(r.status, 400, "7.6 second reply dropped: status");
	ok(strstr(r.reply, "x_code") != NULL && strstr(r.reply, "other") ==
	    NULL, "7.7 second reply dropped: body");
	quiet(1);
	reply_json(&r, 200, json_pack("{s:i}", "a", 1));
	quiet(0);
	is_int(r.status, 400, "7.8 reply_json after a reply dropped");
	fake_done(&r);

	fake_req(&r, "GET", "/x", "");
	reply_err_extra(&r, 400, "validation_failed", "bad",
	    json_pack("{s:s, s:i, s:s}", "field", "name", "n", 3, "error",
	    "overridden?"));
	j = reply_body(&r);
	is_str(jstr(j, "field"), "name", "7.9 extra field merged");
	is_int(json_integer_value(json_object_get(j, "n")), 3,
	    "7.10 extra number merged");
	is_str(jstr(j, "error"), "validation_failed",
	    "7.11 extra can't override error");
	is_str(jstr(j, "message"), "bad", "7.12 message kept");
	json_decref(j);
	fake_done(&r);

	fake_req(&r, "GET", "/x", "");
	reply_err_extra(&r, 409, "conflict", "c", NULL);
	j = reply_body(&r);
	ok(r.status == 409 && json_object_size(j) == 2,
	    "7.13 reply_err_extra with NULL extra");
	json_decref(j);
	fake_done(&r);

	/* A message cut at 512 bytes mid-character must still go out. */
	memset(msg, 0, sizeof(msg));
	msg[0] = 'a';
	msg[1] = 'b';
	for (i = 2; i + 2 < sizeof(msg); i += 2)
		memcpy(msg + i, "\xc3\xa9", 2);
	fake_req(&r, "GET", "/x", "");
	reply_err(&r, 400, "too_long", "%s", msg);
	is_int(r.status, 400, "7.14 long UTF-8 message keeps its status");
	j = reply_body(&r);
	is_str(jstr(j, "error"), "too_long", "7.15 long message envelope");
	ok(jstr(j, "message") != NULL &&
	    strlen(jstr(j, "message")) == 510, "7.16 half a character cut");
	json_decref(j);
	fake_done(&r);
	/* 'a' and 255 e-acute: 511 bytes, the last character whole. */
	fake_req(&r, "GET", "/x", "");
	reply_err(&r, 400, "too_long", "%s", msg + 1);
	j = reply_body(&r);
	ok(r.status == 400 && jstr(j, "message") != NULL &&
	    strlen(jstr(j, "message")) == 511, "7.17 a whole character kept");
	json_decref(j);
	fake_done(&r);
	/* 3- and 4-byte characters cut after 1, 2 or 3 of their bytes. */
	{
		int	 wrong = 0;

		j = NULL;
		for (i = 0; i < 4; i++) {
			memset(msg, 'a', sizeof(msg));
			for (size_t k = i; k + 4 < sizeof(msg); k += 4)
				memcpy(msg + k, k % 8 < 4 ?
				    "\xf0\x9f\x98\x80" : "\xe6\x97\xa5" "a", 4);
			msg[sizeof(msg) - 1] = '\0';
			fake_req(&r, "GET", "/x", "");
			reply_err(&r, 400, "too_long", "%s", msg);
			if (r.status != 400 || (j = reply_body(&r)) == NULL ||
			    jstr(j, "message") == NULL ||
			    strlen(jstr(j, "message")) < 508)
				wrong++;
			json_decref(j);
			j = NULL;
			fake_done(&r);
		}
		is_int(wrong, 0, "7.18 any cut leaves a JSON message");
	}

	fake_req(&r, "GET", "/x", "");
	reply_json(&r, 201, json_pack("{s:s}", "id", "srv_1"));
	is_int(r.status, 201, "7.19 reply_json status");
	is_str(r.reply, "{\"id\":\"srv_1\"}", "7.20 reply_json compact body");
	fake_done(&r);
	fake_req(&r, "GET", "/x", "");
	reply_text_json(&r, 200, "{\"ok\":true}");
	ok(r.status == 200 && strcmp(r.reply, "{\"ok\":true}") == 0 &&
	    r.reply_len == 11, "7.21 reply_text_json");
	fake_done(&r);
	fake_req(&r, "DELETE", "/x", "");
	reply_none(&r, 204);
	ok(r.status == 204 && r.reply == NULL, "7.22 reply_none");
	fake_done(&r);

	fake_req(&r, "PUT", "/x", "");
	reply_method_not_allowed(&r, "GET, POST");
	ok(r.status == 405 && r.headers != NULL &&
	    strcmp(r.headers, "Allow: GET, POST\r\n") == 0,
	    "7.23 405 with Allow");
	j = reply_body(&r);
	is_str(jstr(j, "error"), "method_not_allowed", "7.24 405 envelope");
	json_decref(j);
	fake_done(&r);
	fake_req(&r, "GET", "/x", "");
	reply_header(&r, "X-A", "%d", 1);
	reply_header(&r, "X-B", "a\r\nSet-Cookie: evil=1");
	is_str(r.headers, "X-A: 1\r\nX-B: a\r\n",
	    "7.25 headers accumulate; CR/LF can't inject");
	is_int((long long)r.headers_len, 16, "7.26 headers_len");
	fake_done(&r);

	memset(&who, 0, sizeof(who));
	snprintf(who.plan, sizeof(who.plan), "free");
	snprintf(who.role, sizeof(who.role), "owner");
	who.scope = SCOPE_ADMIN;
	fake_req(&r, "POST", "/x", "");
	ok(!auth_gate(&r, &who, GATE_PRO), "7.27 free plan stopped");
	is_int(r.status, 402, "7.28 402");
	j = reply_body(&r);
	is_str(jstr(j, "error"), "pro_required", "7.29 pro_required");
	url = jstr(j, "upgrade_url");
	is_str(url, BASE_URL "/billing", "7.30 upgrade_url is base/billing");
	ok(url != NULL && strlen(url) > 8 &&
	    strcmp(url + strlen(url) - 8, "/billing") == 0,
	    "7.31 upgrade_url ends in /billing");
	json_decref(j);
	fake_done(&r);

	snprintf(who.plan, sizeof(who.plan), "pro");
	snprintf(who.role, sizeof(who.role), "member");
	fake_req(&r, "POST", "/x", "");
	ok(!auth_gate(&r, &who, GATE_ADMIN), "7.32 member stopped");
	is_int(r.status, 403, "7.33 403");
	j = reply_body(&r);
	is_str(jstr(j, "error"), "forbidden", "7.34 forbidden");
	json_decref(j);
	fake_done(&r);
	snprintf(who.role, sizeof(who.role), "viewer");
	fake_req(&r, "POST", "/x", "");
	ok(!auth_gate(&r, &who, GATE_PRO | GATE_ADMIN) && r.status == 403,
	    "7.35 viewer stopped");
	fake_done(&r);

	snprintf(who.plan, sizeof(who.plan), "free");
	fake_req(&r, "POST", "/x", "");
	ok(!auth_gate(&r, &who, GATE_PRO | GATE_ADMIN) && r.status == 402,
	    "7.36 free member: the plan is named first");
	fake_done(&r);

	snprintf(who.plan, sizeof(who.plan), "pro");
	snprintf(who.role, sizeof(who.role), "owner");
	fake_req(&r, "POST", "/x", "");
	is_int(auth_gate(&r, &who, GATE_PRO | GATE_ADMIN), 1,
	    "7.37 pro owner passes");
	ok(r.status == 0 && r.reply == NULL, "7.38 and nothing answered");
	fake_done(&r);
	snprintf(who.role, sizeof(who.role), "admin");
	fake_req(&r, "POST", "/x", "");
	ok(auth_gate(&r, &who, GATE_ADMIN) && r.status == 0,
	    "7.39 admin passes GATE_ADMIN");
	fake_done(&r);
	snprintf(who.plan, sizeof(who.plan), "free");
	snprintf(who.role, sizeof(who.role), "member");
	fake_req(&r, "POST", "/x", "");
	ok(auth_gate(&r, &who, 0) && r.status == 0, "7.40 no gates: passes");
	fake_done(&r);
	snprintf(who.plan, sizeof(who.plan), "pro");
	snprintf(who.role, sizeof(who.role), "owner");
	who.scope = SCOPE_WRITE;
	fake_req(&r, "POST", "/x", "");
	ok(!auth_gate(&r, &who, GATE_ADMIN) && r.status == 403 &&
	    strstr(r.reply, "\"insufficient_scope\"") != NULL,
	    "7.41 owner with a write-scope key: insufficient_scope");
	fake_done(&r);

	extra = auth_upgrade_url();
	is_str(json_string_value(extra), BASE_URL "/billing",
	    "7.42 auth_upgrade_url");
	json_decref(extra);
}

/* --- 8. query, path, body ---------------------------------------------- */

static void
test_query(void)
{
	struct req	 r;
	const char	*v[4] = { NULL, NULL, NULL, NULL };
	char		*segs[] = { "servers", "srv_abc", "rotate-key" };
	json_t		*j;

	fake_req(&r, "GET", "/servers", "tag=a&tag=b%20c&x=%zz&limit=5");
	is_str(req_query(&r, "tag"), "a", "8.1 first value");
	is_int(req_query_all(&r, "tag", v, 4), 2, "8.2 two tags");
	is_str(v[0], "a", "8.3 tag 1");
	is_str(v[1], "b c", "8.4 tag 2 percent-decoded");
	ok(v[2] == NULL, "8.5 nothing past the count");
	v[0] = v[1] = NULL;
	is_int(req_query_all(&r, "tag", v, 1), 2, "8.6 count beyond max");
	ok(v[0] != NULL && strcmp(v[0], "a") == 0 && v[1] == NULL,
	    "8.7 only max filled");
	is_str(req_query(&r, "x"), "%zz", "8.8 broken escape kept");
	is_str(req_query(&r, "limit"), "5", "8.9 limit");
	ok(req_query(&r, "missing") == NULL, "8.10 missing is NULL");
	ok(req_query(&r, "Limit") == NULL, "8.11 names are case-sensitive");
	ok(req_query_is(&r, "limit", "5"), "8.12 req_query_is");
	ok(!req_query_is(&r, "limit", "50"), "8.13 req_query_is differs");
	ok(!req_query_is(&r, "nope", ""), "8.14 req_query_is absent");
	is_int(r.nqpairs, 4, "8.15 four pairs parsed");
	fake_done(&r);

	fake_req(&r, "GET", "/servers",
	    "a+b=c+d&&flag&e=&%6eame=x%2Fy&z=%00&w=a%20%zz&t=%2&u=%4");
	is_str(req_query(&r, "a b"), "c d", "8.16 '+' is a space");
	is_str(req_query(&r, "flag"), "", "8.17 no '=' is empty");
	is_str(req_query(&r, "e"), "", "8.18 empty value");
	is_str(req_query(&r, "name"), "x/y", "8.19 names decoded too");
	is_str(req_query(&r, "z"), "%00", "8.20 %%00 kept undecoded");
	is_str(req_query(&r, "w"), "a%20%zz",
	    "8.21 a broken value is kept whole");
	is_str(req_query(&r, "t"), "%2", "8.22 short escape at the end");
	is_str(req_query(&r, "u"), "%4", "8.23 one-digit escape");
	is_int(r.nqpairs, 8, "8.24 empty pair skipped");
	fake_done(&r);

	fake_req(&r, "GET", "/servers", "q=%41%42%63");
	is_str(req_query(&r, "q"), "ABc", "8.25 hex either case");
	fake_done(&r);
	fake_req(&r, "GET", "/servers", "");
	ok(req_query(&r, "a") == NULL && r.nqpairs == 0,
	    "8.26 empty query");
	fake_done(&r);

	fake_req(&r, "POST", "/servers/srv_abc/rotate-key", "");
	memcpy(r.segs, segs, sizeof(segs));
	r.nsegs = 3;
	ok(req_path_is(&r, 3, "servers", "*", "rotate-key"),
	    "8.27 path with a wildcard");
	ok(req_path_is(&r, 3, "servers", "srv_abc", "rotate-key"),
	    "8.28 exact path");
	ok(!req_path_is(&r, 2, "servers", "*"), "8.29 too few segments");
	ok(!req_path_is(&r, 3, "servers", "*", "restore"),
	    "8.30 last segment differs");
	ok(!req_path_is(&r, 3, "alerts", "*", "rotate-key"),
	    "8.31 first segment differs");
	ok(!req_path_is(&r, 4, "servers", "*", "rotate-key", "*"),
	    "8.32 too many segments");
	is_str(req_seg(&r, 1), "srv_abc", "8.33 req_seg");
	ok(req_seg(&r, 3) == NULL && req_seg(&r, -1) == NULL,
	    "8.34 req_seg out of range");
	r.nsegs = -1;
	ok(!req_path_is(&r, 0) && req_seg(&r, 0) == NULL,
	    "8.35 malformed path matches nothing");
	r.nsegs = 0;
	ok(req_path_is(&r, 0), "8.36 the empty path");
	fake_done(&r);

	fake_req(&r, "POST", "/servers", "");
	r.body = "{\"name\":\"web\"}";
	r.body_len = strlen(r.body);
	j = req_json_object(&r);
	ok(j != NULL && r.status == 0, "8.37 JSON object body");
	is_str(jstr(j, "name"), "web", "8.38 its member");
	ok(req_json_object(&r) == j, "8.39 parsed once");
	fake_done(&r);
	{
		static const char *const bodies[] = { "[1]", "\"s\"", "",
		    "{\"a\":1", "{\"a\":1,\"a\":2}", "{} x" };
		int	 wrong = 0;

		for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]);
		    i++) {
			fake_req(&r, "POST", "/servers", "");
			r.body = (char *)bodies[i];
			r.body_len = strlen(bodies[i]);
			if (req_json_object(&r) != NULL || r.status != 400 ||
			    r.reply == NULL ||
			    strstr(r.reply, "\"invalid_json\"") == NULL) {
				fprintf(stderr, "#   body %s\n", bodies[i]);
				wrong++;
			}
			fake_done(&r);
		}
		is_int(wrong, 0, "8.40 non-objects, bad JSON, duplicate "
		    "keys: 400 invalid_json");
	}

	/* lighttpd's error handler passes its status in REDIRECT_STATUS. */
	{
		char	*env[] = { "REDIRECT_STATUS=413", NULL };
		char	*ok200[] = { "REDIRECT_STATUS=200", NULL };
		char	*big[] = { "REDIRECT_STATUS=600", NULL };
		char	*none[] = { NULL };

		fake_req(&r, "GET", "/", "");
		r.envp = env;
		is_int(req_server_error(&r), 413, "8.41 req_server_error 413");
		r.envp = ok200;
		is_int(req_server_error(&r), 0, "8.42 200 is no error");
		r.envp = big;
		is_int(req_server_error(&r), 0, "8.43 600 is no status");
		r.envp = none;
		is_int(req_server_error(&r), 0, "8.44 absent: 0");
		fake_done(&r);
	}
}

/* 9. sealed secrets (AES-256-GCM under the pepper). */
static void
test_seal(void)
{
	char	*sealed = hash_seal("t", "ad", "secret text", 11), *plain;
	size_t	 n;

	ok(sealed != NULL && strncmp(sealed, "v1.", 3) == 0, "9.1 sealed");
	ok(sealed != NULL && strstr(sealed, "secret") == NULL,
	    "9.2 the plaintext is not in it");
	plain = sealed != NULL ? hash_unseal("t", "ad", sealed) : NULL;
	is_str(plain, "secret text", "9.3 round trip");
	free(plain);
	ok(sealed != NULL && hash_unseal("t", "other", sealed) == NULL,
	    "9.4 other associated data refused");
	ok(sealed != NULL && hash_unseal("u", "ad", sealed) == NULL,
	    "9.5 other label refused");
	n = sealed != NULL ? strlen(sealed) : 0;
	for (size_t i = 3; i < n; i += 7) {
		char	 was = sealed[i];

		sealed[i] = was == '0' ? '1' : '0';
		plain = hash_unseal("t", "ad", sealed);
		if (plain != NULL) {
			ok(0, "9.6 a changed byte at %zu is refused", i);
			free(plain);
		}
		sealed[i] = was;
	}
	ok(1, "9.6 every changed byte tried is refused");
	ok(hash_unseal("t", "ad", "v1.00") == NULL &&
	    hash_unseal("t", "ad", "garbage") == NULL, "9.7 junk refused");
	free(sealed);
}

/* --- 10. database helpers ----------------------------------------------- */

static void
test_db(void)
{
	sqlite3		*conn = NULL;
	sqlite3_stmt	*st = NULL;
	int		 got[4] = { 9, 9, 9, 9 };

	/* Kiln's connections come first: SQLite is configured then. */
	ok(db_main() != NULL && sqlite3_exec(db_main(), "SELECT 1", NULL,
	    NULL, NULL) == SQLITE_OK && sqlite3_memory_used() == 0,
	    "10.0a SQLite keeps no count of its memory (no global mutex "
	    "around each of its allocations)");
	if (sqlite3_open(":memory:", &conn) != SQLITE_OK) {
		ok(0, "10.0 an in-memory database");
		sqlite3_close(conn);
		return;
	}
	/* Two rows, then an error on the third (json() of bad JSON). */
	sqlite3_prepare_v2(conn, "SELECT CASE WHEN x < 3 THEN x ELSE"
	    " json('{bad') END FROM (SELECT 1 AS x UNION ALL SELECT 2"
	    " UNION ALL SELECT 3 UNION ALL SELECT 4)", -1, &st, NULL);
	quiet(1);
	for (int i = 0; i < 4; i++)
		got[i] = db_next(st);
	quiet(0);
	ok(got[0] == 1 && got[1] == 1, "10.1 db_next: 1 for each row");
	is_int(got[2], -1, "10.2 db_next: -1 on an error mid-way, not 0");
	sqlite3_finalize(st);
	sqlite3_prepare_v2(conn, "SELECT 1 WHERE 0", -1, &st, NULL);
	is_int(db_next(st), 0, "10.3 db_next: 0 at the end");
	sqlite3_finalize(st);
	/* A CHECK constraint violated by an INSERT ... RETURNING. */
	sqlite3_exec(conn, "CREATE TEMP TABLE t (x INTEGER CHECK (x < 3))",
	    NULL, NULL, NULL);
	sqlite3_prepare_v2(conn, "INSERT INTO t VALUES (5) RETURNING x", -1,
	    &st, NULL);
	quiet(1);
	got[0] = db_next(st);
	quiet(0);
	is_int(got[0], -1, "10.4 db_next: -1 on a CHECK violation");
	sqlite3_finalize(st);
	quiet(1);
	got[0] = db_next(NULL);
	quiet(0);
	is_int(got[0], -1, "10.5 db_next: -1 for no statement");

	/* Columns as JSON: 0 NULL, 1 text, 2 bad UTF-8, 3 time, 4 JSON text. */
	sqlite3_prepare_v2(conn, "SELECT NULL, 'abc', CAST(x'ff' AS TEXT),"
	    " 1779433200, '{\"a\":[1]}', 'not json'", -1, &st, NULL);
	if (db_next(st) != 1) {
		ok(0, "10.6 the row of columns");
	} else {
		json_t	*j[10];

		j[0] = db_json_text(st, 0);
		j[1] = db_json_text(st, 1);
		j[2] = db_json_text(st, 2);
		j[3] = db_json_time(st, 3);
		j[4] = db_json_time(st, 0);
		j[5] = db_json_int(st, 3);
		j[6] = db_json_int(st, 0);
		j[7] = db_json_parsed(st, 4);
		j[8] = db_json_parsed(st, 5);
		j[9] = db_json_parsed(st, 0);
		ok(json_is_null(j[0]) && json_is_null(j[4]) &&
		    json_is_null(j[6]) && json_is_null(j[9]),
		    "10.6 db_json_*: NULL is null");
		is_str(json_string_value(j[1]), "abc", "10.7 db_json_text");
		ok(json_is_null(j[2]), "10.8 db_json_text: bad UTF-8 is null");
		is_str(json_string_value(j[3]), "2026-05-22T07:00:00Z",
		    "10.9 db_json_time: ISO 8601");
		is_int(json_integer_value(j[5]), 1779433200,
		    "10.10 db_json_int");
		ok(json_is_integer(json_array_get(json_object_get(j[7], "a"),
		    0)), "10.11 db_json_parsed: the JSON value");
		ok(json_is_null(j[8]), "10.12 db_json_parsed: not JSON is null");
		for (int i = 0; i < 10; i++)
			json_decref(j[i]);
	}
	sqlite3_finalize(st);
	sqlite3_close(conn);
}

/* --- 11. the free plan's quota ------------------------------------------ */

static void
test_billing(void)
{
	sqlite3		*conn = db_main();
	int64_t		 quota = cfg_int("free_server_quota");
	char		 sql[256];
	int		 migrated;

	quiet(1);
	migrated = conn != NULL && db_migrate(conn);
	quiet(0);
	if (!migrated || sqlite3_exec(conn, "INSERT INTO account (id,"
	    " public_id, plan, created_at) VALUES (1, 'acc_f', 'free', 0),"
	    " (2, 'acc_p', 'pro', 0); INSERT INTO server (public_id,"
	    " account_id, name, hostname, key_hash, status, created_at)"
	    " VALUES ('srv_s', 1, 's', 's', x'00', 'suspended', 0)",
	    NULL, NULL, NULL) != SQLITE_OK) {
		ok(0, "11.0 a database with two accounts");
		return;
	}
	is_int(billing_quota_room(1, NULL), quota,
	    "11.1 free, only a suspended server: the whole quota");
	is_int(billing_active_count(1), 0, "11.2 suspended is not active");
	/* quota + 1 active servers: over the quota. */
	snprintf(sql, sizeof(sql), "WITH RECURSIVE i(n) AS (SELECT 1 UNION"
	    " ALL SELECT n + 1 FROM i WHERE n <= %lld) INSERT INTO server"
	    " (public_id, account_id, name, hostname, key_hash, created_at)"
	    " SELECT 'srv_' || n, 1, 'a', 'a', randomblob(8), 0 FROM i",
	    (long long)quota);
	sqlite3_exec(conn, sql, NULL, NULL, NULL);
	is_int(billing_active_count(1), quota + 1, "11.3 active counted");
	is_int(billing_quota_room(1, "free"), 0,
	    "11.4 over the quota: no room, never negative");
	is_int(billing_quota_room(2, NULL), BILLING_NO_LIMIT,
	    "11.5 pro, read from the account: no limit");
	is_int(billing_quota_room(1, "pro"), BILLING_NO_LIMIT,
	    "11.6 the caller's plan is taken as given");
	quiet(1);
	is_int(billing_quota_room(99, NULL), BILLING_QUOTA_ERROR,
	    "11.7 no such account: an error, not room");
	quiet(0);
}

/* --- 12. the shared table of token buckets ------------------------------ */

#define T0	INT64_C(1779433200000)	/* 2026-05-22T07:00:00Z in ms */
#define T1	(T0 + 10000)	/* the T0 tests' buckets full again */
#define T2	(T1 + 10000)	/* the T1 tests' buckets full again */

/* What rate_table_each reported about one name, and how many in all. */
struct seen {
	const char	*name;
	double		 tokens;	/* -1: not listed */
	int		 n;
};

static void
seen_cb(void *arg, const char *name, double tokens)
{
	struct seen	*s = arg;

	s->n++;
	if (strcmp(name, s->name) == 0)
		s->tokens = tokens;
}

/* The tokens listed for name at now, -1 when it is not; *n: live buckets. */
static double
listed(struct rate_table *t, int64_t now, const char *name, int *n)
{
	struct seen	 s = { name, -1, 0 };

	if (!rate_table_each(t, now, seen_cb, &s))
		s.n = -1;
	if (n != NULL)
		*n = s.n;
	return s.tokens;
}

/* Fills names[0 .. n-1] with names of t's set (16 bytes each). */
static int
names_in_set(struct rate_table *t, uint32_t set, char names[][16], int n)
{
	char	 name[16];
	int	 found = 0;

	for (int i = 0; found < n && i < 100000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		if (rate_table_set(t, name) == set)
			memcpy(names[found++], name, sizeof(name));
	}
	return found == n;
}

/*
 * Two processes, each with its own mapping of path, take from one
 * bucket, starting together, `takes` times each or for wall_ms of real
 * time when that is not 0. The bucket's clock starts at T2 and advances
 * 1 ms every `per_ms` takes (never, for 0). Returns the tokens handed
 * out, or -1.
 */
static long
hammer(const char *path, const char *name, double cap, double per_sec,
    long takes, long per_ms, int64_t wall_ms)
{
	pid_t	 pid[2];
	int	 go[2], res[2], status;
	long	 total = 0, got;

	if (pipe(go) != 0 || pipe(res) != 0)
		return -1;
	for (int c = 0; c < 2; c++) {
		if ((pid[c] = fork()) != 0)
			continue;
		struct rate_table *t = rate_table_open(path, 32);
		int64_t	 end;
		double	 level;
		char	 b;

		close(go[1]);
		got = 0;
		if (t != NULL && read(go[0], &b, 1) == 0) {
			end = iso_mono_ms() + wall_ms;
			for (long i = 0; wall_ms != 0 ? i % 256 != 0 ||
			    iso_mono_ms() < end : i < takes; i++)
				got += rate_table_take(t, name, cap, per_sec,
				    T2 + (per_ms != 0 ? i / per_ms : 0),
				    &level) == 1;
		}
		_exit(write(res[1], &got, sizeof(got)) == sizeof(got) ? 0 : 1);
	}
	/* Closing the pipe starts both at once: they must overlap. */
	close(go[0]);
	close(go[1]);
	close(res[1]);
	for (int c = 0; c < 2; c++) {
		if (total >= 0 && read(res[0], &got, sizeof(got)) ==
		    sizeof(got))
			total += got;
		else
			total = -1;
		waitpid(pid[c], &status, 0);
	}
	close(res[0]);
	return total;
}

static void
test_rate(const char *var)
{
	static const unsigned char key[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8,
	    9, 10, 11, 12, 13, 14, 15 };
	static const unsigned char msg[15] = { 0, 1, 2, 3, 4, 5, 6, 7, 8,
	    9, 10, 11, 12, 13, 14 };
	struct rate_table	*t, *t2;
	char			 path[128], bad[128], n[18][16], m[17][16];
	double			 lv[5];
	int			 got[5], live, retry, status;
	long			 total;
	pid_t			 pid;
	FILE			*f;
	struct stat		 sb;

	/* The reference vectors of the SipHash paper and implementation. */
	ok(rate_siphash(key, msg, 0) == UINT64_C(0x726fdb47dd0e0e31) &&
	    rate_siphash(key, msg, 8) == UINT64_C(0x93f5f5799a932462) &&
	    rate_siphash(key, msg, 15) == UINT64_C(0xa129ca6149be45e5),
	    "12.1 SipHash-2-4 matches the reference vectors");

	snprintf(path, sizeof(path), "%s/unit-rate.shm", var);
	if ((t = rate_table_open(path, 32)) == NULL) {
		ok(0, "12.2 a table of 32 slots");
		return;
	}

	/* 4 tokens, 250 a second: a quarter token per ms, exact in binary. */
	for (int i = 0; i < 5; i++)
		got[i] = rate_table_take(t, "a", 4, 250, T0, &lv[i]);
	ok(got[0] == 1 && got[1] == 1 && got[2] == 1 && got[3] == 1 &&
	    lv[0] == 4 && lv[3] == 1, "12.2 a new bucket gives its 4 tokens");
	ok(got[4] == 0 && lv[4] == 0, "12.3 the 5th is refused, level 0");
	got[0] = rate_table_take(t, "a", 4, 250, T0 + 3, &lv[0]);
	ok(got[0] == 0 && lv[0] == 0.75, "12.4 3 ms later: 0.75, refused");
	for (int i = 0; i < 100; i++)
		rate_table_take(t, "a", 4, 250, T0 + 3, &lv[1]);
	got[0] = rate_table_take(t, "a", 4, 250, T0 + 4, &lv[0]);
	ok(got[0] == 1 && lv[0] == 1,
	    "12.5 4 ms later exactly 1: taken (refusals cost nothing)");
	got[0] = rate_table_take(t, "a", 4, 250, T0 + 4, &lv[0]);
	ok(got[0] == 0 && lv[0] == 0, "12.6 and the next is refused");
	got[0] = rate_table_take(t, "a", 4, 250, T0 + 104, &lv[0]);
	ok(got[0] == 1 && lv[0] == 4, "12.7 refill stops at the capacity");
	for (int i = 0; i < 3; i++)
		rate_table_take(t, "a", 4, 250, T0 + 104, &lv[0]);
	got[0] = rate_table_take(t, "a", 4, 250, T0 - 5000, &lv[0]);
	ok(got[0] == 0 && lv[0] == 0,
	    "12.8 a clock 5 s back: no refill, refused");
	got[0] = rate_table_take(t, "a", 4, 250, T0 + 108, &lv[0]);
	got[1] = rate_table_take(t, "a", 4, 250, T0 + 108, &lv[1]);
	ok(got[0] == 1 && lv[0] == 1 && got[1] == 0,
	    "12.9 and back to T0 + 108: one token, from T0 + 104");

	is_int(rate_retry_after(0, 10 / 3600.0), 360,
	    "12.10 Retry-After: 10/h from empty is 360 s");
	is_int(rate_retry_after(0, 3 / 3600.0), 1200,
	    "12.11 Retry-After: 3/h from empty is 1200 s");
	is_int(rate_retry_after(0.2, 100 / 3600.0), 29,
	    "12.12 Retry-After: 28.8 s rounds up to 29");
	is_int(rate_retry_after(0, 10), 1,
	    "12.13 Retry-After: 0.1 s rounds up to 1");
	is_int(rate_retry_after(0.5, 0.25), 2, "12.14 Retry-After: 2 s");
	is_int(rate_retry_after(1, 1), 1, "12.15 Retry-After: at least 1");

	/*
	 * Set 0: the least recently used bucket makes way. (From T1 on,
	 * "a" is full again: its slot is as good as empty.)
	 */
	if (!names_in_set(t, 0, n, 17) || !names_in_set(t, 1, m, 17)) {
		ok(0, "12.16 names in sets 0 and 1");
		goto out;
	}
	for (int i = 0; i < 16; i++)
		rate_table_take(t, n[i], 10, 1, T1 + i, &lv[0]);
	is_int((long long)listed(t, T1 + 15, n[0], &live), 9,
	    "12.16 the first of 16 buckets of a set is listed with 9");
	is_int(live, 16, "12.17 16 buckets live in a set of 16");
	got[0] = rate_table_take(t, n[16], 10, 1, T1 + 16, &lv[0]);
	ok(got[0] == 1 && lv[0] == 10, "12.18 a 17th name gets a full bucket");
	ok(listed(t, T1 + 16, n[0], &live) < 0 && live == 16 &&
	    listed(t, T1 + 16, n[1], NULL) == 9 &&
	    listed(t, T1 + 16, n[16], NULL) == 9,
	    "12.19 in the least recently used one's slot");

	/* Set 1: a bucket full again is a free slot, taken before the LRU. */
	for (int i = 0; i < 16; i++)
		rate_table_take(t, m[i], i == 7 ? 2 : 10, i == 7 ? 1000 : 1,
		    T1 + i, &lv[0]);
	ok(listed(t, T1 + 16, m[7], &live) < 0 && live == 31 &&
	    listed(t, T1 + 16, m[8], NULL) == 9,
	    "12.20 a bucket full again is not listed");
	got[0] = rate_table_take(t, m[16], 10, 1, T1 + 16, &lv[0]);
	ok(got[0] == 1 && listed(t, T1 + 16, m[16], &live) == 9 &&
	    listed(t, T1 + 16, m[0], NULL) == 9 && live == 32,
	    "12.21 a new name takes its slot, not the LRU's");
	got[0] = rate_table_take(t, m[7], 2, 1000, T1 + 17, &lv[0]);
	ok(got[0] == 1 && lv[0] == 2 && listed(t, T1 + 17, m[0], &live) < 0 &&
	    listed(t, T1 + 17, m[1], NULL) == 9 && live == 32,
	    "12.22 the old name comes back full, in the LRU's slot");
	listed(t, T1 + 2000, "", &live);
	is_int(live, 0, "12.23 2 s later every bucket is full: none listed");

	/* A process dies holding a stripe. */
	fflush(stdout);
	if ((pid = fork()) == 0)
		_exit(rate_table_lock(t, rate_table_set(t, "dead")) ? 0 : 1);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "12.24 a child locks a stripe and exits");
	alarm(20);	/* a hang here is the failure */
	got[0] = rate_table_take(t, "dead", 1, 1, T2, &lv[0]);
	got[1] = rate_table_take(t, "dead", 1, 1, T2, &lv[1]);
	got[2] = rate_table_take(t, "dead", 1, 1, T2, &lv[2]);
	alarm(0);
	ok(got[0] == 1 && got[1] == 0 && got[2] == 0,
	    "12.25 the stripe recovers and still counts");

	/*
	 * Two processes on one bucket never get more than it has. For
	 * 300 ms at one instant, from a bucket too big to run dry: what
	 * they were given and what is left must add up to the capacity (a
	 * lost update leaves more). Then a small one, refilled 1000 times.
	 */
	total = hammer(path, "hammer", 1e9, 1, 0, 0, 300);
	rate_table_take(t, "hammer", 1e9, 1, T2, &lv[0]);
	ok(total > 0 && total + (long)lv[0] == 1000000000L,
	    "12.26 2 processes, 300 ms at one instant: %ld given + %.0f "
	    "left = the capacity", total, lv[0]);
	total = hammer(path, "hammer2", 1000, 1000, 100000, 100, 0);
	ok(total >= 1000 && total <= 1000 + 999,
	    "12.27 2 x 100000 takes over 1 s at 1/ms: %ld, at most 1999",
	    total);

	/* A file that is not a table is replaced; others share it. */
	snprintf(bad, sizeof(bad), "%s/unit-bad.shm", var);
	if ((f = fopen(bad, "w")) != NULL) {
		fputs("not a table\n", f);
		fclose(f);
	}
	quiet(1);
	t2 = rate_table_open(bad, 32);
	quiet(0);
	ok(t2 != NULL && stat(bad, &sb) == 0 && sb.st_size > 4096,
	    "12.28 a file that is not a table is replaced");
	rate_table_close(t2);
	t2 = rate_table_open(path, 32);
	got[0] = t2 != NULL ? rate_table_take(t2, "both", 1, 1, T2, &lv[0]) :
	    -1;
	got[1] = rate_table_take(t, "both", 1, 1, T2, &lv[1]);
	ok(got[0] == 1 && got[1] == 0, "12.29 a second mapping sees the "
	    "first's buckets");
	rate_table_close(t2);
out:
	rate_table_close(t);

	/* The routes' table, through rate_take. */
	setenv("KILN_FAKE_NOW", "2026-05-22T07:00:00Z", 1);
	for (int i = 0; i < 10; i++)
		got[0] = rate_take(&RATE_ROTATE_KEY, "unit", &retry);
	ok(got[0] == 1 && retry == 0, "12.30 rate_take: 10 rotations an hour");
	got[0] = rate_take(&RATE_ROTATE_KEY, "unit", &retry);
	ok(got[0] == 0 && retry == 360, "12.31 the 11th: Retry-After 360");
	setenv("KILN_FAKE_NOW", "2026-05-22T07:01:40.500Z", 1);
	got[0] = rate_take(&RATE_ROTATE_KEY, "unit", &retry);
	ok(got[0] == 0 && retry == 260,
	    "12.32 100.5 s later: 0.279 tokens, Retry-After 260");
	setenv("KILN_RATE_CHANNEL_TEST", "20", 1);
	for (int i = 0; i < 20; i++)
		got[0] = rate_take(&RATE_CHANNEL_TEST, "unit", &retry);
	got[1] = rate_take(&RATE_CHANNEL_TEST, "unit", &retry);
	ok(got[0] == 1 && got[1] == 0 && retry == 180,
	    "12.33 rate_channel_test = 20: 20 tokens, refill 20/h");
	unsetenv("KILN_RATE_CHANNEL_TEST");
	for (int i = 0; i < 5; i++)
		got[0] = rate_take(&RATE_REGISTER, "unit", &retry);
	ok(got[0] == 0 && retry == 1200, "12.34 3 registrations an hour");
	unsetenv("KILN_FAKE_NOW");
}

/* --- 13. the JSON reader ------------------------------------------------ */

/*
 * The expected answers are jansson 2.14's (json_loadb with
 * JSON_REJECT_DUPLICATES), which jsonread promises to match; each case
 * also asks jansson, so a case that is wrong about jansson fails too.
 */

/* Parses s[n] with both. Returns jsonread's tree; *agree: same verdict. */
static json_t *
jr_both(const char *s, size_t n, int *agree, json_error_t *err)
{
	json_t	*j = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
	json_t	*k = jsonread_parse(s, n, err);

	*agree = (j == NULL) == (k == NULL) && (j == NULL ||
	    json_equal(j, k));
	json_decref(j);
	return k;
}

/* 1 when s[n] is refused by both, with json_error_code code (-1: any). */
static int
jr_refused(const char *s, size_t n, int code)
{
	json_error_t	 err;
	json_t		*k;
	int		 agree, pass;

	k = jr_both(s, n, &agree, &err);
	pass = k == NULL && agree && (code < 0 || json_error_code(&err) ==
	    (enum json_error_code)code);
	if (!pass)
		fprintf(stderr, "#   %.*s: %s (jansson %s)\n", (int)n, s,
		    k != NULL ? "accepted" : err.text,
		    agree ? "agrees" : "disagrees");
	json_decref(k);
	return pass;
}

/* Cases as string literals: the length is the literal's, NULs and all. */
#define REFUSED(lit, code)	jr_refused(lit, sizeof(lit) - 1, code)
#define BOTH(lit, agree)	jr_both(lit, sizeof(lit) - 1, agree, NULL)

/* The only element of [text], parsed by both; NULL (reported) if not. */
static json_t *
jr_one(const char *text, json_t **root)
{
	char	 buf[256];
	int	 agree, n;

	n = snprintf(buf, sizeof(buf), "[%s]", text);
	*root = jr_both(buf, (size_t)n, &agree, NULL);
	if (*root == NULL || !agree || json_array_size(*root) != 1) {
		fprintf(stderr, "#   [%s]: %s\n", text, *root == NULL ?
		    "refused" : "jansson disagrees");
		return NULL;
	}
	return json_array_get(*root, 0);
}

/* 1 when [text] holds one string of exactly want[wn]. */
static int
jr_string(const char *text, const char *want, size_t wn)
{
	json_t	*root, *v = jr_one(text, &root);
	int	 pass = json_is_string(v) && json_string_length(v) == wn &&
	    memcmp(json_string_value(v), want, wn) == 0;

	json_decref(root);
	return pass;
}

/* 1 when [text] holds one integer equal to want. */
static int
jr_int(const char *text, json_int_t want)
{
	json_t	*root, *v = jr_one(text, &root);
	int	 pass = json_is_integer(v) && json_integer_value(v) == want;

	json_decref(root);
	return pass;
}

/* 1 when [text] holds one real with want's exact bits (-0.0 is not 0.0). */
static int
jr_real(const char *text, double want)
{
	json_t	*root, *v = jr_one(text, &root);
	double	 got = json_real_value(v);
	int	 pass = json_is_real(v) && memcmp(&got, &want,
	    sizeof(got)) == 0;

	if (v != NULL && !pass)
		fprintf(stderr, "#   [%s]: got %a, want %a\n", text, got, want);
	json_decref(root);
	return pass;
}

/* n arrays nested, around inner (may be ""). Caller frees. */
static char *
jr_nest(int n, const char *inner, size_t *len)
{
	size_t	 il = strlen(inner);
	char	*s = malloc(2 * (size_t)n + il + 1);

	if (s == NULL)
		return NULL;
	memset(s, '[', (size_t)n);
	memcpy(s + n, inner, il);
	memset(s + n + il, ']', (size_t)n);
	*len = 2 * (size_t)n + il;
	s[*len] = '\0';
	return s;
}

static void
test_jsonread(void)
{
	static const char *const fixtures[] = {
	    "tests/fixtures/snapshot-debian12-vm.json",
	    "tests/fixtures/baremetal-healthy.json",
	    "tests/fixtures/baremetal-sel-critical.json" };
	static const char *const bad_syntax[] = { "", " ", "1", "\"a\"",
	    "null", "true", "\xef\xbb\xbf{}", "{} x", "{}{}", "[]]", "[]\f",
	    "[1,]", "{\"a\":1,}", "[,]", "[1 2]", "{\"a\" 1}", "{\"a\":}",
	    "{1:2}", "[01]", "[-01]", "[-]", "[1.]", "[.5]", "[1e]", "[1e+]",
	    "[+1]", "[0x10]", "[1.5.2]", "[NaN]", "[Infinity]", "[True]",
	    "[nul]", "[truex]", "[\"abc", "[\"\\" };
	json_error_t	 err;
	json_t		*root, *v;
	const char	*key;
	char		*s, *text;
	size_t		 n, i;
	int		 agree, wrong;
	FILE		*f;

	/* Strings: every escape, surrogate pairs, raw UTF-8 as it is. */
	ok(jr_string("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8),
	    "13.1 the eight one-letter escapes");
	ok(jr_string("\"\\u0041\\u00e9\\u20AC\\uFFFF\"",
	    "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbf", 9),
	    "13.2 \\u escapes to 1, 2 and 3 UTF-8 bytes, either case");
	ok(jr_string("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4),
	    "13.3 a surrogate pair is one 4-byte character");
	ok(jr_string("\"\\uD800\\uDC00\\uDBFF\\uDFFF\"",
	    "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8),
	    "13.4 the first and last surrogate pairs");
	ok(jr_string("\"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"
	    "\x7f\"", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"
	    "\x7f", 15), "13.5 raw UTF-8 up to U+10FFFF, and DEL, kept");
	ok(jr_string("\"0123456789abcdefghij\\nklmnopqrstuvwxyz\"",
	    "0123456789abcdefghij\nklmnopqrstuvwxyz", 37),
	    "13.6 an escape between two long plain runs");
	ok(jr_string("\"\"", "", 0), "13.7 the empty string");
	ok(REFUSED("[\"\\ud800\"]", json_error_invalid_syntax) &&
	    REFUSED("[\"\\udc00\"]", json_error_invalid_syntax) &&
	    REFUSED("[\"\\ud800\\u0041\"]", json_error_invalid_syntax) &&
	    REFUSED("[\"\\ud800\\ud800\"]", json_error_invalid_syntax) &&
	    REFUSED("[\"\\ud800x\"]", json_error_invalid_syntax),
	    "13.8 lone or mismatched surrogate halves refused");
	ok(REFUSED("[\"\\u0000\"]", json_error_null_character) &&
	    REFUSED("{\"a\\u0000b\":1}", json_error_null_character),
	    "13.9 \\u0000 refused, in a value and in a key");
	ok(REFUSED("[\"\\x\"]", json_error_invalid_syntax) &&
	    REFUSED("[\"\\u12\"]", json_error_invalid_syntax) &&
	    REFUSED("[\"\\u12G4\"]", json_error_invalid_syntax),
	    "13.10 unknown and short escapes refused");
	ok(REFUSED("[\"\x1f\"]", json_error_invalid_syntax) &&
	    REFUSED("[\"\t\"]", json_error_invalid_syntax) &&
	    REFUSED("[\"a\nb\"]", json_error_invalid_syntax) &&
	    REFUSED("[\"\0\"]", json_error_invalid_syntax),
	    "13.11 raw control characters in a string refused");
	ok(REFUSED("[\"\xc0\xaf\"]", json_error_invalid_utf8) &&
	    REFUSED("[\"\xc1\xbf\"]", json_error_invalid_utf8) &&
	    REFUSED("[\"\xe0\x80\xaf\"]", json_error_invalid_utf8) &&
	    REFUSED("[\"\xf0\x8f\xbf\xbf\"]", json_error_invalid_utf8),
	    "13.12 overlong UTF-8 refused");
	ok(REFUSED("[\"\xed\xa0\x80\"]", json_error_invalid_utf8) &&
	    REFUSED("[\"\xed\xbf\xbf\"]", json_error_invalid_utf8) &&
	    jr_string("\"\xed\x9f\xbf\"", "\xed\x9f\xbf", 3),
	    "13.13 surrogates encoded in UTF-8 refused, U+D7FF kept");
	ok(REFUSED("[\"\xf4\x90\x80\x80\"]", json_error_invalid_utf8) &&
	    REFUSED("[\"\xf5\x80\x80\x80\"]", json_error_invalid_utf8) &&
	    REFUSED("[\"\xff\"]", json_error_invalid_utf8) &&
	    REFUSED("[\"\x80\"]", json_error_invalid_utf8) &&
	    REFUSED("[\"\xe2\x82\"]", json_error_invalid_utf8) &&
	    REFUSED("[\"\xc3", -1) &&
	    REFUSED("{\"\xff\":1}", json_error_invalid_utf8),
	    "13.14 past U+10FFFF, stray and cut sequences refused");

	/* Numbers: int64 exactly, reals as strtod, -0 as each makes it. */
	ok(jr_int("9223372036854775807", INT64_MAX) &&
	    jr_int("-9223372036854775808", INT64_MIN),
	    "13.15 int64 max and min are integers");
	ok(REFUSED("[9223372036854775808]",
	    json_error_numeric_overflow) &&
	    REFUSED("[-9223372036854775809]",
	    json_error_numeric_overflow) &&
	    REFUSED("[123456789012345678901234567890]",
	    json_error_numeric_overflow),
	    "13.16 one past either end refused, not made a real");
	ok(jr_int("0", 0) && jr_int("-0", 0) && jr_int("-1", -1) &&
	    jr_int("1234567890123", INT64_C(1234567890123)),
	    "13.17 -0 without '.' or exponent is the integer 0");
	ok(jr_real("-0.0", -0.0) && jr_real("0.0", 0.0) &&
	    jr_real("0e0", 0.0) && jr_real("-0e-999", -0.0),
	    "13.18 -0.0 is a real with its sign, 0.0 without");
	ok(jr_real("1.0", 1.0) && jr_real("1e0", 1.0) && jr_real("1E5", 1e5) &&
	    jr_real("1e+5", 1e5) && jr_real("1.5e-5", 1.5e-5) &&
	    jr_real("-2.5", -2.5),
	    "13.19 a '.' or an exponent makes a real");
	ok(jr_real("0.1", 0.1) && jr_real("123.456", 123.456) &&
	    jr_real("3.14159265358979323846", 3.14159265358979323846) &&
	    jr_real("9007199254740993.0", 9007199254740992.0) &&
	    jr_real("1e22", 1e22) && jr_real("1e23", 1e23) &&
	    jr_real("0.000001", 0.000001) &&
	    jr_real("2.2250738585072014e-308", 2.2250738585072014e-308),
	    "13.20 reals round as strtod does");
	ok(jr_real("1e308", 1e308) &&
	    jr_real("1.7976931348623157e308", 0x1.fffffffffffffp+1023),
	    "13.21 1e308 and DBL_MAX are reals");
	ok(REFUSED("[1e309]", json_error_numeric_overflow) &&
	    REFUSED("[-1e309]", json_error_numeric_overflow) &&
	    REFUSED("[1.7976931348623159e308]",
	    json_error_numeric_overflow),
	    "13.22 1e309, -1e309 and just past DBL_MAX refused (overflow)");
	ok(jr_real("1e-400", 0.0) && jr_real("-1e-400", -0.0) &&
	    jr_real("4.9e-324", 0x1p-1074) && jr_real("2e-324", 0.0),
	    "13.23 underflow accepted: subnormal or zero, as strtod");
	ok(jr_real("1.00000000000000000000000000000000000000000000000000"
	    "00000000000000000000000000000000000000001", 1.0),
	    "13.24 a real longer than any buffer");

	/* Literals and structure. */
	v = jr_one("true", &root);
	ok(v == json_true(), "13.25 true");
	json_decref(root);
	v = jr_one("false", &root);
	ok(v == json_false(), "13.26 false");
	json_decref(root);
	v = jr_one("null", &root);
	ok(v == json_null(), "13.27 null");
	json_decref(root);
	wrong = 0;
	for (i = 0; i < sizeof(bad_syntax) / sizeof(bad_syntax[0]); i++)
		if (!jr_refused(bad_syntax[i], strlen(bad_syntax[i]), -1))
			wrong++;
	is_int(wrong, 0, "13.28 empty input, a scalar or a BOM at the top, "
	    "trailing garbage, bad numbers and literals: refused");
	root = BOTH(" \t\r\n{\"b\" : 1 ,\n\"a\":[ true , {} , [] ] }\r\n",
	    &agree);
	key = json_object_iter_key(json_object_iter(root));
	ok(agree && json_is_object(root) && json_object_size(root) == 2 &&
	    key != NULL && strcmp(key, "b") == 0 &&
	    json_array_size(json_object_get(root, "a")) == 3,
	    "13.29 whitespace anywhere between tokens; keys keep their order");
	json_decref(root);
	ok(REFUSED("{\"a\":1,\"a\":2}", json_error_duplicate_key) &&
	    REFUSED("{\"a\":1,\"\\u0061\":[]}",
	    json_error_duplicate_key) &&
	    REFUSED("{\"x\":{\"a\":{},\"b\":0,\"a\":null}}",
	    json_error_duplicate_key),
	    "13.30 duplicate keys refused, however spelt, at any depth");
	root = BOTH("{\"a\":{\"a\":1},\"b\":{\"a\":2}}", &agree);
	ok(root != NULL && agree,
	    "13.31 the same key in different objects is fine");
	json_decref(root);
	root = BOTH("[1\0, true\0, null\0]", &agree);
	ok(root != NULL && agree && json_array_size(root) == 3,
	    "13.32 one NUL right after a number or literal: jansson skips it");
	json_decref(root);
	ok(REFUSED("[1\0\0]", -1) && REFUSED("[\"a\"\0]", -1) &&
	    REFUSED("[[]\0]", -1) && REFUSED("[]\0", -1),
	    "13.33 any other NUL refused");

	/* Depth: jansson counts every value, the scalars too. */
	s = jr_nest(JSON_PARSER_MAX_DEPTH, "", &n);
	root = s != NULL ? jr_both(s, n, &agree, NULL) : NULL;
	ok(root != NULL && agree, "13.34 %d nested arrays accepted",
	    JSON_PARSER_MAX_DEPTH);
	json_decref(root);
	free(s);
	s = jr_nest(JSON_PARSER_MAX_DEPTH + 1, "", &n);
	ok(s != NULL && jr_refused(s, n, json_error_stack_overflow),
	    "13.35 one more refused");
	free(s);
	s = jr_nest(JSON_PARSER_MAX_DEPTH - 1, "1", &n);
	root = s != NULL ? jr_both(s, n, &agree, NULL) : NULL;
	ok(root != NULL && agree, "13.36 a scalar at depth %d accepted",
	    JSON_PARSER_MAX_DEPTH);
	json_decref(root);
	free(s);
	s = jr_nest(JSON_PARSER_MAX_DEPTH, "1", &n);
	ok(s != NULL && jr_refused(s, n, json_error_stack_overflow),
	    "13.37 a scalar one deeper refused");
	free(s);
	s = jr_nest(100000, "", &n);
	ok(s != NULL && jr_refused(s, n, json_error_stack_overflow),
	    "13.38 100 000 deep refused");
	free(s);

	/* Errors say what and where; a NULL error is fine. */
	ok(jsonread_parse("{\n  \"a\": x}", 11, &err) == NULL &&
	    err.line == 2 && err.column == 8 && err.position == 9 &&
	    strstr(err.text, "line 2, column 8") != NULL &&
	    json_error_code(&err) == json_error_invalid_syntax,
	    "13.39 line, column (characters) and byte offset");
	if (err.line != 2)
		fprintf(stderr, "#   %s\n", err.text);
	ok(jsonread_parse("{\"\xc3\xa9\":1,\"\xc3\xa9\":2}", 15, &err) ==
	    NULL && err.column == 8 && err.position == 8 &&
	    strncmp(err.text, "duplicate object key", 20) == 0,
	    "13.40 a duplicate is placed at its key; columns count "
	    "characters, not bytes");
	ok(jsonread_parse("{} x", 4, NULL) == NULL &&
	    jsonread_parse(NULL, 0, &err) == NULL && err.position == 0,
	    "13.41 no error struct, or no buffer at all");

	/* The real snapshots, as jansson reads them. */
	wrong = 0;
	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		text = NULL;
		n = 0;
		if ((f = fopen(fixtures[i], "rb")) != NULL) {
			text = malloc(65536);
			n = text != NULL ? fread(text, 1, 65536, f) : 0;
			fclose(f);
		}
		root = n > 0 ? jr_both(text, n, &agree, NULL) : NULL;
		if (root == NULL || !agree) {
			fprintf(stderr, "#   %s\n", fixtures[i]);
			wrong++;
		}
		json_decref(root);
		free(text);
	}
	is_int(wrong, 0, "13.42 the fixtures: the same trees as jansson's");
}

/* --- 14. the writers' queue and the checkpoint thread ------------------ */

/*
 * A child that holds the writers' queue for hold_ms, as another writing
 * process would. Returns its pid once it holds it, or -1.
 */
static pid_t
queue_holder(const char *queue, int hold_ms)
{
	int	 ready[2];
	char	 c;
	pid_t	 pid;

	if (pipe(ready) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		struct flock	 fl = { .l_type = F_WRLCK,
		    .l_whence = SEEK_SET };
		int		 fd = open(queue, O_RDWR);

		if (fd < 0 || fcntl(fd, F_OFD_SETLKW, &fl) != 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		usleep((useconds_t)hold_ms * 1000);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		pid = -1;
	close(ready[0]);
	return pid;
}

/* The audit log's rows, or -1. */
static long long
audit_rows(sqlite3 *conn)
{
	sqlite3_stmt	*st;
	long long	 n = -1;

	if (sqlite3_prepare_v2(conn, "SELECT count(*) FROM audit_log", -1,
	    &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* 1 when another process could take the queue right now. */
static int
queue_free(const char *queue)
{
	int	 status;
	pid_t	 pid = fork();

	if (pid == 0) {
		struct flock	 fl = { .l_type = F_WRLCK,
		    .l_whence = SEEK_SET };
		int		 fd = open(queue, O_RDWR);

		_exit(fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static off_t
file_size(const char *path)
{
	struct stat	 sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static void
test_writers(const char *var)
{
	static const struct audit_ep no_endpoints[] = { AUDIT_END };
	struct req	 r;
	sqlite3		*conn = db_main();
	char		 queue[256], wal[256], dbf[256];
	int64_t		 t0, waited;
	off_t		 db_before, wal_most = 0;
	pid_t		 pid;
	int		 began, rows_ok = 1;
	long long	 audited;

	snprintf(queue, sizeof(queue), "%s/kiln.db-writers", var);
	snprintf(wal, sizeof(wal), "%s/kiln.db-wal", var);
	snprintf(dbf, sizeof(dbf), "%s/kiln.db", var);
	if (conn == NULL || !db_begin(conn)) {
		ok(0, "14.0 a write transaction");
		return;
	}
	ok(access(queue, F_OK) == 0, "14.1 the queue file sits beside the "
	    "database");
	ok(!queue_free(queue), "14.2 a writer holds the queue for the whole "
	    "transaction");
	ok(db_commit(conn) && queue_free(queue), "14.3 and lets go at commit");
	db_begin(conn);
	db_rollback(conn);
	ok(queue_free(queue), "14.4 and at rollback");

	/* Another process writing for 300 ms: this one waits its turn. */
	pid = queue_holder(queue, 300);
	t0 = iso_mono_ms();
	began = db_begin(conn);
	waited = iso_mono_ms() - t0;
	ok(pid > 0 && began && waited >= 200,
	    "14.5 a writer waits in the queue, then begins (%lld ms)",
	    (long long)waited);
	db_rollback(conn);
	waitpid(pid, NULL, 0);

	/*
	 * An audit row is a write too: it waits its turn in the queue, not
	 * in SQLite's busy handler, which sleeps 5 to 100 ms at a time.
	 */
	audited = audit_rows(conn);
	pid = queue_holder(queue, 300);
	fake_req(&r, "GET", "/unit", NULL);
	r.status = 200;
	t0 = iso_mono_ms();
	audit_request(no_endpoints, &r);
	waited = iso_mono_ms() - t0;
	ok(pid > 0 && waited >= 200 && audit_rows(conn) ==
	    audited + 1 && queue_free(queue), "14.5a an audit row waits in "
	    "the queue, then is written (%lld ms)", (long long)waited);
	fake_done(&r);
	waitpid(pid, NULL, 0);

	/* One holding it past busy_timeout_ms (1 s here): give up. */
	pid = queue_holder(queue, 3000);
	t0 = iso_mono_ms();
	quiet(1);
	began = db_begin(conn);
	quiet(0);
	waited = iso_mono_ms() - t0;
	ok(pid > 0 && !began && waited >= 900 && waited < 2500,
	    "14.6 past busy_timeout_ms the writer gives up (%lld ms)",
	    (long long)waited);
	ok(sqlite3_get_autocommit(conn), "14.7 with no transaction open");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ok(queue_free(queue), "14.8 a writer that dies frees the queue");

	/*
	 * The checkpoint thread: past 1000 WAL pages the commit only wakes
	 * it; it copies the pages back into the database file, so the next
	 * writes start the WAL over instead of growing it.
	 */
	ok(db_checkpoint_in_background(), "14.9 the checkpoint thread starts");
	sqlite3_exec(conn, "CREATE TABLE unit_ckpt (b BLOB)", NULL, NULL,
	    NULL);
	db_before = file_size(dbf);
	for (int batch = 0; batch < 30; batch++) {
		if (!db_begin(conn)) {
			rows_ok = 0;
			break;
		}
		/* 100 rows of 4000 bytes: about 100 pages a transaction. */
		rows_ok &= sqlite3_exec(conn, "INSERT INTO unit_ckpt"
		    " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
		    " FROM n WHERE i < 100) SELECT randomblob(4000) FROM n",
		    NULL, NULL, NULL) == SQLITE_OK;
		rows_ok &= db_commit(conn);
		if (file_size(wal) > wal_most)
			wal_most = file_size(wal);
		usleep(20000);
	}
	for (int i = 0; i < 100 && (db_checkpoints_run() == 0 ||
	    file_size(dbf) < db_before + 4000000); i++)
		usleep(20000);
	ok(rows_ok, "14.10 3000 pages written in 30 transactions");
	ok(db_checkpoints_run() > 0 && file_size(dbf) >= db_before + 4000000,
	    "14.11 the thread (%d checkpoints) copied them into the database "
	    "file", db_checkpoints_run());
	ok(wal_most > 0 && wal_most < 2500 * 4096,
	    "14.12 the WAL started over (at most %lld pages)",
	    (long long)wal_most / 4096);
	sqlite3_exec(conn, "DROP TABLE unit_ckpt", NULL, NULL, NULL);

	/* A BEGIN inside a transaction fails; the outer one keeps its turn. */
	db_begin(conn);
	quiet(1);
	began = db_begin(conn);
	quiet(0);
	ok(!began && !sqlite3_get_autocommit(conn) && !queue_free(queue),
	    "14.13 a nested begin fails, and the writer stays in the queue");
	ok(db_commit(conn) && queue_free(queue), "14.14 until it commits");

	/* A transaction SQLite ended by itself (as on SQLITE_FULL). */
	db_begin(conn);
	sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
	db_release();
	ok(queue_free(queue), "14.15 the request's end lets go of the queue");
}

/* --- 15. group commit (req_defer, req_run_deferred) ------------------- */

/* Inserts the key arg into unit_gc; its reply and return come from it. */
static int
gc_insert(const char *key, const char *fk)
{
	sqlite3_stmt	*st = NULL;
	int		 rc;

	sqlite3_prepare_v2(db_main(), "INSERT INTO unit_gc (k, parent)"
	    " VALUES (?1, ?2)", -1, &st, NULL);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (fk != NULL)
		sqlite3_bind_int(st, 2, atoi(fk));
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE;
}

/* Inserts key (with parent fk, or none) and answers 204. */
static int
gc_keep(struct req *r, const char *key, const char *fk)
{
	if (!gc_insert(key, fk))
		return 0;
	reply_none(r, 204);
	return 1;
}

static int
work_keep(struct req *r, void *arg)
{
	return gc_keep(r, arg, NULL);
}

static int
work_undo(struct req *r, void *arg)
{
	gc_insert(arg, NULL);
	reply_err(r, 409, "conflict", "Undone.");
	return 0;
}

static int
work_silent(struct req *r, void *arg)
{
	(void)r;
	return gc_insert(arg, NULL);
}

/* A row whose parent doesn't exist: only the COMMIT can refuse it. */
static int
work_orphan(struct req *r, void *arg)
{
	return gc_keep(r, arg, "999");
}

/* Ends the shared transaction, as SQLite does on SQLITE_FULL. */
static int
work_ends_all(struct req *r, void *arg)
{
	gc_insert(arg, NULL);
	sqlite3_exec(db_main(), "ROLLBACK", NULL, NULL, NULL);
	reply_none(r, 204);
	return 1;
}

/* The keys in unit_gc, in order, as "a,c"; "" for none. */
static const char *
gc_rows(void)
{
	static char	 out[128];
	sqlite3_stmt	*st = NULL;

	out[0] = '\0';
	sqlite3_prepare_v2(db_main(), "SELECT k FROM unit_gc ORDER BY k", -1,
	    &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
		    out[0] != '\0' ? "," : "", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

/* Runs one batch of works named by their keys; statuses into got. */
static void
gc_batch(int n, int (*const works[])(struct req *, void *),
    const char *const keys[], int got[])
{
	struct req	 r[8], *rs[8];

	sqlite3_exec(db_main(), "DELETE FROM unit_gc", NULL, NULL, NULL);
	for (int i = 0; i < n; i++) {
		fake_req(&r[i], "POST", "/x", "");
		if (works[i] != NULL)
			req_defer(&r[i], works[i], (void *)keys[i], NULL);
		else
			reply_err(&r[i], 400, "bad_request", "Not deferred.");
		rs[i] = &r[i];
	}
	quiet(1);
	req_run_deferred(rs, n);
	quiet(0);
	for (int i = 0; i < n; i++) {
		got[i] = r[i].status;
		fake_done(&r[i]);
	}
}

static void
test_group_commit(const char *var)
{
	char	 queue[256];
	int	 got[8];

	snprintf(queue, sizeof(queue), "%s/kiln.db-writers", var);
	if (db_main() == NULL || sqlite3_exec(db_main(),
	    "CREATE TABLE unit_gc_parent (id INTEGER PRIMARY KEY);"
	    "CREATE TABLE unit_gc (k TEXT PRIMARY KEY, parent INTEGER"
	    " REFERENCES unit_gc_parent(id) DEFERRABLE INITIALLY DEFERRED)",
	    NULL, NULL, NULL) != SQLITE_OK) {
		ok(0, "15.0 scratch tables");
		return;
	}
	{
		int (*const w[])(struct req *, void *) = {
			work_keep, work_undo, NULL, work_keep, work_silent
		};
		const char *const k[] = { "a", "b", "-", "c", "d" };

		gc_batch(5, w, k, got);
		is_str(gc_rows(), "a,c", "15.1 kept writes commit together; an "
		    "undone one and one with no reply leave nothing");
		ok(got[0] == 204 && got[3] == 204, "15.2 each keeps its reply");
		is_int(got[1], 409, "15.3 an undone work's own reply stands");
		is_int(got[2], 400, "15.4 a request with no work is untouched");
		is_int(got[4], 500, "15.5 a work that gave no reply: 500");
	}
	{
		int (*const w[])(struct req *, void *) = {
			work_keep, work_orphan, work_keep
		};
		const char *const k[] = { "e", "f", "g" };

		gc_batch(3, w, k, got);
		is_str(gc_rows(), "", "15.6 a COMMIT that fails keeps nothing");
		ok(got[0] == 500 && got[1] == 500 && got[2] == 500,
		    "15.7 and turns every reply of the batch into a 500");
	}
	{
		int (*const w[])(struct req *, void *) = {
			work_keep, work_ends_all, work_keep
		};
		const char *const k[] = { "h", "i", "j" };

		gc_batch(3, w, k, got);
		is_str(gc_rows(), "", "15.8 a work that ends the transaction: "
		    "nothing is written, none runs outside it");
		ok(got[0] == 500 && got[1] == 500 && got[2] == 500,
		    "15.9 every reply is a 500");
		ok(sqlite3_get_autocommit(db_main()) && queue_free(queue),
		    "15.10 no transaction stays open, the queue is free");
	}
	{
		int (*const w[])(struct req *, void *) = { work_keep };
		const char *const k[] = { "k" };

		gc_batch(1, w, k, got);
		ok(got[0] == 204 && strcmp(gc_rows(), "k") == 0,
		    "15.11 a batch of one, as plain CGI serves it");
	}
	sqlite3_exec(db_main(), "DROP TABLE unit_gc; DROP TABLE unit_gc_parent",
	    NULL, NULL, NULL);
}

/* --- 16. migration 009: the roll-ups, one row per server and hour ------ */

/* The first column of the first row of sql on conn, as text; "" if none. */
static const char *
first_text(sqlite3 *conn, const char *sql)
{
	static char	 out[512];
	sqlite3_stmt	*st = NULL;

	out[0] = '\0';
	if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof(out), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static void
test_migration_hour(void)
{
	sqlite3	*conn = NULL;
	int	 i, ok8 = sqlite3_open(":memory:", &conn) == SQLITE_OK;

	/* A database at schema 8, with roll-ups in the old shape. */
	for (i = 0; ok8 && i < db_nmigrations &&
	    db_migrations[i].version <= 8; i++)
		ok8 = sqlite3_exec(conn, db_migrations[i].sql, NULL, NULL,
		    NULL) == SQLITE_OK;
	ok8 = ok8 && sqlite3_exec(conn, "PRAGMA user_version=8;"
	    " INSERT INTO account (id, public_id, plan, created_at)"
	    " VALUES (1, 'acc_m', 'free', 0);"
	    " INSERT INTO server (id, public_id, account_id, name, hostname,"
	    " key_hash, created_at) VALUES (7, 'srv_m', 1, 'm', 'm', x'01', 0);"
	    " INSERT INTO metric_rollup (server_id, metric, bucket, n, sum,"
	    " min, max) VALUES (7, 'cpu', 3600, 3, 30, 5, 15),"
	    " (7, 'memory', 3600, 2, 100, 40, 60),"
	    " (7, 'temperature', 7200, 1, 50, 50, 50)",
	    NULL, NULL, NULL) == SQLITE_OK;
	if (!ok8) {
		ok(0, "16.0 a database at schema 8: %s", sqlite3_errmsg(conn));
		sqlite3_close(conn);
		return;
	}
	quiet(1);
	ok(db_migrate(conn), "16.1 the migration runs");
	quiet(0);
	is_str(first_text(conn, "SELECT group_concat(bucket || ':' || cpu_n"
	    " || '/' || cpu_sum || '/' || coalesce(cpu_min, '-') || '/' ||"
	    " coalesce(cpu_max, '-'), ' ') FROM metric_hour"),
	    "3600:3/30.0/5.0/15.0 7200:0/0.0/-/-",
	    "16.2 one row per hour; a metric the hour lacks has n 0, no min");
	is_str(first_text(conn, "SELECT memory_n || '/' || memory_sum || '/'"
	    " || memory_min || '/' || memory_max || ' ' || temperature_n FROM"
	    " metric_hour WHERE bucket = 3600"), "2/100.0/40.0/60.0 0",
	    "16.3 each metric into its own columns");
	is_str(first_text(conn, "SELECT count(*) FROM sqlite_schema WHERE"
	    " name = 'metric_rollup'"), "0", "16.4 the old table is gone");
	sqlite3_close(conn);
}

/*
 * 18. a WAL grown past 64 MiB by one burst is cut back by db_wal_trim
 * (which a checkpointing process runs when idle), not kept at its peak.
 */
static void
test_wal_trim(const char *var)
{
	sqlite3		*conn = db_main();
	struct stat	 sb;
	char		 wal[256];
	off_t		 peak = 0;
	int		 ok_sql, trimmed = 0;

	snprintf(wal, sizeof(wal), "%s/kiln.db-wal", var);
	ok(db_wal_trim() && stat(wal, &sb) == 0 && sb.st_size > 0 &&
	    sb.st_size <= 64 * 1048576, "18.1 a WAL under 64 MiB is left "
	    "as it is");
	/* 72 MiB in one transaction: no checkpoint can run meanwhile. */
	ok_sql = conn != NULL && sqlite3_exec(conn,
	    "CREATE TABLE unit_wal (b BLOB);"
	    "BEGIN;"
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
	    " WHERE i < 72) INSERT INTO unit_wal SELECT zeroblob(1048576)"
	    " FROM n;"
	    "COMMIT;", NULL, NULL, NULL) == SQLITE_OK;
	if (stat(wal, &sb) == 0)
		peak = sb.st_size;
	ok(ok_sql && peak > 72 * 1048576, "18.2 one transaction of 72 MiB: "
	    "a WAL of %lld bytes", (long long)peak);
	/* BUSY while the checkpoint thread of 14.9 copies it. */
	for (int i = 0; i < 100 && !(trimmed = db_wal_trim()); i++)
		usleep(50000);
	ok(trimmed && stat(wal, &sb) == 0 && sb.st_size == 0,
	    "18.3 db_wal_trim checkpoints and truncates it");
	ok(sqlite3_exec(conn, "INSERT INTO unit_wal VALUES (NULL)", NULL,
	    NULL, NULL) == SQLITE_OK, "18.4 and writing goes on");
}

/* Appends one FastCGI record of request id to buf at *n (8-byte padded). */
static void
fcgi_rec(unsigned char *buf, size_t *n, int type, int id, const void *c,
    size_t len)
{
	size_t	 pad = (8 - len % 8) % 8;
	unsigned char h[8] = { 1, (unsigned char)type, (unsigned char)(id >> 8),
	    (unsigned char)id, (unsigned char)(len >> 8), (unsigned char)len,
	    (unsigned char)pad, 0 };

	memcpy(buf + *n, h, 8);
	memcpy(buf + *n + 8, c, len);
	memset(buf + *n + 8 + len, 0, pad);
	*n += 8 + len + pad;
}

/*
 * 17. the FastCGI responder, from the web server's side: a client
 * process sends one request and keeps every byte of the answer.
 */
static void
test_fcgi(const char *var)
{
	static unsigned char	 req[4096], reply[300000];
	static char		 big[200000], out[200000];
	struct sockaddr_un	 sa = { .sun_family = AF_UNIX };
	struct fcgi		 f;
	unsigned char		 params[512], *p;
	char			 name[200], body[16];
	size_t			 n = 0, got = 0, o = 0, len, i;
	ssize_t			 k;
	pid_t			 pid;
	int			 lfd, fd, status, records = 0, sized = 1;
	int			 ended = 0, found_a = 0, found_long = 0;
	FILE			*fp;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/fcgi.sock", var);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 4) != 0) {
		ok(0, "17.0 a listening socket");
		return;
	}
	fcntl(lfd, F_SETFL, O_NONBLOCK);

	/* BEGIN_REQUEST (id 7), a short and a 200-byte parameter name
	 * (four-byte length), the body in two records. */
	fcgi_rec(req, &n, 1, 7, "\0\1\0\0\0\0\0\0", 8);
	memset(name, 'N', sizeof(name));
	p = params;
	memcpy(p, "\1\1A1", 4);
	p += 4;
	memcpy(p, "\x80\0\0\xc8\3", 5);
	p += 5;
	memcpy(p, name, sizeof(name));
	memcpy(p + sizeof(name), "yes", 3);
	p += sizeof(name) + 3;
	fcgi_rec(req, &n, 4, 7, params, (size_t)(p - params));
	fcgi_rec(req, &n, 4, 7, "", 0);
	fcgi_rec(req, &n, 5, 7, "hello ", 6);
	fcgi_rec(req, &n, 5, 7, "world", 5);
	fcgi_rec(req, &n, 5, 7, "", 0);

	if ((pid = fork()) == 0) {
		snprintf((char *)reply, sizeof(reply), "%s/fcgi.reply", var);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa,
		    sizeof(sa)) != 0 || write(fd, req, n) != (ssize_t)n ||
		    (fp = fopen((char *)reply, "w")) == NULL)
			_exit(1);
		while ((k = read(fd, reply, sizeof(reply))) > 0)
			fwrite(reply, 1, (size_t)k, fp);
		_exit(fclose(fp) != 0);
	}
	fcgi_init(&f, 5000, NULL, NULL);
	for (i = 0; i < 100 && (k = fcgi_accept(&f, lfd)) == 0; i++)
		usleep(20000);
	is_int((int)k, 1, "17.1 fcgi_accept: the request");
	is_int(f.id, 7, "17.2 its request id");
	for (i = 0; f.envp != NULL && f.envp[i] != NULL; i++) {
		found_a += strcmp(f.envp[i], "A=1") == 0;
		found_long += strlen(f.envp[i]) == sizeof(name) + 4 &&
		    strncmp(f.envp[i], name, sizeof(name)) == 0 &&
		    strcmp(f.envp[i] + sizeof(name), "=yes") == 0;
	}
	ok(found_a == 1 && found_long == 1 && i == 2,
	    "17.3 its parameters, one- and four-byte lengths");
	got = fcgi_read(&f, body, 3);
	got += fcgi_read(&f, body + got, sizeof(body) - got);
	body[got] = '\0';
	is_str(body, "hello world", "17.4 fcgi_read: the body across records");
	is_int((int)fcgi_read(&f, body, sizeof(body)), 0,
	    "17.5 then 0 at its end");
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	ok(fcgi_write(&f, big, 100000) && fcgi_write(&f, big + 100000,
	    sizeof(big) - 100000), "17.6 fcgi_write: 200 000 bytes");
	ok(fcgi_end(&f), "17.7 fcgi_end sends them");
	status = -1;
	waitpid(pid, &status, 0);
	is_int(status, 0, "17.8 the client read it to the close");

	/* STDOUT records of at most 65535 bytes, the empty one, then
	 * END_REQUEST (complete, status 0), all of request 7. */
	snprintf((char *)reply, sizeof(reply), "%s/fcgi.reply", var);
	n = 0;
	if ((fp = fopen((char *)reply, "r")) != NULL) {
		n = fread(reply, 1, sizeof(reply), fp);
		fclose(fp);
	}
	for (i = 0; i + 8 <= n && !ended; i += 8 + len + reply[i + 6]) {
		len = (size_t)reply[i + 4] << 8 | reply[i + 5];
		sized &= reply[i] == 1 && reply[i + 2] == 0 &&
		    reply[i + 3] == 7 && i + 8 + len <= n;
		if (!sized)
			break;
		if (reply[i + 1] == 6 && len > 0 && o + len <= sizeof(out)) {
			memcpy(out + o, reply + i + 8, len);
			o += len;
			records++;
		} else if (reply[i + 1] == 3 && len == 8)
			ended = memcmp(reply + i + 8, "\0\0\0\0\0\0\0\0",
			    8) == 0 && i + 16 == n;
	}
	ok(sized && records == 4, "17.9 four STDOUT records of request 7 "
	    "(%d)", records);
	ok(o == sizeof(big) && memcmp(out, big, o) == 0,
	    "17.10 carrying the bytes written, in order");
	ok(ended, "17.11 then END_REQUEST, complete, and the close");
	is_int((int)fcgi_accept(&f, lfd), 0,
	    "17.12 nothing queued: fcgi_accept 0 at once");
	fcgi_free(&f);
	close(lfd);
}

/* "[0,1,...,n-1]". Caller frees. */
static char *
counting_array(int n, size_t *len)
{
	char	*s = malloc((size_t)n * 8 + 3);
	size_t	 at = 0;
	int	 i;

	if (s == NULL)
		return NULL;
	s[at++] = '[';
	for (i = 0; i < n; i++)
		at += (size_t)sprintf(s + at, i > 0 ? ",%d" : "%d", i);
	s[at++] = ']';
	s[at] = '\0';
	*len = at;
	return s;
}

/*
 * The object {"a": n letters x, "b": [1,2,3], "c": "tail"} as JSON
 * text, its length in *len. Caller frees.
 */
static char *
long_string_object(size_t n, size_t *len)
{
	char	*s = malloc(n + 64);

	if (s == NULL)
		return NULL;
	memcpy(s, "{\"a\":\"", 6);
	memset(s + 6, 'x', n);
	strcpy(s + 6 + n, "\",\"b\":[1,2,3],\"c\":\"tail\"}");
	*len = strlen(s);
	return s;
}

static void
test_arena(void)
{
	static const char wrong_type[] = "{\"system\":{},\"memory\":{},"
	    "\"cpu\":{\"idle_percent\":\"x\"}}";
	struct snapshot	 s;
	struct arena	 a = { NULL };
	json_t		*root, *disks, *held, *outside, *v;
	const char	*code;
	char		 field[128], *text, *big, *body = NULL;
	size_t		 len = 0;
	long		 n;
	void		*first, *decoy;
	FILE		*f;

	if ((f = fopen("tests/fixtures/snapshot-debian12-vm.json", "rb")) !=
	    NULL) {
		body = malloc(1 << 20);
		len = body != NULL ? fread(body, 1, 1 << 20, f) : 0;
		fclose(f);
	}
	ok(body != NULL && snapshot_parse(&s, body, len, &code, field,
	    sizeof(field)) && strcmp(snap_str(snap_obj(s.root, "system"),
	    "hostname"), "vm") == 0 && snap_num(snap_obj(s.root, "cpu"),
	    "idle_percent") == 51.5 && s.arena.chunks != NULL,
	    "19.1 the fixture's tree is built in the snapshot's arena");
	/* Another tree may hold a value while it is alive. */
	disks = snap_arr(s.root, "disks");
	held = json_pack("{s:O}", "disks", disks);
	json_decref(held);
	ok(json_array_size(snap_arr(s.root, "disks")) > 0 &&
	    disks->refcount == 1, "19.2 a value held and let go by another "
	    "tree is intact");
	first = s.root;
	snapshot_free(&s);
	ok(s.root == NULL && s.arena.chunks == NULL,
	    "19.3 snapshot_free empties the arena");
	/* Had the chunk (64 KiB and a header) gone back to malloc, this
	 * would take it. */
	decoy = malloc(64 * 1024 + 32);
	ok(snapshot_parse(&s, body, len, &code, field, sizeof(field)) &&
	    (void *)s.root == first, "19.4 the next tree reuses the freed "
	    "chunk, kept aside");
	snapshot_free(&s);
	free(decoy);

	/* 200 000 values: many chunks, and a 2 MiB table of its own. */
	text = counting_array(200000, &len);
	arena_enter(&a);
	root = text != NULL ? jsonread_parse(text, len, NULL) : NULL;
	arena_leave();
	n = json_array_size(root) == 200000 ? (long)json_integer_value(
	    json_array_get(root, 199999)) : -1;
	ok(n == 199999 && json_integer_value(json_array_get(root, 100000)) ==
	    100000, "19.5 a tree larger than a chunk reads back whole");
	arena_free(&a);

	/*
	 * A string larger than the chunk that would come next gets one of
	 * its own, and what follows it still fits where it is put
	 * (make sanitize sees any byte written out of bounds).
	 */
	big = long_string_object(200000, &len);
	arena_enter(&a);
	root = big != NULL ? jsonread_parse(big, len, NULL) : NULL;
	arena_leave();
	v = json_object_get(root, "a");
	ok(json_string_length(v) == 200000 && strspn(json_string_value(v),
	    "x") == 200000 && json_integer_value(json_array_get(
	    json_object_get(root, "b"), 2)) == 3 && strcmp(json_string_value(
	    json_object_get(root, "c")), "tail") == 0,
	    "19.6 a 200 000-byte string and the values after it read back");
	arena_free(&a);
	free(big);

	/* A parse error tears down what it built, inside the arena. */
	if (text != NULL)
		text[len - 1] = ',';
	arena_enter(&a);
	root = text != NULL ? jsonread_parse(text, len, NULL) : (json_t *)1;
	arena_leave();
	arena_free(&a);
	outside = json_pack("{s:[i,i]}", "a", 1, 2);
	ok(root == NULL && outside != NULL && json_array_size(
	    json_object_get(outside, "a")) == 2,
	    "19.7 a refused parse leaves nothing; jansson outside an arena "
	    "is unchanged");
	json_decref(outside);
	ok(!snapshot_parse(&s, wrong_type, strlen(wrong_type), &code, field,
	    sizeof(field)) && s.root == NULL && s.arena.chunks == NULL &&
	    strcmp(code, "invalid_snapshot") == 0 &&
	    strcmp(field, "cpu.idle_percent") == 0,
	    "19.8 a refused snapshot leaves its arena empty");
	free(text);
	free(body);
}

int
main(void)
{
	static const char *const made[] = { "pepper", "kiln.db",
	    "kiln.db-wal", "kiln.db-shm", "rate.db", "rate.db-wal",
	    "rate.db-shm", "rate.shm", "unit-rate.shm", "unit-bad.shm",
	    "kiln.db-writers", "fcgi.sock", "fcgi.reply" };
	char	 var[] = "/tmp/kiln-unit.XXXXXX", path[64];

	/* cfg reads each key once: the environment comes first. */
	if (mkdtemp(var) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	setenv("KILN_VAR_DIR", var, 1);
	setenv("KILN_KEY_PEPPER", PEPPER, 1);
	setenv("KILN_BASE_URL", BASE_URL, 1);
	unsetenv("KILN_FAKE_NOW");
	unsetenv("KILN_CONFIG");
	/* 14.6 waits for it. */
	setenv("KILN_BUSY_TIMEOUT_MS", "1000", 1);

	test_ids();
	test_seal();
	test_hash();
	test_iso();
	test_cursor();
	test_valid();
	test_rules();
	test_reply();
	test_query();
	test_db();
	test_billing();
	test_rate(var);
	test_jsonread();
	test_arena();
	test_writers(var);
	test_group_commit(var);
	test_migration_hour();
	test_fcgi(var);
	test_wal_trim(var);

	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", var, made[i]);
		unlink(path);
	}
	rmdir(var);
	return done_testing();
}
