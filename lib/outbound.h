/*
 * outbound: the SSRF guard of every outbound HTTP request (SPEC 9).
 * A URL must be https (http only with allow_http = yes), and every
 * address its host resolves to must be a public one (unless
 * allow_private_targets = yes): not loopback, private (RFC 1918,
 * fc00::/7), link-local (169.254/16 with the cloud metadata address,
 * fe80::/10), CGNAT (100.64/10), 0/8, multicast or otherwise reserved.
 * The address checked is then pinned for libcurl (CURLOPT_RESOLVE), so
 * the name can't resolve to something else between check and connect.
 */
#ifndef KILN_OUTBOUND_H
#define KILN_OUTBOUND_H

#include <stddef.h>
#include <sys/socket.h>

#include <curl/curl.h>

#define OUTBOUND_URL_MAX	2048	/* longest URL a channel may name */
#define OUTBOUND_ERR_MAX	256

/* A checked destination. */
struct outbound_target {
	char	 resolve[800];	/* "host:port:addr[,addr]", "" for literals */
	char	 addr[64];	/* the first address, for messages */
};

/*
 * 1 when Kiln refuses to connect to the address sa (whatever the
 * configuration), setting *why to a static description ("loopback",
 * "private", "link-local", "cloud metadata", ...); 0 when it is public.
 */
int	outbound_refused(const struct sockaddr *sa, const char **why);

/*
 * Checks url, without DNS, as a channel's configuration may name it:
 * length, syntax, scheme, a host, and no refused IP literal. Returns 1,
 * or 0 with the reason in err[errlen].
 */
int	outbound_url_valid(const char *url, char *err, size_t errlen);

/*
 * Checks url for a request now: outbound_url_valid, then resolves the
 * host and checks every address. Returns 1 and fills *t, or 0 with the
 * reason in err[errlen] (nothing was sent).
 */
int	outbound_check(const char *url, struct outbound_target *t, char *err,
	    size_t errlen);

/*
 * The process's one curl handle, reset for a transfer: no redirects, no
 * proxy from the environment (http_proxy would carry secrets elsewhere
 * and bypass the address check), only the given protocols ("https",
 * "http,https", "smtp,smtps"), connect and total timeouts in seconds,
 * the user agent "Kiln/<version>", no signals. Options the caller sets
 * last until the next call. Borrowed: outbound_close() frees it. NULL
 * (logged) when libcurl fails to start.
 */
CURL	*outbound_handle(long connect_s, long total_s, const char *protocols);

/* Frees the handle and libcurl's global state, if any. */
void	 outbound_close(void);

#endif
