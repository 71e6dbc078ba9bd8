/*
 * outbound: the SSRF guard, tested directly. The address blocks come
 * from the IANA special-purpose registries (RFC 6890 and its updates),
 * not from the code under test. No test needs a network: names are
 * "localhost" (from /etc/hosts) or IP literals; the handle talks to a
 * stub server forked on a loopback port.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"
#include "outbound.h"
#include "tap.h"

/* One address and the verdict: NULL public, else the expected reason. */
static const struct {
	const char	*addr;
	const char	*why;
} cases[] = {
	{ "0.0.0.0", "this network" },
	{ "0.255.255.255", "this network" },
	{ "10.0.0.1", "private" },
	{ "10.255.255.255", "private" },
	{ "11.0.0.1", NULL },
	{ "100.63.255.255", NULL },
	{ "100.64.0.0", "carrier-grade NAT" },
	{ "100.127.255.255", "carrier-grade NAT" },
	{ "100.128.0.0", NULL },
	{ "127.0.0.1", "loopback" },
	{ "127.255.0.9", "loopback" },
	{ "169.254.0.1", "link-local" },
	{ "169.254.169.254", "cloud metadata" },
	{ "172.15.255.255", NULL },
	{ "172.16.0.1", "private" },
	{ "172.31.255.255", "private" },
	{ "172.32.0.0", NULL },
	{ "192.0.2.10", "documentation" },
	{ "192.168.1.1", "private" },
	{ "192.169.0.1", NULL },
	{ "198.18.0.1", "benchmarking" },
	{ "198.19.255.255", "benchmarking" },
	{ "198.20.0.1", NULL },
	{ "224.0.0.1", "multicast" },
	{ "239.255.255.250", "multicast" },
	{ "240.0.0.1", "reserved" },
	{ "255.255.255.255", "reserved" },
	{ "1.1.1.1", NULL },
	{ "8.8.8.8", NULL },
	{ "93.184.216.34", NULL },
	{ "::", "unspecified" },
	{ "::1", "loopback" },
	{ "::ffff:127.0.0.1", "loopback" },
	{ "::ffff:10.1.2.3", "private" },
	{ "::ffff:169.254.169.254", "cloud metadata" },
	{ "::ffff:8.8.8.8", NULL },
	{ "::127.0.0.1", "reserved" },
	{ "64:ff9b::a9fe:a9fe", "cloud metadata" },
	{ "64:ff9b::808:808", NULL },
	{ "2002:7f00:1::", "loopback" },
	{ "2002:0808:0808::1", NULL },
	{ "2001:db8::1", "documentation" },
	{ "fc00::1", "private" },
	{ "fd00:ec2::254", "private" },
	{ "fe80::1", "link-local" },
	{ "febf::1", "link-local" },
	{ "fec0::1", "private" },
	{ "ff02::1", "multicast" },
	{ "2606:4700:4700::1111", NULL },
	{ "2a00:1450:4001:82a::200e", NULL },
};

static void
test_addresses(void)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)(void *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)(void *)&ss;
	const char		*why;
	size_t			 i;
	int			 refused;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, cases[i].addr, &s4->sin_addr) == 1)
			s4->sin_family = AF_INET;
		else if (inet_pton(AF_INET6, cases[i].addr,
		    &s6->sin6_addr) == 1)
			s6->sin6_family = AF_INET6;
		refused = outbound_refused((struct sockaddr *)&ss, &why);
		if (cases[i].why == NULL)
			ok(!refused, "1.%zu %s is public", i, cases[i].addr);
		else if (!ok(refused && strcmp(why, cases[i].why) == 0,
		    "1.%zu %s is refused: %s", i, cases[i].addr, cases[i].why))
			fprintf(stderr, "#   got %s\n",
			    refused ? why : "public");
	}
}

static void
test_urls(void)
{
	char	 err[OUTBOUND_ERR_MAX], big[OUTBOUND_URL_MAX + 40];

	ok(outbound_url_valid("https://hooks.slack.com/services/T/B/x", err,
	    sizeof(err)), "2.1 an https URL");
	ok(outbound_url_valid("http://example.com/x", err, sizeof(err)),
	    "2.2 http with allow_http");
	ok(!outbound_url_valid("ftp://example.com/x", err, sizeof(err)) &&
	    strstr(err, "https") != NULL, "2.3 ftp refused, saying https");
	ok(!outbound_url_valid("example.com/x", err, sizeof(err)),
	    "2.4 no scheme");
	ok(!outbound_url_valid("https:///x", err, sizeof(err)), "2.5 no host");
	ok(!outbound_url_valid("https://exa mple.com/", err, sizeof(err)),
	    "2.6 a space");
	ok(!outbound_url_valid("https://example.com/\xe2\x80\xa6", err,
	    sizeof(err)), "2.7 raw UTF-8");
	ok(!outbound_url_valid("https://127.0.0.1/", err, sizeof(err)) &&
	    strstr(err, "loopback") != NULL, "2.8 a loopback literal");
	ok(!outbound_url_valid("https://[::1]:8443/", err, sizeof(err)),
	    "2.9 an IPv6 loopback literal");
	ok(!outbound_url_valid("https://[fe80::1]/", err, sizeof(err)),
	    "2.10 an IPv6 link-local literal");
	ok(outbound_url_valid("https://localhost/", err, sizeof(err)),
	    "2.11 a name is judged when sent, not before");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "https://a.com/", 14);
	ok(!outbound_url_valid(big, err, sizeof(err)), "2.12 too long");
}

