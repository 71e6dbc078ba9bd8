/*
 * health: /api/v1/servers/ID/health, /health/history, /health/alerts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "alert.h"
#include "health.h"

#define MAX_POINTS	1500	/* beyond: 400 too_many_points */
#define AUTO_POINTS	500	/* auto resolution aims at most at this */
#define ALERTS_PER_PAGE	50
#define MAX_PAGE	10000

static const char current_sql[] =
    "SELECT s.status, coalesce(s.last_seen_at, 0), coalesce(s.interval_s, 0),"
    " (SELECT CASE max(CASE a.severity WHEN 'critical' THEN 3"
    "   WHEN 'warning' THEN 2 ELSE 1 END)"
    "   WHEN 3 THEN 'critical' WHEN 2 THEN 'warning' WHEN 1 THEN 'info' END"
    "  FROM alert a WHERE a.server_id = s.id AND a.status = 'open'),"
    " (SELECT count(*) FROM alert a WHERE a.server_id = s.id"
    "  AND a.status = 'open'),"
    " m.cpu, m.ram, m.swap_mb, m.disk, m.rx_mbps, m.tx_mbps, m.temp "
    "FROM server s LEFT JOIN metric m ON m.server_id = s.id"
    " AND m.ts = s.last_seen_at WHERE s.id = ?1";

/* A metric column, rounded to one decimal, or null. */
static json_t *
num_or_null(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return json_real(round(sqlite3_column_double(st, i) * 10) / 10);
}

static void
health_current(struct req *r, const char *public_id, int64_t server)
{
	sqlite3_stmt	*st = db_prep(db_main(), current_sql);
	char		 seen[ISO_MAX];
	int64_t		 last;
	json_t		*current;

	if (st == NULL) {
		reply_err(r, 500, "internal_error", "Health failed.");
		return;
	}
	sqlite3_bind_int64(st, 1, server);
	if (db_step(st) != SQLITE_ROW) {
		reply_err(r, 500, "internal_error", "Health failed.");
		return;
	}
	last = sqlite3_column_int64(st, 1);
	current = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}",
	    "cpu_percent", num_or_null(st, 5),
	    "ram_percent", num_or_null(st, 6),
	    "swap_used_mb", num_or_null(st, 7),
	    "disk_max_percent", num_or_null(st, 8),
	    "network_rx_mbps", num_or_null(st, 9),
	    "network_tx_mbps", num_or_null(st, 10),
	    "cpu_temp_c", num_or_null(st, 11),
	    "active_alerts", (json_int_t)sqlite3_column_int64(st, 4));
	reply_json(r, 200, json_pack("{s:s, s:s, s:o, s:o}",
	    "server_id", public_id,
	    "status", health_status(db_text(st, 0), last,
	    sqlite3_column_double(st, 2),
	    sqlite3_column_type(st, 3) == SQLITE_NULL ? NULL : db_text(st, 3),
	    iso_now()),
	    "last_seen", last != 0 ? json_string(iso_format(seen, last)) :
	    json_null(),
	    "current", current));
}

/*
 * History: the narrow metric rows for 1m / 5m buckets (to inclusive, so
 * a snapshot of this very second shows), the hourly roll-ups for 1h / 1d
 * (hours starting before to). ?1 server, ?2 from, ?3 to, ?4 bucket seconds.
 */
#define RAW_SQL(col) \
    "SELECT (ts / ?4) * ?4 AS t, avg(" col "), min(" col "), max(" col ")" \
    " FROM metric WHERE server_id = ?1 AND ts >= ?2 AND ts <= ?3" \
    " AND " col " IS NOT NULL GROUP BY t ORDER BY t"
#define HOUR_SQL(m) \
    "SELECT (bucket / ?4) * ?4 AS t, sum(" m "_sum) / sum(" m "_n)," \
    " min(" m "_min), max(" m "_max) FROM metric_hour WHERE server_id = ?1" \
    " AND bucket >= ?2 AND bucket < ?3 AND " m "_n > 0 GROUP BY t ORDER BY t"

/* One line drawn by a metric; network draws two (rx, tx). */
static const struct series {
	const char	*metric;	/* the API's name */
	const char	*part;		/* NULL, or "rx" / "tx" */
	const char	*raw_sql;
	const char	*hour_sql;
} series[] = {
	{ "cpu", NULL, RAW_SQL("cpu"), HOUR_SQL("cpu") },
	{ "memory", NULL, RAW_SQL("ram"), HOUR_SQL("memory") },
	{ "disk", NULL, RAW_SQL("disk"), HOUR_SQL("disk") },
	{ "network", "rx", RAW_SQL("rx_mbps"), HOUR_SQL("rx") },
	{ "network", "tx", RAW_SQL("tx_mbps"), HOUR_SQL("tx") },
	{ "temperature", NULL, RAW_SQL("temp"), HOUR_SQL("temperature") },
};

static const struct resolution {
	const char	*name;
	int64_t		 secs;
} resolutions[] = {
	{ "1m", 60 }, { "5m", 300 }, { "1h", 3600 }, { "1d", 86400 },
};

