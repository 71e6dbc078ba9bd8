/*
 * outbound: which addresses Kiln may call, and the pinned resolution.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "cfg.h"
#include "kiln.h"
#include "log.h"
#include "outbound.h"

static CURL	*easy;		/* outbound_handle(), kept for the process */

/* One IPv4 block that is not the public Internet. */
static const struct v4_block {
	uint32_t	 net;
	int		 bits;
	const char	*why;
} v4_blocks[] = {
	{ 0xa9fea9fe, 32, "cloud metadata" },	/* 169.254.169.254 */
	{ 0x00000000, 8, "this network" },	/* 0/8 */
	{ 0x0a000000, 8, "private" },		/* 10/8 */
	{ 0x64400000, 10, "carrier-grade NAT" },	/* 100.64/10 */
	{ 0x7f000000, 8, "loopback" },		/* 127/8 */
	{ 0xa9fe0000, 16, "link-local" },	/* 169.254/16 */
	{ 0xac100000, 12, "private" },		/* 172.16/12 */
	{ 0xc0000000, 24, "reserved" },		/* 192.0.0/24 */
	{ 0xc0000200, 24, "documentation" },	/* 192.0.2/24 */
	{ 0xc0a80000, 16, "private" },		/* 192.168/16 */
	{ 0xc6120000, 15, "benchmarking" },	/* 198.18/15 */
	{ 0xc6336400, 24, "documentation" },	/* 198.51.100/24 */
	{ 0xcb007100, 24, "documentation" },	/* 203.0.113/24 */
	{ 0xe0000000, 4, "multicast" },		/* 224/4 */
	{ 0xf0000000, 4, "reserved" },		/* 240/4, broadcast */
};

/* One IPv6 block; v4_at >= 0: judge the IPv4 address embedded there. */
static const struct v6_block {
	unsigned char	 net[16];
	int		 bits;
	int		 v4_at;
	const char	*why;
} v6_blocks[] = {
	{ { 0 }, 128, -1, "unspecified" },
	{ { [15] = 1 }, 128, -1, "loopback" },
	{ { [10] = 0xff, [11] = 0xff }, 96, 12, NULL },	/* ::ffff:a.b.c.d */
	{ { 0 }, 96, -1, "reserved" },			/* ::a.b.c.d */
	{ { 0, 0x64, 0xff, 0x9b }, 96, 12, NULL },	/* NAT64 */
	{ { 0, 0x64, 0xff, 0x9b, 0, 1 }, 48, -1, "private" },
	{ { 0x01 }, 64, -1, "reserved" },		/* 100::/64 */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, -1, "documentation" },
	{ { 0x20, 0x01 }, 32, -1, "reserved" },		/* Teredo */
	{ { 0x20, 0x02 }, 16, 2, NULL },		/* 6to4 */
	{ { 0xfc }, 7, -1, "private" },			/* unique local */
	{ { 0xfe, 0x80 }, 10, -1, "link-local" },
	{ { 0xfe, 0xc0 }, 10, -1, "private" },		/* site-local */
	{ { 0xff }, 8, -1, "multicast" },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
v4_refused(uint32_t a, const char **why)
{
	size_t	 i;

	for (i = 0; i < NELEM(v4_blocks); i++) {
		uint32_t mask = v4_blocks[i].bits == 32 ? 0xffffffff :
		    ~(0xffffffffu >> v4_blocks[i].bits);

		if ((a & mask) == v4_blocks[i].net) {
			*why = v4_blocks[i].why;
			return 1;
		}
	}
	return 0;
}

