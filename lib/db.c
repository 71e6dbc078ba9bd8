/*
 * db: connections, a per-process statement cache, transactions and
 * migrations.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "cfg.h"
#include "db.h"
#include "iso.h"
#include "log.h"
#include "migration.h"

/* One cached statement: the SQL's address identifies it. */
struct cached {
	sqlite3		*conn;
	const char	*sql;
	sqlite3_stmt	*st;
};

static sqlite3		*main_conn;		/* db_main() */
static sqlite3		*rate_conn;		/* db_rate() */
static struct cached	*cache;			/* prepared statements */
static size_t		 ncache, cachecap;

/* Runs one pragma or statement with no result; logs failures. */
static int
exec(sqlite3 *conn, const char *sql)
{
	char	*err = NULL;

	if (sqlite3_exec(conn, sql, NULL, NULL, &err) != SQLITE_OK) {
		kiln_log(LOG_ERR, "%s: %s", sql, err != NULL ? err :
		    sqlite3_errmsg(conn));
		sqlite3_free(err);
		return 0;
	}
	return 1;
}

/*
 * Before SQLite's first use in the process: no count of its memory (a
 * global mutex around every allocation it makes, for
 * sqlite3_memory_used, which Kiln never asks). Called later, SQLite
 * refuses it (SQLITE_MISUSE) and keeps counting: slower, not wrong.
 */
static pthread_once_t	sqlite_configured = PTHREAD_ONCE_INIT;

