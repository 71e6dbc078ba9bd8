/*
 * notify (every minute; or --loop SECONDS [--for SECONDS] for lower
 * latency): delivers the outbox (SPEC 9).
 *
 * Each notify_outbox row is fanned out, once, to a delivery job per
 * enabled channel of its server's account. A job is claimed in its own
 * transaction (its attempt counted, next_attempt_at moved past a lease)
 * before anything is sent, and marked sent only after the receiver
 * accepted it: a run killed mid-send leaves the job due again when the
 * lease ends, so a notification is delivered at least once and never
 * lost. Failures are retried after 30 s, 1, 2, 4 and 8 minutes (longer
 * if a 429 asked for it), then the job is marked failed; every attempt
 * is logged in notify_attempt. A firing job of an alert acknowledged
 * since it was queued is skipped, as is one whose resolution has
 * already been delivered to that channel. The emails of mail_outbox
 * (verification mail) go the same way through the SMTP relay.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "cron.h"
#include "db.h"
#include "iso.h"
#include "log.h"
#include "notify.h"

#define MAX_ATTEMPTS	6	/* the first and five retries */
#define LEASE_SLACK_S	60	/* beyond the transfer timeout */
#define FAN_BATCH	500	/* outbox rows per fan-out transaction */
#define RETRY_AFTER_MAX	86400	/* a 429 can't park a job for longer */

/* Seconds to wait after failed attempt n (1-based). */
static const int64_t backoff_s[MAX_ATTEMPTS - 1] = { 30, 60, 120, 240, 480 };

static volatile sig_atomic_t	 stop;	/* SIGTERM / SIGINT in --loop */

/* What one pass did, for the summary line. */
struct tally {
	int	 fanned, sent, retrying, failed, skipped;
	int	 mail_sent, mail_failed;
};

static const char batch_end_sql[] =
    "SELECT max(id) FROM (SELECT id FROM notify_outbox "
    "WHERE fanned_at IS NULL ORDER BY id LIMIT ?1)";
static const char fan_sql[] =
    "INSERT OR IGNORE INTO notify_delivery (outbox_id, channel_id,"
    " next_attempt_at, created_at) "
    "SELECT o.id, c.id, ?1, ?1 FROM notify_outbox o"
    " JOIN alert a ON a.id = o.alert_id"
    " JOIN server s ON s.id = a.server_id"
    " JOIN channel c ON c.account_id = s.account_id AND c.enabled "
    "WHERE o.fanned_at IS NULL AND o.id <= ?2 ORDER BY o.id, c.id";
/* A row with no channel to go to is done at once. */
static const char fanned_sql[] =
    "UPDATE notify_outbox SET fanned_at = ?1,"
    " done_at = coalesce(done_at, CASE WHEN EXISTS (SELECT 1 FROM"
    "  notify_delivery d WHERE d.outbox_id = notify_outbox.id)"
    "  THEN NULL ELSE ?1 END) "
    "WHERE fanned_at IS NULL AND id <= ?2";

/* Rows whose jobs all ended some other way (their channel deleted). */
static const char sweep_sql[] =
    "UPDATE notify_outbox SET done_at = ?1 WHERE done_at IS NULL"
    " AND fanned_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM"
    " notify_delivery d WHERE d.outbox_id = notify_outbox.id"
    " AND d.state = 'pending')";