static int
v6_match(const unsigned char *a, const struct v6_block *b)
{
	int	 whole = b->bits / 8, rest = b->bits % 8;

	if (memcmp(a, b->net, whole) != 0)
		return 0;
	return rest == 0 ||
	    ((a[whole] ^ b->net[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int
outbound_refused(const struct sockaddr *sa, const char **why)
{
	const unsigned char	*a;
	size_t			 i;
	uint32_t		 v4;

	*why = "not an IP address";
	if (sa->sa_family == AF_INET)
		return v4_refused(ntohl(((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr.s_addr), why);
	if (sa->sa_family != AF_INET6)
		return 1;
	a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	for (i = 0; i < NELEM(v6_blocks); i++) {
		if (!v6_match(a, &v6_blocks[i]))
			continue;
		if (v6_blocks[i].v4_at < 0) {
			*why = v6_blocks[i].why;
			return 1;
		}
		/* An IPv4 address in IPv6 clothes is judged as itself. */
		memcpy(&v4, a + v6_blocks[i].v4_at, 4);
		return v4_refused(ntohl(v4), why);
	}
	return 0;
}

/* The URL's scheme, host (no brackets) and port, or 0 with err. */
struct parsed {
	char	 scheme[8];
	char	 host[256];
	char	 port[8];
};

static int
parse(const char *url, struct parsed *p, char *err, size_t errlen)
{
	CURLU		*u;
	char		*scheme = NULL, *host = NULL, *port = NULL;
	const char	*rest;
	size_t		 n;
	int		 ok = 0;

	if (strlen(url) > OUTBOUND_URL_MAX) {
		snprintf(err, errlen, "the URL is longer than %d characters",
		    OUTBOUND_URL_MAX);
		return 0;
	}
	/* A URI is printable ASCII; anything else must be %-encoded. */
	for (n = 0; url[n] != '\0'; n++)
		if ((unsigned char)url[n] <= 0x20 ||
		    (unsigned char)url[n] >= 0x7f) {
			snprintf(err, errlen, "the URL may hold only printable "
			    "ASCII (percent-encode the rest)");
			return 0;
		}
	/* libcurl reads "https:///x" as host x; a URL must say its host. */
	if ((rest = strstr(url, "://")) == NULL ||
	    strchr("/?#", rest[3]) != NULL) {
		snprintf(err, errlen, "not a valid absolute URL");
		return 0;
	}
	if ((u = curl_url()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK) {
		snprintf(err, errlen, "not a valid absolute URL");
		goto out;
	}
	if (strcasecmp(scheme, "https") != 0 &&
	    (strcasecmp(scheme, "http") != 0 || !cfg_bool("allow_http"))) {
		snprintf(err, errlen, "the URL must start with https://");
		goto out;
	}
	n = strlen(host);
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	if (*host == '\0' || strlen(host) >= sizeof(p->host) ||
	    strlen(port) >= sizeof(p->port)) {
		snprintf(err, errlen, "the URL's host is not valid");
		goto out;
	}
	snprintf(p->scheme, sizeof(p->scheme), "%s", scheme);
	snprintf(p->host, sizeof(p->host), "%s", host);
	snprintf(p->port, sizeof(p->port), "%s", port);
	ok = 1;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ok;
}

/* The host as a numeric address into *ss, if it is one. */
static int
numeric(const char *host, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return 1;
	}
	return 0;
}

int
outbound_url_valid(const char *url, char *err, size_t errlen)
{
	struct parsed		 p;
	struct sockaddr_storage	 ss;
	const char		*why;

	if (!parse(url, &p, err, errlen))
		return 0;
	if (!cfg_bool("allow_private_targets") && numeric(p.host, &ss) &&
	    outbound_refused((struct sockaddr *)&ss, &why)) {
		snprintf(err, errlen, "the URL points to a %s address", why);
		return 0;
	}
	return 1;
}

int
outbound_check(const char *url, struct outbound_target *t, char *err,
    size_t errlen)
{
	struct addrinfo		 hints, *res = NULL, *ai;
	struct parsed		 p;
	struct sockaddr_storage	 ss;
	const char		*why;
	char			 addr[64], list[512];
	size_t			 n;
	int			 rc, allow = cfg_bool("allow_private_targets");

	memset(t, 0, sizeof(*t));
	if (!parse(url, &p, err, errlen))
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(p.host, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", p.host,
		    gai_strerror(rc));
		return 0;
	}
	/*
	 * One refused address refuses the name: it may be the one used.
	 * Every address checked is pinned, so libcurl can still fall back
	 * from one to the next (IPv6 to IPv4) as it would have.
	 */
	list[0] = '\0';
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
		    NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		if (!allow && outbound_refused(ai->ai_addr, &why)) {
			snprintf(err, errlen, "refused: %s resolves to %s, "
			    "a %s address", p.host, addr, why);
			freeaddrinfo(res);
			return 0;
		}
		if (t->addr[0] == '\0')
			snprintf(t->addr, sizeof(t->addr), "%s", addr);
		n = strlen(list);
		if (snprintf(list + n, sizeof(list) - n, "%s%s%s%s",
		    n > 0 ? "," : "", strchr(addr, ':') ? "[" : "", addr,
		    strchr(addr, ':') ? "]" : "") >= (int)(sizeof(list) - n))
			list[n] = '\0';	/* enough addresses */
	}
	freeaddrinfo(res);
	if (t->addr[0] == '\0') {
		snprintf(err, errlen, "cannot resolve %s", p.host);
		return 0;
	}
	/* A literal needs no pin: libcurl does not resolve it. */
	if (!numeric(p.host, &ss) && snprintf(t->resolve, sizeof(t->resolve),
	    "%s:%s:%s", p.host, p.port, list) >= (int)sizeof(t->resolve)) {
		snprintf(err, errlen, "the URL's host is too long");
		return 0;
	}
	return 1;
}

CURL *
outbound_handle(long connect_s, long total_s, const char *protocols)
{
	if (easy == NULL) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
		    (easy = curl_easy_init()) == NULL) {
			kiln_log(LOG_ERR, "curl_easy_init failed");
			return NULL;
		}
	} else
		curl_easy_reset(easy);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, connect_s);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, total_s);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* "" overrides http_proxy and friends; "*" any no_proxy as well. */
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "Kiln/" KILN_VERSION);
	return easy;
}

void
outbound_close(void)
{
	if (easy != NULL) {
		curl_easy_cleanup(easy);
		curl_global_cleanup();
		easy = NULL;
	}
}
