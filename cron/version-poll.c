/*
 * version-poll (every 6 hours): asks the npm registry for the dist-tags
 * of @glassmkr/crucible (npm_registry_url) and keeps "latest" in the
 * setting crucible_latest, which GET /version serves (SPEC 11, 12).
 * Anything short of a 200 whose JSON has "latest" in strict x.y.z keeps
 * the last good value and fails the run: non-zero, the cause on stderr.
 * Says on stdout when the version changed.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cfg.h"
#include "cron.h"
#include "db.h"
#include "kiln.h"
#include "log.h"
#include "outbound.h"

#define BODY_MAX		(64 * 1024)	/* dist-tags are ~100 bytes */
#define CONNECT_TIMEOUT_S	5
#define TIMEOUT_MAX_S		15
#define PART_DIGITS_MAX		9	/* each of x, y, z */

/* The response body as it arrives. */
struct body {
	char	 buf[BODY_MAX + 1];
	size_t	 len;
	int	 too_big;	/* refused past BODY_MAX */
};

static const char get_sql[] =
    "SELECT value FROM setting WHERE name = 'crucible_latest'";
static const char set_sql[] =
    "INSERT INTO setting (name, value, updated_at) "
    "VALUES ('crucible_latest', ?1, ?2) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
    " updated_at = excluded.updated_at";

/* curl's write callback: keeps at most BODY_MAX bytes (0 aborts). */
static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct body	*b = arg;
	size_t		 len = size * n;

	if (len > BODY_MAX - b->len) {
		b->too_big = 1;
		return 0;
	}
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	return len;
}

/*
 * 1 for strict x.y.z: three numbers of 1 to PART_DIGITS_MAX digits
 * without leading zeros (SemVer 2.0), and nothing else (no pre-release
 * or build suffix: agents compare plain versions).
 */
static int
strict_semver(const char *s)
{
	size_t	 n;
	int	 part;

	for (part = 0; part < 3; part++) {
		n = strspn(s, "0123456789");
		if (n == 0 || n > PART_DIGITS_MAX || (n > 1 && *s == '0'))
			return 0;
		s += n;
		if (part < 2 && *s++ != '.')
			return 0;
	}
	return *s == '\0';
}

/* GETs url into b with hard timeouts. Returns 1 on a 200, or 0 (logged). */
static int
fetch(const char *url, struct body *b)
{
	CURL			*c;
	struct curl_slist	*headers;
	char			 err[CURL_ERROR_SIZE] = "";
	long			 status = 0, timeout;
	CURLcode		 rc;

	timeout = (long)cfg_int("npm_timeout_seconds");
	if (timeout < 1 || timeout > TIMEOUT_MAX_S) {
		kiln_log(LOG_WARNING, "npm_timeout_seconds = %ld: out of "
		    "range, using %d", timeout, TIMEOUT_MAX_S);
		timeout = TIMEOUT_MAX_S;
	}
	/* The registry is the operator's choice: no SSRF guard. */
	if ((c = outbound_handle(timeout < CONNECT_TIMEOUT_S ? timeout :
	    (long)CONNECT_TIMEOUT_S, timeout, "http,https")) == NULL)
		return 0;
	headers = curl_slist_append(NULL, "Accept: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	if (b->too_big) {
		kiln_log(LOG_ERR, "%s: the answer exceeds %d bytes", url,
		    BODY_MAX);
		return 0;
	}
	if (rc != CURLE_OK) {
		kiln_log(LOG_ERR, "%s: %s", url, *err != '\0' ? err :
		    curl_easy_strerror(rc));
		return 0;
	}
	if (status != 200) {
		kiln_log(LOG_ERR, "%s: HTTP %ld", url, status);
		return 0;
	}
	b->buf[b->len] = '\0';
	return 1;
}

/* The stored version into out[64], "" when none. Returns 1, or 0. */
static int
stored(char out[64])
{
	sqlite3_stmt	*st = db_prep(db_main(), get_sql);
	int		 rc;

	*out = '\0';
	if ((rc = db_step(st)) == SQLITE_ROW)
		snprintf(out, 64, "%s", db_text(st, 0));
	if (st != NULL)
		sqlite3_reset(st);
	return rc != 0;
}

static int
pass(int64_t now)
{
	static struct body	 b;	/* 64 KiB: not on the stack */
	const char		*url = cfg_get("npm_registry_url"), *v;
	sqlite3_stmt		*st;
	json_error_t		 jerr;
	json_t			*root = NULL, *latest;
	char			 before[64];
	int			 ok = 0;

	if (!fetch(url, &b))
		return 0;
	root = json_loadb(b.buf, b.len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		kiln_log(LOG_ERR, "%s: not a JSON object (%s)", url,
		    root == NULL ? jerr.text : "another JSON value");
		goto out;
	}
	latest = json_object_get(root, "latest");
	if (!json_is_string(latest)) {
		kiln_log(LOG_ERR, "%s: no \"latest\" string", url);
		goto out;
	}
	v = json_string_value(latest);
	if (!strict_semver(v)) {
		/* %.40s: whatever it is, the log line stays short. */
		kiln_log(LOG_ERR, "%s: latest \"%.40s\" is not strict x.y.z",
		    url, v);
		goto out;
	}
	if (!stored(before) || (st = db_prep(db_main(), set_sql)) == NULL)
		goto out;
	sqlite3_bind_text(st, 1, v, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if (!db_run(st))
		goto out;
	if (strcmp(before, v) != 0)
		printf("version-poll: crucible latest %s -> %s\n",
		    *before != '\0' ? before : "(none)", v);
	ok = 1;
out:
	json_decref(root);
	return ok;
}

int
main(void)
{
	int	 rc;

	rc = cron_run("version-poll", pass);
	outbound_close();
	return rc;
}
