/*
 * meta: /api/v1/version, /api/v1/healthz, and the answer for every
 * /api/v1 path no other binary claims (404), or error lighttpd raised
 * itself (its error handler comes here).
 */
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

static const char latest_sql[] =
    "SELECT value FROM setting WHERE name = 'crucible_latest'";

/*
 * The latest agent version from the last good poll (cron version-poll),
 * else the configured crucible_latest, else null.
 */
static void
version(struct req *r)
{
	sqlite3_stmt	*st = db_prep(db_main(), latest_sql);
	json_t		*latest = NULL;
	const char	*conf = cfg_get("crucible_latest");

	if (st != NULL && db_step(st) == SQLITE_ROW)
		latest = json_string(db_text(st, 0));
	if (latest == NULL)
		latest = *conf != '\0' ? json_string(conf) : json_null();
	reply_json(r, 200, json_pack("{s:{s:o, s:s, s:s}, s:{s:s}}",
	    "crucible",
	    "latest", latest,
	    "min_supported", cfg_get("crucible_min_supported"),
	    "changelog_url", cfg_get("crucible_changelog_url"),
	    "dashboard", "version", KILN_VERSION));
}

static const char ping_sql[] = "SELECT count(*) FROM setting";

static void
healthz(struct req *r)
{
	sqlite3_stmt	*st = db_prep(db_main(), ping_sql);

	if (st == NULL || db_step(st) != SQLITE_ROW) {
		reply_err(r, 503, "unhealthy", "The database does not answer.");
		return;
	}
	reply_json(r, 200, json_pack("{s:s, s:s}", "status", "ok",
	    "version", KILN_VERSION));
}

/* lighttpd's error handler: answers the error it raised, with 1. */
static int
server_error(struct req *r)
{
	int	 status = req_server_error(r);

	if (status == 0)
		return 0;
	switch (status) {
	case 404:
		reply_err(r, 404, "not_found", "No such endpoint.");
		break;
	case 411:
		reply_err(r, 411, "length_required",
		    "Send a Content-Length with the body.");
		break;
	case 413:
		reply_err(r, 413, "payload_too_large",
		    "The request body is too large.");
		break;
	case 431:
		reply_err(r, 431, "headers_too_large",
		    "The request headers are too large.");
		break;
	case 502:
	case 503:
	case 504:
		reply_err(r, 503, "unavailable",
		    "The service is briefly unavailable; try again.");
		break;
	default:
		reply_err(r, status, status < 500 ? "bad_request" :
		    "internal_error", "The web server refused the request "
		    "(HTTP %d).", status);
	}
	return 1;
}

static void
dispatch(struct req *r)
{
	int	 is_get = strcmp(r->method, "GET") == 0 ||
	    strcmp(r->method, "HEAD") == 0;

	if (server_error(r))
		return;
	if (req_path_is(r, 1, "version")) {
		if (is_get)
			version(r);
		else
			reply_method_not_allowed(r, "GET");
	} else if (req_path_is(r, 1, "healthz")) {
		if (is_get)
			healthz(r);
		else
			reply_method_not_allowed(r, "GET");
	} else
		reply_err(r, 404, "not_found", "No such endpoint.");
}

int
main(void)
{
	static const struct route rt = {
		.name = "meta",
		.dispatch = dispatch,
	};

	return req_run(&rt);
}