static void
test_check(void)
{
	struct outbound_target	 t;
	char			 err[OUTBOUND_ERR_MAX];

	ok(!outbound_check("http://localhost:9/x", &t, err, sizeof(err)) &&
	    strstr(err, "refused: localhost resolves to") == err &&
	    strstr(err, "loopback") != NULL, "3.1 localhost is refused");
	ok(!outbound_check("http://127.1/x", &t, err, sizeof(err)),
	    "3.2 127.1 (inet_aton shorthand) is refused");
	ok(!outbound_check("http://2130706433/x", &t, err, sizeof(err)),
	    "3.3 2130706433 (127.0.0.1 as a number) is refused");
	ok(!outbound_check("http://0x7f.0.0.1/x", &t, err, sizeof(err)),
	    "3.4 0x7f.0.0.1 is refused");
	ok(outbound_check("http://93.184.216.34:8080/x", &t, err,
	    sizeof(err)), "3.5 a public literal passes");
	is_str(t.resolve, "", "3.6 a literal is not pinned");
	is_str(t.addr, "93.184.216.34", "3.7 the address");
	ok(!outbound_check("http://no-such-host.invalid/", &t, err,
	    sizeof(err)) && strstr(err, "cannot resolve") != NULL,
	    "3.8 a name that does not resolve");
}

/* A loopback port nothing listens on: bound, noted, closed. */
static int
dead_port(void)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	int			 fd, port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		return 9;
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/*
 * A stub HTTP server on a loopback port (in *port): answers each of n
 * connections with a 302 to another port, and writes the request line
 * and User-Agent of each to the pipe fd out. Returns its pid, or -1.
 */
static pid_t
stub(int n, int *port, int out)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	char			 req[4096], *ua, *eol;
	ssize_t			 got;
	pid_t			 pid;
	int			 fd, c, i;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		return -1;
	*port = ntohs(sin.sin_port);
	if ((pid = fork()) != 0) {
		close(fd);
		return pid;
	}
	for (i = 0; i < n && (c = accept(fd, NULL, NULL)) >= 0; i++) {
		got = read(c, req, sizeof(req) - 1);
		req[got > 0 ? got : 0] = '\0';
		if ((eol = strstr(req, "\r\n")) != NULL)
			dprintf(out, "%.*s\n", (int)(eol - req), req);
		if ((ua = strstr(req, "User-Agent: ")) != NULL &&
		    (eol = strstr(ua, "\r\n")) != NULL)
			dprintf(out, "%.*s\n", (int)(eol - ua), ua);
		dprintf(c, "HTTP/1.1 302 Found\r\nLocation: "
		    "http://127.0.0.1:%d/elsewhere\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n", dead_port());
		close(c);
	}
	_exit(0);
}

static void
test_handle(void)
{
	CURL	*c;
	char	 url[64], proxy[64], seen[512];
	long	 status = 0;
	ssize_t	 n;
	pid_t	 pid;
	int	 port, fds[2], rc;

	/* A proxy that would refuse the connection, were it used. */
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", dead_port());
	setenv("http_proxy", proxy, 1);
	setenv("https_proxy", proxy, 1);
	setenv("HTTPS_PROXY", proxy, 1);
	setenv("ALL_PROXY", proxy, 1);
	setenv("all_proxy", proxy, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	if (pipe(fds) != 0 || (pid = stub(1, &port, fds[1])) < 0) {
		ok(0, "4.1 the stub server starts");
		return;
	}
	close(fds[1]);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/path", port);
	c = outbound_handle(2, 5, "http,https");
	ok(c != NULL, "4.1 a handle");
	if (c == NULL)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, url);
	rc = curl_easy_perform(c);
	if (!is_int(rc, CURLE_OK, "4.2 the request ignores http_proxy"))
		fprintf(stderr, "#   %s\n", curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	is_int(status, 302, "4.3 a redirect is not followed");
	/* The stub wrote before answering; gone, it can't block the read. */
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	pid = -1;
	n = read(fds[0], seen, sizeof(seen) - 1);
	seen[n > 0 ? n : 0] = '\0';
	is_str(seen, "GET /path HTTP/1.1\nUser-Agent: Kiln/" KILN_VERSION
	    "\n", "4.4 the stub saw the request, with Kiln's user agent");
	c = outbound_handle(2, 5, "https");
	curl_easy_setopt(c, CURLOPT_URL, url);
	is_int(curl_easy_perform(c), CURLE_UNSUPPORTED_PROTOCOL,
	    "4.5 the reused handle takes the new protocols");
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	close(fds[0]);
	outbound_close();
}

int
main(void)
{
	/* cfg reads each key once: the environment comes first. */
	setenv("KILN_ALLOW_HTTP", "yes", 1);
	setenv("KILN_ALLOW_PRIVATE_TARGETS", "no", 1);
	unsetenv("KILN_CONFIG");
	test_addresses();
	test_urls();
	test_check();
	test_handle();
	return done_testing();
}