#define NRES	(sizeof(resolutions) / sizeof(resolutions[0]))

static json_t *
bucket_json(sqlite3_stmt *st)
{
	return json_pack("{s:f, s:f, s:f}",
	    "avg", round(sqlite3_column_double(st, 1) * 100) / 100,
	    "min", round(sqlite3_column_double(st, 2) * 100) / 100,
	    "max", round(sqlite3_column_double(st, 3) * 100) / 100);
}

/*
 * Adds one series' buckets to points (sorted by time). A plain metric's
 * point is {t, avg, min, max}; a network part nests under "rx" / "tx",
 * merged by time with the other part.
 */
static int
add_series(json_t *points, const struct series *se, int64_t server,
    int64_t from, int64_t to, int64_t res)
{
	sqlite3_stmt	*st;
	size_t		 at = 0;
	char		 t[ISO_MAX];
	int		 rc;

	st = db_prep(db_main(), res >= 3600 ? se->hour_sql : se->raw_sql);
	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server);
	sqlite3_bind_int64(st, 2, res >= 3600 ? from - from % 3600 : from);
	sqlite3_bind_int64(st, 3, to);
	sqlite3_bind_int64(st, 4, res);
	while ((rc = db_next(st)) > 0) {
		json_t	*value = bucket_json(st), *p;

		iso_format(t, sqlite3_column_int64(st, 0));
		if (se->part == NULL) {
			json_object_set_new(value, "t", json_string(t));
			json_array_append_new(points, value);
			continue;
		}
		/* Find or insert this time among the other part's points. */
		while (at < json_array_size(points) &&
		    strcmp(json_string_value(json_object_get(
		    json_array_get(points, at), "t")), t) < 0)
			at++;
		p = json_array_get(points, at);
		if (p == NULL || strcmp(json_string_value(json_object_get(p,
		    "t")), t) != 0) {
			p = json_pack("{s:s}", "t", t);
			json_array_insert_new(points, at, p);
		}
		json_object_set_new(p, se->part, value);
	}
	sqlite3_reset(st);
	return rc == 0;
}

/* Reads an ISO time parameter. Returns 1 (default kept when absent). */
static int
time_param(struct req *r, const char *name, int64_t *out)
{
	const char	*v = req_query(r, name);
	int64_t		 ms;

	if (v == NULL || *v == '\0')
		return 1;
	if (!iso_parse_ms(v, &ms)) {
		valid_fail(r, name, "%s must be an ISO 8601 time with a zone.",
		    name);
		return 0;
	}
	*out = ms / 1000;
	return 1;
}

static void
health_history(struct req *r, const char *public_id, int64_t server)
{
	const char	*metric = req_query(r, "metric");
	const char	*resname = req_query(r, "resolution");
	const struct resolution *res = NULL;
	int64_t		 to = iso_now(), from, points;
	json_t		*list;
	char		 f[ISO_MAX], t[ISO_MAX];
	size_t		 i;
	int		 known = 0;

	if (metric == NULL)
		metric = "cpu";
	for (i = 0; i < sizeof(series) / sizeof(series[0]); i++)
		known |= strcmp(series[i].metric, metric) == 0;
	if (!known) {
		valid_fail(r, "metric", "metric must be cpu, memory, disk, "
		    "network or temperature.");
		return;
	}
	if (!time_param(r, "to", &to))
		return;
	from = to - 3600;
	if (!time_param(r, "from", &from))
		return;
	if (from >= to) {
		valid_fail(r, "from", "from must be before to.");
		return;
	}
	if (resname != NULL) {
		for (i = 0; i < NRES; i++)
			if (strcmp(resolutions[i].name, resname) == 0)
				res = &resolutions[i];
		if (res == NULL) {
			valid_fail(r, "resolution",
			    "resolution must be 1m, 5m, 1h or 1d.");
			return;
		}
	} else {
		/* The finest resolution that keeps the chart light. */
		for (i = 0; i < NRES && res == NULL; i++)
			if ((to - from) / resolutions[i].secs <= AUTO_POINTS)
				res = &resolutions[i];
		if (res == NULL)
			res = &resolutions[NRES - 1];
	}
	points = (to - from + res->secs - 1) / res->secs;
	if (points > MAX_POINTS) {
		reply_err_extra(r, 400, "too_many_points",
		    "That window at this resolution is more than 1500 points; "
		    "choose a coarser resolution.",
		    json_pack("{s:I}", "points", (json_int_t)points));
		return;
	}
	list = json_array();
	for (i = 0; i < sizeof(series) / sizeof(series[0]); i++)
		if (strcmp(series[i].metric, metric) == 0 &&
		    !add_series(list, &series[i], server, from, to,
		    res->secs)) {
			json_decref(list);
			reply_err(r, 500, "internal_error", "History failed.");
			return;
		}
	reply_json(r, 200, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
	    "server_id", public_id, "metric", metric,
	    "resolution", res->name, "from", iso_format(f, from),
	    "to", iso_format(t, to), "points", list));
}

