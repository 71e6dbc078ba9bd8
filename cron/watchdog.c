/*
 * watchdog (every 2 minutes): raises server_unreachable (SPEC 8) for an
 * active server silent for interval_factor x its observed cadence, or
 * never heard from never_reported_minutes after it was added, and marks
 * it offline_since. Its next ingest resolves the alert and clears the
 * mark. One transaction per silent server.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alert.h"
#include "cron.h"
#include "db.h"
#include "iso.h"
#include "log.h"
#include "rules.h"

#define RULE		"server_unreachable"
/* The agents' default interval, for a server whose cadence is unknown. */
#define DEFAULT_INTERVAL_S	300
#define MAX_LIMIT_S		1e15	/* thirty million years */

static const char next_sql[] =
    "SELECT id FROM server WHERE status = 'active' AND id > ?1 "
    "ORDER BY id LIMIT 1";
static const char server_sql[] =
    "SELECT name, last_seen_at, interval_s, created_at, config_overrides "
    "FROM server WHERE id = ?1 AND status = 'active'";
static const char offline_sql[] =
    "UPDATE server SET offline_since = ?2 "
    "WHERE id = ?1 AND offline_since IS NULL";
static const char muted_sql[] =
    "SELECT 1 FROM mute WHERE server_id = ?1 AND rule = '" RULE "'";

/* What the watchdog knows of one server. */
struct silence {
	char	 name[128];
	int64_t	 last_seen;	/* 0: never reported */
	double	 interval_s;	/* observed cadence, NAN: unknown */
	int64_t	 silent_for;	/* seconds without a snapshot */
	int64_t	 limit;		/* silence beyond this is unreachable */
};

/*
 * Loads an active server and judges it. Returns 1 when it is
 * unreachable, 0 when not (or gone or suspended), -1 on error.
 */
static int
judge(const struct rule_def *rule, int64_t server_id, int64_t now,
    struct silence *s)
{
	sqlite3_stmt	*st = db_prep(db_main(), server_sql);
	struct rule_ctx	 c;
	double		 limit;
	int		 rc;

	memset(s, 0, sizeof(*s));
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, server_id);
	if ((rc = db_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	snprintf(s->name, sizeof(s->name), "%s", db_text(st, 0));
	s->last_seen = sqlite3_column_int64(st, 1);
	s->interval_s = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN :
	    sqlite3_column_double(st, 2);
	/* The thresholds are all it reads; unreadable JSON: defaults. */
	memset(&c, 0, sizeof(c));
	c.overrides = json_loads(db_text(st, 4), 0, NULL);
	if (s->last_seen != 0) {
		s->silent_for = now - s->last_seen;
		limit = rule_threshold(&c, rule, "interval_factor") *
		    (s->interval_s > 0 ? s->interval_s : DEFAULT_INTERVAL_S);
	} else {
		s->silent_for = now - sqlite3_column_int64(st, 3);
		limit = rule_threshold(&c, rule, "never_reported_minutes") * 60;
	}
	/* An override of 1e300 means never; llround can't say that. */
	s->limit = llround(fmin(limit, MAX_LIMIT_S));
	sqlite3_reset(st);
	json_decref(c.overrides);
	return s->silent_for > s->limit;
}

/* "90 seconds", "17 minutes", "3 hours", "2 days" into out[32]. */
static const char *
span(char out[32], int64_t secs)
{
	if (secs < 600)
		snprintf(out, 32, "%lld seconds", (long long)secs);
	else if (secs < 2 * 3600)
		snprintf(out, 32, "%lld minutes", (long long)(secs / 60));
	else if (secs < 2 * 86400)
		snprintf(out, 32, "%lld hours", (long long)(secs / 3600));
	else
		snprintf(out, 32, "%lld days", (long long)(secs / 86400));
	return out;
}

/* Raises (or refreshes) the alert for a silent server. */
static int
raise_alert(const struct rule_def *rule, int64_t server_id,
    const struct silence *s, int64_t now, int *raised)
{
	struct rule_result	 res;
	char			 title[sizeof(res.title)], seen[ISO_MAX];
	char			 a[32], b[32];
	json_t			*evidence;
	int			 ok;

	memset(&res, 0, sizeof(res));
	evidence = json_pack("{s:o, s:o, s:I, s:I}",
	    "last_seen_at", s->last_seen != 0 ?
	    json_string(iso_format(seen, s->last_seen)) : json_null(),
	    "interval_s", isnan(s->interval_s) ? json_null() :
	    json_real(s->interval_s),
	    "silent_for_s", (json_int_t)s->silent_for,
	    "threshold_s", (json_int_t)s->limit);
	if (s->last_seen != 0) {
		snprintf(title, sizeof(title), "%s stopped reporting",
		    s->name);
		rule_fire(&res, "critical", evidence, title,
		    "No snapshot for %s (the limit is %s).",
		    span(a, s->silent_for), span(b, s->limit));
	} else {
		snprintf(title, sizeof(title), "%s has never reported",
		    s->name);
		rule_fire(&res, "critical", evidence, title,
		    "No snapshot in the %s since it was added.",
		    span(a, s->silent_for));
	}
	ok = alert_apply(server_id, rule, &res, now, raised);
	rule_result_clear(&res);
	return ok;
}

/* One silent server, in its own transaction, judged again inside it. */
static int
watch(const struct rule_def *rule, int64_t server_id, int64_t now,
    int *raised, int *offline)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	struct silence	 s;
	int		 rc, muted;

	if (!db_begin(conn))
		return 0;
	if ((rc = judge(rule, server_id, now, &s)) < 0)
		goto fail;
	if (rc == 0)	/* it reported meanwhile */
		return db_commit(conn);
	if ((st = db_prep(conn, offline_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, server_id);
	sqlite3_bind_int64(st, 2, now);
	if (!db_run(st))
		goto fail;
	*offline += sqlite3_changes(conn);
	if ((st = db_prep(conn, muted_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, server_id);
	if ((muted = db_step(st)) == 0)
		goto fail;
	sqlite3_reset(st);
	/* A mute resolves the open alert, as an ingest would. */
	if (muted == SQLITE_ROW ? !alert_resolve(server_id, RULE, "muted", now)
	    : !raise_alert(rule, server_id, &s, now, raised))
		goto fail;
	return db_commit(conn);
fail:
	db_rollback(conn);
	return 0;
}

static int
pass(int64_t now)
{
	const struct rule_def	*rule = rule_find(RULE);
	const struct rule_ctx	 none = { 0 };
	sqlite3_stmt		*st;
	struct silence		 s;
	int64_t			 id = 0;
	int			 rc, raised = 0, offline = 0;

	if (rule == NULL ||
	    isnan(rule_threshold(&none, rule, "interval_factor")) ||
	    isnan(rule_threshold(&none, rule, "never_reported_minutes"))) {
		kiln_log(LOG_ERR, "the catalogue lacks %s or its thresholds",
		    RULE);
		return 0;
	}
	/* Judged first without the write lock: most servers are fine. */
	for (;;) {
		if ((st = db_prep(db_main(), next_sql)) == NULL)
			return 0;
		sqlite3_bind_int64(st, 1, id);
		rc = db_step(st);
		if (rc == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			break;
		if ((rc = judge(rule, id, now, &s)) < 0)
			return 0;
		if (rc == 1 && !watch(rule, id, now, &raised, &offline))
			return 0;
	}
	if (rc == 0)
		return 0;
	if (raised > 0 || offline > 0)
		printf("watchdog: %d newly offline, %d alerts raised\n",
		    offline, raised);
	return 1;
}

int
main(void)
{
	return cron_run("watchdog", pass);
}