/* Fans out one batch. Returns the rows fanned, 0 when none, -1 on error. */
static int
fan_batch(int64_t now)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int64_t		 last;
	int		 n;

	if (!db_begin(conn))
		return -1;
	if ((st = db_prep(conn, batch_end_sql)) == NULL)
		goto fail;
	sqlite3_bind_int(st, 1, FAN_BATCH);
	if (db_step(st) != SQLITE_ROW)
		goto fail;
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		sqlite3_reset(st);
		return db_commit(conn) ? 0 : -1;
	}
	last = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if ((st = db_prep(conn, fan_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, last);
	if (!db_run(st) || (st = db_prep(conn, fanned_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, last);
	if (!db_run(st))
		goto fail;
	n = sqlite3_changes(conn);
	return db_commit(conn) ? n : -1;
fail:
	db_rollback(conn);
	return -1;
}

/* --- delivery jobs ------------------------------------------------------ */

static const char due_sql[] =
    "SELECT id FROM notify_delivery WHERE state = 'pending'"
    " AND next_attempt_at <= ?1"
    " AND channel_id NOT IN (SELECT value FROM json_each(?2)) "
    "ORDER BY next_attempt_at, id LIMIT 1";
static const char job_sql[] =
    "SELECT d.attempts, d.outbox_id, o.event, a.public_id, a.rule,"
    " a.kind, a.severity, a.title, a.message, a.occurrences, a.opened_at,"
    " coalesce(a.resolved_at, 0), s.public_id, s.name, s.hostname, c.id,"
    " c.public_id, c.name, c.type, c.config,"
    " CASE WHEN NOT c.enabled THEN 'channel disabled'"
    "  WHEN o.event = 'firing' AND a.acknowledged_at >= o.created_at"
    "   THEN 'acknowledged'"
    "  WHEN o.event = 'firing' AND EXISTS (SELECT 1 FROM notify_outbox o2"
    "   JOIN notify_delivery d2 ON d2.outbox_id = o2.id"
    "   WHERE o2.alert_id = o.alert_id AND o2.id > o.id"
    "   AND o2.event = 'resolved' AND d2.channel_id = d.channel_id"
    "   AND d2.state = 'sent') THEN 'superseded: resolved already sent'"
    " END "
    "FROM notify_delivery d JOIN notify_outbox o ON o.id = d.outbox_id"
    " JOIN alert a ON a.id = o.alert_id JOIN server s ON s.id = a.server_id"
    " JOIN channel c ON c.id = d.channel_id WHERE d.id = ?1";
static const char claim_sql[] =
    "UPDATE notify_delivery SET attempts = attempts + 1,"
    " next_attempt_at = ?2 WHERE id = ?1";
static const char end_sql[] =
    "UPDATE notify_delivery SET state = ?2, last_error = ?3, done_at = ?4 "
    "WHERE id = ?1";
static const char finish_sql[] =
    "UPDATE notify_delivery SET state = ?2, next_attempt_at = ?3,"
    " last_status = ?4, last_error = ?5, last_duration_ms = ?6,"
    " done_at = ?7 WHERE id = ?1";
/* A job whose channel was deleted while it was in flight logs nothing. */
static const char attempt_sql[] =
    "INSERT INTO notify_attempt (channel_id, delivery_id, mail_id, at, ok,"
    " status, duration_ms, error) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 "
    "WHERE ?2 IS NULL OR EXISTS (SELECT 1 FROM notify_delivery"
    " WHERE id = ?2)";
static const char outbox_done_sql[] =
    "UPDATE notify_outbox SET done_at = ?2 WHERE id = ?1"
    " AND done_at IS NULL AND NOT EXISTS (SELECT 1 FROM notify_delivery"
    " WHERE outbox_id = ?1 AND state = 'pending')";

/* A claimed job: the text columns of job_sql, copied. */
#define JOB_TEXTS	20
struct job {
	int64_t			 id;
	int64_t			 attempts;	/* before this one */
	int64_t			 outbox_id;
	int64_t			 channel_id;
	char			*text[JOB_TEXTS];	/* by column, owned */
	json_t			*config;
	struct notify_msg	 msg;
	char			 event_id[ID_MAX];
};

static void
job_free(struct job *j)
{
	int	 i;

	for (i = 0; i < JOB_TEXTS; i++)
		free(j->text[i]);
	json_decref(j->config);
	memset(j, 0, sizeof(*j));
}

/* Reads the job_sql row; col 20 (skip reason) into text[0]. */
static int
job_read(sqlite3_stmt *st, struct job *j)
{
	static const int cols[] = { 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 16, 17,
	    18 };
	struct notify_msg	*m = &j->msg;
	size_t			 i;

	for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		if ((j->text[cols[i]] = strdup(db_text(st, cols[i]))) == NULL)
			return 0;
	if (sqlite3_column_type(st, 20) != SQLITE_NULL &&
	    (j->text[0] = strdup(db_text(st, 20))) == NULL)
		return 0;
	j->attempts = sqlite3_column_int64(st, 0);
	j->outbox_id = sqlite3_column_int64(st, 1);
	j->channel_id = sqlite3_column_int64(st, 15);
	j->config = json_loads(db_text(st, 19), 0, NULL);
	m->event = strcmp(j->text[2], "resolved") == 0 ? NOTIFY_RESOLVED :
	    NOTIFY_FIRING;
	m->alert_id = j->text[3];
	m->rule = j->text[4];
	m->kind = j->text[5];
	m->severity = j->text[6];
	m->title = j->text[7];
	m->message = j->text[8];
	m->occurrences = sqlite3_column_int64(st, 9);
	m->opened_at = sqlite3_column_int64(st, 10);
	m->resolved_at = sqlite3_column_int64(st, 11);
	m->server_id = j->text[12];
	m->server_name = j->text[13];
	m->hostname = j->text[14];
	m->channel_id = j->text[16];
	m->channel_name = j->text[17];
	m->event_id = j->event_id;
	return notify_event_id(j->event_id, j->outbox_id);
}

/* Ends a job without sending: state skipped or failed, with why. */
static int
job_end(struct job *j, const char *state, const char *why, int64_t now)
{
	sqlite3_stmt	*st = db_prep(db_main(), end_sql);

	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, j->id);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (!db_run(st) || (st = db_prep(db_main(), outbox_done_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, j->outbox_id);
	sqlite3_bind_int64(st, 2, now);
	return db_run(st);
}

/*
 * Claims the next due job not for a channel in skip (a JSON array of
 * channel row ids). Returns 1 with *j claimed and ready to send, 2 when
 * the job was ended without sending (skipped, or given up), 0 when
 * nothing is due, -1 on error.
 */
static int
job_claim(const char *skip, int64_t now, struct job *j, struct tally *t)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	char		 why[160];
	int		 rc;

	memset(j, 0, sizeof(*j));
	if (!db_begin(conn))
		return -1;
	if ((st = db_prep(conn, due_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, skip, -1, SQLITE_TRANSIENT);
	if ((rc = db_step(st)) == 0)
		goto fail;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return db_commit(conn) ? 0 : -1;
	}
	j->id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if ((st = db_prep(conn, job_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, j->id);
	if (db_step(st) != SQLITE_ROW || !job_read(st, j))
		goto fail;
	sqlite3_reset(st);
	if (j->text[0] != NULL || j->attempts >= MAX_ATTEMPTS) {
		/* Out of attempts here means the last one never came back. */
		if (j->text[0] == NULL)
			snprintf(why, sizeof(why), "gave up: attempt %lld "
			    "ended without an outcome", (long long)j->attempts);
		if (!job_end(j, j->text[0] != NULL ? "skipped" : "failed",
		    j->text[0] != NULL ? j->text[0] : why, now))
			goto fail;
		if (j->text[0] != NULL)
			t->skipped++;
		else
			t->failed++;
		if (db_commit(conn))
			return 2;
		job_free(j);
		return -1;
	}
	if ((st = db_prep(conn, claim_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, j->id);
	sqlite3_bind_int64(st, 2, now + cfg_int("notify_timeout") +
	    LEASE_SLACK_S);
	if (!db_run(st))
		goto fail;
	j->attempts++;
	if (db_commit(conn))
		return 1;
	job_free(j);
	return -1;
fail:
	db_rollback(conn);
	job_free(j);
	return -1;
}

/* Logs one attempt (inside the caller's transaction). */
static int
log_attempt(int64_t channel_id, int64_t delivery_id, int64_t mail_id,
    const struct notify_result *res, int64_t now)
{
	sqlite3_stmt	*st = db_prep(db_main(), attempt_sql);

	if (st == NULL)
		return 0;
	if (channel_id > 0)
		sqlite3_bind_int64(st, 1, channel_id);
	if (delivery_id > 0)
		sqlite3_bind_int64(st, 2, delivery_id);
	if (mail_id > 0)
		sqlite3_bind_int64(st, 3, mail_id);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int(st, 5, res->ok);
	if (res->status > 0)
		sqlite3_bind_int64(st, 6, res->status);
	sqlite3_bind_int64(st, 7, res->duration_ms);
	if (!res->ok)
		sqlite3_bind_text(st, 8, res->error, -1, SQLITE_STATIC);
	return db_run(st);
}

/* When attempt n (1-based) failed at now, the next one is due. */
static int64_t
retry_at(int64_t n, const struct notify_result *res, int64_t now)
{
	int64_t	 wait = backoff_s[n - 1];

	if (res->retry_after > wait)
		wait = res->retry_after < RETRY_AFTER_MAX ? res->retry_after :
		    RETRY_AFTER_MAX;
	return now + wait;
}

/* Records the outcome of a sent job. Returns 1, or 0 (logged). */
static int
job_finish(struct job *j, const struct notify_result *res,
    struct tally *t)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int64_t		 now = iso_now();
	int		 give_up = !res->ok && j->attempts >= MAX_ATTEMPTS;
	const char	*state = res->ok ? "sent" : give_up ? "failed" :
			    "pending";

	if (!db_begin(conn))
		return 0;
	if (!log_attempt(j->channel_id, j->id, 0, res, now) ||
	    (st = db_prep(conn, finish_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, j->id);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, res->ok || give_up ? now :
	    retry_at(j->attempts, res, now));
	if (res->status > 0)
		sqlite3_bind_int64(st, 4, res->status);
	if (!res->ok)
		sqlite3_bind_text(st, 5, res->error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, res->duration_ms);
	if (res->ok || give_up)
		sqlite3_bind_int64(st, 7, now);
	if (!db_run(st) || (st = db_prep(conn, outbox_done_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, j->outbox_id);
	sqlite3_bind_int64(st, 2, now);
	if (!db_run(st) || !db_commit(conn))
		goto fail;
	if (res->ok)
		t->sent++;
	else if (give_up)
		t->failed++;
	else
		t->retrying++;
	return 1;
fail:
	db_rollback(conn);
	return 0;
}

/*
 * Delivers every due job. A channel that fails is left alone for the
 * rest of the pass, so one dead receiver costs one timeout per pass,
 * not one per queued notification.
 */
static int
deliver_jobs(struct tally *t)
{
	struct notify_result	 res;
	struct job		 j;
	json_t			*failed = json_array();
	char			*skip = NULL;
	int			 rc, ok = 0;

	while (!stop) {
		if ((skip = json_dumps(failed, JSON_COMPACT)) == NULL)
			break;
		rc = job_claim(skip, iso_now(), &j, t);
		free(skip);
		if (rc <= 0) {
			ok = rc == 0;
			break;
		}
		if (rc == 1) {
			memset(&res, 0, sizeof(res));
			if (j.config == NULL)
				snprintf(res.error, sizeof(res.error),
				    "the channel's config is unreadable");
			if (j.config == NULL ||
			    !notify_send(j.text[18], j.config, &j.msg, &res))
				json_array_append_new(failed,
				    json_integer(j.channel_id));
			if (!job_finish(&j, &res, t)) {
				job_free(&j);
				break;
			}
		}
		job_free(&j);
	}
	json_decref(failed);
	return ok || stop;
}

/* --- mail_outbox -------------------------------------------------------- */

static const char mail_due_sql[] =
    "SELECT id, recipient, subject, body, attempts FROM mail_outbox "
    "WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?1 "
    "ORDER BY next_attempt_at, id LIMIT 1";
static const char mail_claim_sql[] =
    "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = ?2 "
    "WHERE id = ?1";
/* A sent email's body (a verification link) is not kept. */
static const char mail_finish_sql[] =
    "UPDATE mail_outbox SET sent_at = ?2, failed_at = ?3,"
    " next_attempt_at = ?4, last_error = ?5,"
    " body = CASE WHEN ?2 IS NULL THEN body ELSE '' END WHERE id = ?1";

/* A claimed email. */
struct mail {
	int64_t	 id;
	int64_t	 attempts;	/* including this one */
	char	*rcpt, *subject, *body;
};

/* Claims the next due email: 1, 0 when none is due, -1 on error. */
static int
mail_claim(int64_t now, struct mail *m)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int		 rc;

	memset(m, 0, sizeof(*m));
	if (!db_begin(conn))
		return -1;
	if ((st = db_prep(conn, mail_due_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	if ((rc = db_step(st)) == 0)
		goto fail;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return db_commit(conn) ? 0 : -1;
	}
	m->id = sqlite3_column_int64(st, 0);
	m->rcpt = strdup(db_text(st, 1));
	m->subject = strdup(db_text(st, 2));
	m->body = strdup(db_text(st, 3));
	m->attempts = sqlite3_column_int64(st, 4) + 1;
	sqlite3_reset(st);
	if (m->rcpt == NULL || m->subject == NULL || m->body == NULL ||
	    (st = db_prep(conn, mail_claim_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int64(st, 2, now + cfg_int("notify_timeout") +
	    LEASE_SLACK_S);
	if (!db_run(st))
		goto fail;
	if (db_commit(conn))
		return 1;
fail:
	db_rollback(conn);
	free(m->rcpt);
	free(m->subject);
	free(m->body);
	return -1;
}

static int
mail_finish(const struct mail *m, const struct notify_result *res,
    struct tally *t)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	int64_t		 now = iso_now();
	int		 give_up = !res->ok && m->attempts >= MAX_ATTEMPTS;

	if (!db_begin(conn))
		return 0;
	if (!log_attempt(0, 0, m->id, res, now) ||
	    (st = db_prep(conn, mail_finish_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, m->id);
	if (res->ok)
		sqlite3_bind_int64(st, 2, now);
	if (give_up)
		sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, res->ok || give_up ? now :
	    retry_at(m->attempts, res, now));
	if (!res->ok)
		sqlite3_bind_text(st, 5, res->error, -1, SQLITE_STATIC);
	if (!db_run(st) || !db_commit(conn))
		goto fail;
	if (res->ok)
		t->mail_sent++;
	else
		t->mail_failed++;
	return 1;
fail:
	db_rollback(conn);
	return 0;
}

/*
 * Sends the due emails. Without an SMTP relay they wait for one. A
 * relay that does not answer ends the mail for this pass; a refusal of
 * one message does not.
 */
static int
deliver_mail(struct tally *t)
{
	struct notify_result	 res;
	struct mail		 m;
	const char		*to[1];
	int			 rc = 0, ok;

	if (*cfg_get("smtp_url") == '\0')
		return 1;
	while (!stop && (rc = mail_claim(iso_now(), &m)) == 1) {
		to[0] = m.rcpt;
		notify_mail(to, 1, m.subject, m.body, &res);
		ok = mail_finish(&m, &res, t);
		free(m.rcpt);
		free(m.subject);
		free(m.body);
		if (!ok)
			return 0;
		if (!res.ok && res.status == 0)
			break;
	}
	return rc >= 0;
}

static int
pass(int64_t now)
{
	struct tally	 t;
	sqlite3_stmt	*st;
	int		 n, ok;

	memset(&t, 0, sizeof(t));
	while ((n = fan_batch(now)) > 0)
		t.fanned += n;
	if (n < 0 || (st = db_prep(db_main(), sweep_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, now);
	if (!db_run(st))
		return 0;
	ok = deliver_jobs(&t);
	ok = deliver_mail(&t) && ok;
	if (t.fanned + t.sent + t.retrying + t.failed + t.skipped +
	    t.mail_sent + t.mail_failed > 0)
		printf("notify: fanned=%d sent=%d retrying=%d failed=%d "
		    "skipped=%d mail_sent=%d mail_failed=%d\n", t.fanned,
		    t.sent, t.retrying, t.failed, t.skipped, t.mail_sent,
		    t.mail_failed);
	fflush(stdout);
	return ok;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* A whole number of seconds in 1..max, or -1. */
static long
seconds(const char *s, long max)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || n < 1 || n > max ?
	    -1 : n;
}

/*
 * Passes every interval seconds until SIGTERM / SIGINT, or until
 * duration seconds have gone by (0: for ever). The job's lock is taken
 * per pass, so cron's one-shot runs and a loop can coexist.
 */
static int
loop(long interval, long duration)
{
	struct sigaction	 sa;
	int64_t			 start;
	int			 rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	start = iso_mono_ms();
	while (!stop) {
		rc = cron_run("notify", pass);
		if (stop || (duration > 0 &&
		    (iso_mono_ms() - start) / 1000 + interval > duration))
			break;
		sleep((unsigned)interval);	/* a signal cuts it short */
	}
	return rc;
}

int
main(int argc, char *argv[])
{
	long	 interval = 0, duration = 0;
	int	 rc;

	if (argc == 1)
		rc = cron_run("notify", pass);
	else if ((argc == 3 || argc == 5) && strcmp(argv[1], "--loop") == 0 &&
	    (interval = seconds(argv[2], 3600)) > 0 &&
	    (argc == 3 || (strcmp(argv[3], "--for") == 0 &&
	    (duration = seconds(argv[4], 86400 * 366)) > 0)))
		rc = loop(interval, duration);
	else {
		fprintf(stderr, "usage: kiln-cron-notify "
		    "[--loop SECONDS [--for SECONDS]]\n");
		return 2;
	}
	notify_close();
	return rc;
}
