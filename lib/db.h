/*
 * db: the SQLite connections of a process, their prepared statements,
 * transactions and migrations.
 *
 * A process keeps one connection to the main database and one to the
 * rate-limit database, opened on first use and kept until exit, each
 * with busy_timeout, foreign_keys=ON, synchronous=NORMAL and WAL.
 */
#ifndef KILN_DB_H
#define KILN_DB_H

#include <stdint.h>
#include <jansson.h>
#include <sqlite3.h>

/* The main database, opened on first use. NULL (logged) if it can't be. */
sqlite3		*db_main(void);

/*
 * From now on, checkpoints of the main database run in a thread of this
 * process instead of inside the commit that fills the WAL (for route
 * processes that write on every request). Returns 1, or 0 (logged; the
 * auto-checkpoint then stays).
 */
int		 db_checkpoint_in_background(void);

/* How many checkpoints that thread has completed. */
int		 db_checkpoints_run(void);

/*
 * For a process with nothing to do: a WAL grown past 64 MiB is
 * checkpointed and truncated. Returns 1, or 0 when busy or failed.
 */
int		 db_wal_trim(void);

/*
 * When running as root, gives a file just opened beside the database to
 * the database's owner, so the web server's user can still open it.
 */
void		 db_give_to_owner(int fd);

/* The login-failure database (disposable counts; synchronous=OFF). */
sqlite3		*db_rate(void);

/*
 * A prepared statement for sql on conn, prepared once per process and
 * cached by the address of sql (pass a static string). It comes back
 * reset with its bindings cleared. Borrowed; NULL (logged) on error.
 */
sqlite3_stmt	*db_prep(sqlite3 *conn, const char *sql);

/*
 * Steps a statement that returns no row (or whose rows are ignored) to
 * completion and resets it. Returns 1, or 0 (logged).
 */
int		 db_run(sqlite3_stmt *st);

/*
 * Steps a statement once. Returns SQLITE_ROW or SQLITE_DONE, or 0
 * (logged) on error; the caller resets it (db_release does at the latest).
 */
int		 db_step(sqlite3_stmt *st);

/*
 * Steps a statement that returns rows: 1 for a row, 0 at the end, -1 on
 * error (logged). For loops that must not take an error for the end of
 * the rows: while ((rc = db_next(st)) > 0) ...; if (rc < 0) fail.
 */
int		 db_next(sqlite3_stmt *st);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Return 1, or 0 (logged). */
int		 db_begin(sqlite3 *conn);
int		 db_commit(sqlite3 *conn);
void		 db_rollback(sqlite3 *conn);

/*
 * End of a request: resets every cached statement (so no read
 * transaction stays open between requests) and rolls back a transaction
 * a handler left open, logging it as the bug it is.
 */
void		 db_release(void);

/* sqlite3_column_text as a C string; "" for NULL. Borrowed until reset. */
const char	*db_text(sqlite3_stmt *st, int col);

/*
 * A column as JSON, null for NULL; each returns a new reference (json_t
 * setters that end in _new steal it). db_json_text: a string (null too
 * for text JSON can't carry); db_json_time: Unix seconds as ISO 8601;
 * db_json_int: an integer; db_json_parsed: JSON text parsed (null when
 * it does not parse).
 */
json_t		*db_json_text(sqlite3_stmt *st, int col);
json_t		*db_json_time(sqlite3_stmt *st, int col);
json_t		*db_json_int(sqlite3_stmt *st, int col);
json_t		*db_json_parsed(sqlite3_stmt *st, int col);

/* The schema version the build expects (the last migration's number). */
int		 db_schema_version(void);

/*
 * Applies the migrations newer than the database's user_version, each
 * in its own transaction. Returns 1, or 0 (logged).
 */
int		 db_migrate(sqlite3 *conn);

/* 1 when the main database is at the expected version (logged if not). */
int		 db_schema_ok(void);

#endif