/*
 * Filters are optional: ?2 status ('open'/'resolved'/NULL), ?3 severity,
 * ?4 from, ?5 to (opened_at), newest first, one page past ?6.
 */
static const char alerts_sql[] =
    "SELECT " ALERT_COLUMNS " FROM alert a JOIN server s ON s.id = a.server_id "
    "WHERE a.server_id = ?1 AND (?2 IS NULL OR a.status = ?2)"
    " AND (?3 IS NULL OR a.severity = ?3)"
    " AND (?4 IS NULL OR a.opened_at >= ?4)"
    " AND (?5 IS NULL OR a.opened_at < ?5) "
    "ORDER BY a.opened_at DESC, a.id DESC LIMIT ?7 OFFSET ?6";

/* One of the allowed values of a query parameter (NULL when absent). */
static int
choice_param(struct req *r, const char *name, const char *const *allowed,
    const char **out)
{
	const char	*v = req_query(r, name);

	*out = NULL;
	if (v == NULL || *v == '\0')
		return 1;
	for (; *allowed != NULL; allowed++)
		if (strcmp(v, *allowed) == 0) {
			*out = v;
			return 1;
		}
	valid_fail(r, name, "%s has an unknown value.", name);
	return 0;
}

static void
health_alerts(struct req *r, const char *public_id, int64_t server)
{
	static const char *const statuses[] = { "active", "resolved", "all",
	    NULL };
	static const char *const severities[] = { "critical", "warning",
	    "info", NULL };
	const char	*status, *severity, *page_s = req_query(r, "page");
	int64_t		 from = -1, to = -1;
	long		 page = 1;
	char		*end;
	sqlite3_stmt	*st;
	json_t		*list;
	int		 n = 0, more = 0, rc;

	if (!choice_param(r, "status", statuses, &status) ||
	    !choice_param(r, "severity", severities, &severity) ||
	    !time_param(r, "from", &from) || !time_param(r, "to", &to))
		return;
	if (from >= 0 && to >= 0 && from >= to) {
		valid_fail(r, "from", "from must be before to.");
		return;
	}
	if (page_s != NULL) {
		page = strtol(page_s, &end, 10);
		if (*page_s == '\0' || *end != '\0' || page < 1 ||
		    page > MAX_PAGE) {
			valid_fail(r, "page", "page must be 1 to %d.",
			    MAX_PAGE);
			return;
		}
	}
	if ((st = db_prep(db_main(), alerts_sql)) == NULL) {
		reply_err(r, 500, "internal_error", "Alerts failed.");
		return;
	}
	sqlite3_bind_int64(st, 1, server);
	if (status != NULL && strcmp(status, "all") != 0)
		sqlite3_bind_text(st, 2, strcmp(status, "active") == 0 ?
		    "open" : "resolved", -1, SQLITE_STATIC);
	if (severity != NULL)
		sqlite3_bind_text(st, 3, severity, -1, SQLITE_STATIC);
	if (from >= 0)
		sqlite3_bind_int64(st, 4, from);
	if (to >= 0)
		sqlite3_bind_int64(st, 5, to);
	sqlite3_bind_int64(st, 6, (page - 1) * ALERTS_PER_PAGE);
	sqlite3_bind_int(st, 7, ALERTS_PER_PAGE + 1);
	list = json_array();
	while ((rc = db_next(st)) > 0) {
		if (n++ == ALERTS_PER_PAGE) {
			more = 1;
			break;
		}
		json_array_append_new(list, alert_json(st, 0));
	}
	sqlite3_reset(st);
	if (rc < 0) {
		json_decref(list);
		reply_err(r, 500, "internal_error", "Alerts failed.");
		return;
	}
	reply_json(r, 200, json_pack("{s:s, s:o, s:i, s:i, s:b}",
	    "server_id", public_id, "alerts", list, "page", (int)page,
	    "per_page", ALERTS_PER_PAGE, "has_more", more));
}

static void
dispatch(struct req *r)
{
	struct principal	 who;
	const char		*id = req_seg(r, 1);
	int64_t			 server;

	if (!req_path_is(r, 3, "servers", "*", "health") &&
	    !req_path_is(r, 4, "servers", "*", "health", "history") &&
	    !req_path_is(r, 4, "servers", "*", "health", "alerts")) {
		reply_err(r, 404, "not_found", "No such endpoint.");
		return;
	}
	if (strcmp(r->method, "GET") != 0) {
		reply_method_not_allowed(r, "GET");
		return;
	}
	if (!auth_require(r, &who, SCOPE_READ) ||
	    (server = auth_own_server(r, &who, id)) == 0)
		return;
	if (r->nsegs == 3)
		health_current(r, id, server);
	else if (strcmp(req_seg(r, 3), "history") == 0)
		health_history(r, id, server);
	else
		health_alerts(r, id, server);
}

int
main(void)
{
	static const struct route rt = {
		.name = "health",
		.dispatch = dispatch,
	};

	return req_run(&rt);
}