static void
configure_sqlite(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static sqlite3 *
open_conn(const char *path, const char *sync)
{
	sqlite3		*conn = NULL;
	char		 pragma[64];

	pthread_once(&sqlite_configured, configure_sqlite);
	/* The database's directory must exist (and be writable for WAL). */
	if (strcmp(path, cfg_get("db_path")) == 0 ||
	    strcmp(path, cfg_get("rate_db_path")) == 0) {
		char	*dir = strdup(path), *slash;

		if (dir != NULL && (slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			if (*dir != '\0' && mkdir(dir, 0750) != 0 &&
			    errno != EEXIST)
				kiln_log(LOG_WARNING, "mkdir %s: %s", dir,
				    strerror(errno));
		}
		free(dir);
	}
	if (sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		kiln_log(LOG_ERR, "db_open %s: %s", path,
		    conn != NULL ? sqlite3_errmsg(conn) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(conn, (int)cfg_int("busy_timeout_ms"));
	snprintf(pragma, sizeof(pragma), "PRAGMA synchronous=%s", sync);
	if (!exec(conn, "PRAGMA journal_mode=WAL") ||
	    !exec(conn, "PRAGMA foreign_keys=ON") || !exec(conn, pragma))
		goto fail;
	return conn;
fail:
	sqlite3_close(conn);
	return NULL;
}

sqlite3 *
db_main(void)
{
	/*
	 * Statement journals stay in memory instead of temporary files.
	 * No mmap: whenever another process has committed, SQLite drops
	 * its whole mapping at the next transaction, and the unmap plus a
	 * page fault per page read back cost more than a pread per page
	 * (measured with bench/run.sh and two ingest processes: a push's
	 * reads took 47 instead of 100 us of CPU without it). The
	 * checkpoint interval stays SQLite's 1000 pages: 4000 gave 5 % more
	 * ingest throughput but a p99 five times worse (see also
	 * db_checkpoint_in_background).
	 */
	if (main_conn == NULL &&
	    (main_conn = open_conn(cfg_get("db_path"), "NORMAL")) != NULL &&
	    (!exec(main_conn, "PRAGMA cache_size=-8000") ||
	    !exec(main_conn, "PRAGMA temp_store=MEMORY"))) {
		sqlite3_close(main_conn);
		main_conn = NULL;
	}
	return main_conn;
}

/*
 * Checkpoints off the request path. SQLite's auto-checkpoint runs inside
 * the COMMIT that crosses 1000 WAL pages, so one request in a thousand
 * pages waits for the copy back and two fsyncs. A process that writes on
 * every request instead hands that to a thread of its own, with its own
 * connection: the commit only signals it.
 */
#define CHECKPOINT_PAGES	1000

static pthread_mutex_t	 ckpt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 ckpt_wake = PTHREAD_COND_INITIALIZER;
static int		 ckpt_due;
static int		 ckpt_runs;	/* checkpoints the thread ran */

static int
wal_grew(void *arg, sqlite3 *conn, const char *name, int pages)
{
	(void)arg;
	(void)conn;
	(void)name;
	if (pages >= CHECKPOINT_PAGES) {
		pthread_mutex_lock(&ckpt_lock);
		ckpt_due = 1;
		pthread_cond_signal(&ckpt_wake);
		pthread_mutex_unlock(&ckpt_lock);
	}
	return SQLITE_OK;
}

static void *
checkpointer(void *arg)
{
	sqlite3	*conn = arg;
	int	 rc;

	for (;;) {
		pthread_mutex_lock(&ckpt_lock);
		while (!ckpt_due)
			pthread_cond_wait(&ckpt_wake, &ckpt_lock);
		ckpt_due = 0;
		pthread_mutex_unlock(&ckpt_lock);
		/* BUSY: another process is checkpointing; it will do. */
		rc = sqlite3_wal_checkpoint_v2(conn, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc == SQLITE_OK)
			__atomic_add_fetch(&ckpt_runs, 1, __ATOMIC_RELAXED);
		else if (rc != SQLITE_BUSY)
			kiln_log(LOG_WARNING, "checkpoint: %s",
			    sqlite3_errmsg(conn));
	}
	return NULL;
}

int
db_checkpoints_run(void)
{
	return __atomic_load_n(&ckpt_runs, __ATOMIC_RELAXED);
}

/*
 * A burst of writes the checkpoints can't keep up with grows the WAL
 * (one bench/run.sh left 500 MB), and SQLite reuses the file from its
 * start afterwards but never shrinks it. journal_size_limit would cut
 * it back inside the first commit after the WAL starts over, and that
 * ftruncate of hundreds of MB made the ingest p99 3-8 times worse
 * (bench/run.sh, first pushes: 5-6 ms before, 13-41 ms with it). So
 * the process cuts it back when it has nothing else to do.
 */
#define WAL_KEEP_BYTES	(64 * 1024 * 1024)

int
db_wal_trim(void)
{
	struct stat	 sb;
	char		 wal[PATH_MAX];
	int		 frames = -1, copied = -1, rc;

	snprintf(wal, sizeof(wal), "%s-wal", cfg_get("db_path"));
	if (main_conn == NULL || stat(wal, &sb) != 0 ||
	    sb.st_size <= WAL_KEEP_BYTES)
		return 1;
	/* It waits for every reader to leave the WAL: not for long. */
	sqlite3_busy_timeout(main_conn, 100);
	rc = sqlite3_wal_checkpoint_v2(main_conn, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, &frames, &copied);
	sqlite3_busy_timeout(main_conn, (int)cfg_int("busy_timeout_ms"));
	if (rc == SQLITE_OK) {
		kiln_log(LOG_INFO, "WAL of %lld bytes checkpointed and "
		    "truncated", (long long)sb.st_size);
		return 1;
	}
	/* BUSY: a reader or another writer; the next idle moment then. */
	if (rc != SQLITE_BUSY)
		kiln_log(LOG_WARNING, "WAL truncate: %s",
		    sqlite3_errmsg(main_conn));
	return 0;
}

int
db_checkpoint_in_background(void)
{
	static int	 started;
	sqlite3		*own;
	pthread_t	 t;
	sigset_t	 all, mask;
	int		 rc;

	if (started)
		return 1;
	if (db_main() == NULL ||
	    (own = open_conn(cfg_get("db_path"), "NORMAL")) == NULL)
		return 0;
	/*
	 * Signals stay the main thread's (the writers' queue times out by
	 * one): the thread starts with them all blocked.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &mask);
	rc = pthread_create(&t, NULL, checkpointer, own);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (rc != 0) {
		kiln_log(LOG_ERR, "checkpoint thread: %s", strerror(rc));
		sqlite3_close(own);
		return 0;
	}
	pthread_detach(t);
	/* Replaces the auto-checkpoint, which is itself a WAL hook. */
	sqlite3_wal_hook(main_conn, wal_grew, NULL);
	started = 1;
	return 1;
}

/*
 * Login failure counts are disposable: losing the last few failures in
 * a power cut is harmless, so this database skips fsync and lives in its
 * own file, where its writes never wait for the main database's writer.
 * (The token buckets that once lived here are in lib/rate.c's shared
 * table now; an old file's rate_bucket table is left alone, unused.)
 */
sqlite3 *
db_rate(void)
{
	static const char	*schema =
	    "CREATE TABLE IF NOT EXISTS login_failure ("
	    " email_hash TEXT PRIMARY KEY,"	/* hex SHA-256, lower case */
	    " failures INTEGER NOT NULL,"	/* consecutive, since a lock */
	    " locked_until INTEGER NOT NULL"	/* unix seconds, 0 for none */
	    ") STRICT, WITHOUT ROWID";

	if (rate_conn == NULL &&
	    (rate_conn = open_conn(cfg_get("rate_db_path"), "OFF")) != NULL &&
	    !exec(rate_conn, schema)) {
		sqlite3_close(rate_conn);
		rate_conn = NULL;
	}
	return rate_conn;
}

sqlite3_stmt *
db_prep(sqlite3 *conn, const char *sql)
{
	struct cached	*c;
	size_t		 i;

	if (conn == NULL)
		return NULL;
	for (i = 0; i < ncache; i++) {
		c = &cache[i];
		if (c->sql == sql && c->conn == conn) {
			sqlite3_reset(c->st);
			sqlite3_clear_bindings(c->st);
			return c->st;
		}
	}
	if (ncache == cachecap) {
		size_t		 ncap = cachecap ? cachecap * 2 : 64;
		struct cached	*n = realloc(cache, ncap * sizeof(*n));

		if (n == NULL)
			return NULL;
		cache = n;
		cachecap = ncap;
	}
	c = &cache[ncache];
	if (sqlite3_prepare_v3(conn, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &c->st, NULL) != SQLITE_OK) {
		kiln_log(LOG_ERR, "prepare: %s: %s", sqlite3_errmsg(conn), sql);
		return NULL;
	}
	c->conn = conn;
	c->sql = sql;
	ncache++;
	return c->st;
}

int
db_step(sqlite3_stmt *st)
{
	int	 rc;

	if (st == NULL)
		return 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	kiln_log(LOG_ERR, "step: %s: %s", sqlite3_errmsg(
	    sqlite3_db_handle(st)), sqlite3_sql(st));
	sqlite3_reset(st);
	return 0;
}

int
db_next(sqlite3_stmt *st)
{
	switch (db_step(st)) {
	case SQLITE_ROW:
		return 1;
	case SQLITE_DONE:
		return 0;
	default:
		return -1;	/* logged by db_step */
	}
}

int
db_run(sqlite3_stmt *st)
{
	int	 rc;

	while ((rc = db_step(st)) == SQLITE_ROW)
		continue;
	if (st != NULL)
		sqlite3_reset(st);
	return rc == SQLITE_DONE;
}

/*
 * The writers' queue. SQLite has one write lock per database, and a
 * writer that finds it taken sleeps in its busy handler for 1, 2, 5,
 * 10 ... 100 ms before trying again, however soon the lock comes free:
 * under steady writes from several processes that is most of the p99
 * latency, and a writer can lose again and again. So every writer of
 * the main database first queues on an OFD lock of a file beside it;
 * the kernel wakes the next one the moment the lock is released. The
 * wait is bounded by busy_timeout_ms (an interval timer interrupts it),
 * and ends the transaction's chances, as SQLite's own busy handler
 * would. A queue file that can't be opened only costs the queue.
 */
static int	 queue_fd = -1;
static int	 queue_held;
static int64_t	 queue_failed_at;	/* the last open that failed */

void
db_give_to_owner(int fd)
{
	struct stat	 db;

	/*
	 * A file root creates beside the database (kiln-admin, a cron job
	 * run as root) must stay usable by the web server's user, as
	 * SQLite does for its -wal and -shm files.
	 */
	if (geteuid() == 0 && stat(cfg_get("db_path"), &db) == 0 &&
	    fchown(fd, db.st_uid, db.st_gid) != 0)
		kiln_log(LOG_WARNING, "fchown: %s", strerror(errno));
}

static void
queue_timeout(int sig)
{
	(void)sig;	/* only interrupts the wait */
}

/* Returns 1 in the queue's lock (or without a queue), 0 (logged). */
static int
queue_enter(void)
{
	struct flock		 fl;
	struct itimerval	 t, none;
	struct sigaction	 sa, old;
	int64_t			 ms = cfg_int("busy_timeout_ms");
	char			 path[PATH_MAX];

	/* Without the file, writers go as they did before the queue. */
	if (queue_fd < 0 && iso_now() - queue_failed_at < 60)
		return 1;
	if (queue_fd < 0) {
		snprintf(path, sizeof(path), "%s-writers", cfg_get("db_path"));
		if ((queue_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC,
		    0640)) < 0) {
			kiln_log(LOG_WARNING, "open %s: %s (writers' queue off "
			    "for a minute)", path, strerror(errno));
			queue_failed_at = iso_now();
			return 1;
		}
		db_give_to_owner(queue_fd);
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(queue_fd, F_OFD_SETLK, &fl) == 0)
		return queue_held = 1;		/* nobody waiting */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = queue_timeout;	/* no SA_RESTART: EINTR ends it */
	sigemptyset(&sa.sa_mask);
	memset(&t, 0, sizeof(t));
	memset(&none, 0, sizeof(none));
	t.it_value.tv_sec = ms / 1000;
	t.it_value.tv_usec = ms % 1000 * 1000;
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &t, NULL);
	queue_held = ms > 0 && fcntl(queue_fd, F_OFD_SETLKW, &fl) == 0;
	setitimer(ITIMER_REAL, &none, NULL);
	sigaction(SIGALRM, &old, NULL);
	if (!queue_held)
		kiln_log(LOG_ERR, "writers' queue: still taken after %lld ms",
		    (long long)ms);
	return queue_held;
}

static void
queue_leave(void)
{
	struct flock	 fl;

	if (!queue_held)
		return;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fcntl(queue_fd, F_OFD_SETLK, &fl);
	queue_held = 0;
}

/* Transaction control runs on every request: prepared once, too. */
int
db_begin(sqlite3 *conn)
{
	int	 entered = 0;

	/* Already in the queue: a nested BEGIN fails, the outer one stays. */
	if (conn != NULL && conn == main_conn && !queue_held) {
		if (!queue_enter())
			return 0;
		entered = 1;
	}
	if (db_run(db_prep(conn, "BEGIN IMMEDIATE")))
		return 1;
	if (entered)
		queue_leave();
	return 0;
}

int
db_commit(sqlite3 *conn)
{
	if (db_run(db_prep(conn, "COMMIT"))) {
		queue_leave();
		return 1;
	}
	db_rollback(conn);
	return 0;
}

void
db_rollback(sqlite3 *conn)
{
	if (conn != NULL && !sqlite3_get_autocommit(conn))
		db_run(db_prep(conn, "ROLLBACK"));
	queue_leave();
}

void
db_release(void)
{
	size_t	 i;

	for (i = 0; i < ncache; i++)
		sqlite3_reset(cache[i].st);
	if (main_conn != NULL && !sqlite3_get_autocommit(main_conn)) {
		kiln_log(LOG_ERR, "transaction left open: rolled back");
		db_rollback(main_conn);
	}
	/* Also after a transaction SQLite itself rolled back. */
	queue_leave();
}

const char *
db_text(sqlite3_stmt *st, int col)
{
	const unsigned char	*t = sqlite3_column_text(st, col);

	return t != NULL ? (const char *)t : "";
}

json_t *
db_json_text(sqlite3_stmt *st, int col)
{
	json_t	*s = NULL;

	if (sqlite3_column_type(st, col) != SQLITE_NULL)
		s = json_string(db_text(st, col));
	return s != NULL ? s : json_null();
}

json_t *
db_json_time(sqlite3_stmt *st, int col)
{
	char	 t[ISO_MAX];

	return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null() :
	    json_string(iso_format(t, sqlite3_column_int64(st, col)));
}

json_t *
db_json_int(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null() :
	    json_integer(sqlite3_column_int64(st, col));
}

json_t *
db_json_parsed(sqlite3_stmt *st, int col)
{
	json_t	*j = NULL;

	if (sqlite3_column_type(st, col) != SQLITE_NULL)
		j = json_loads(db_text(st, col), 0, NULL);
	return j != NULL ? j : json_null();
}

int
db_schema_version(void)
{
	return db_nmigrations > 0 ? db_migrations[db_nmigrations - 1].version
	    : 0;
}

static int
user_version(sqlite3 *conn)
{
	sqlite3_stmt	*st;
	int		 v = -1;

	if (sqlite3_prepare_v2(conn, "PRAGMA user_version", -1, &st, NULL)
	    != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
db_migrate(sqlite3 *conn)
{
	char	 bump[64];
	int	 i, have;

	if (conn == NULL)
		return 0;
	for (i = 0; i < db_nmigrations; i++) {
		const struct migration *m = &db_migrations[i];

		/* Read inside the transaction: another migrator may be ahead. */
		if (!db_begin(conn))
			return 0;
		if ((have = user_version(conn)) < 0) {
			db_rollback(conn);
			return 0;
		}
		if (m->version <= have) {
			db_rollback(conn);
			continue;
		}
		snprintf(bump, sizeof(bump), "PRAGMA user_version=%d",
		    m->version);
		if (!exec(conn, m->sql) || !exec(conn, bump)) {
			kiln_log(LOG_ERR, "migration %s failed", m->name);
			db_rollback(conn);
			return 0;
		}
		if (!db_commit(conn))
			return 0;
		kiln_log(LOG_INFO, "applied migration %s", m->name);
	}
	return 1;
}

int
db_schema_ok(void)
{
	static int	 ok;
	int		 have;

	if (ok)
		return 1;
	if (db_main() == NULL)
		return 0;
	have = user_version(main_conn);
	if (have != db_schema_version()) {
		kiln_log(LOG_ERR, "database %s is at schema %d, this build "
		    "needs %d: run kiln-migrate", cfg_get("db_path"), have,
		    db_schema_version());
		return 0;
	}
	ok = 1;
	return 1;
}
