/*
 * mkservers: creates N servers for the account of an owner's email in
 * one transaction and prints their collector keys, one per line. The
 * ingest benchmark needs thousands of distinct keys (one push per
 * server per 55 s), far past what the API's rate limits allow.
 *   mkservers EMAIL N > keys.txt
 */
#include <stdio.h>
#include <stdlib.h>

#include "kiln.h"

static const char account_sql[] =
    "SELECT account_id FROM user WHERE email = lower(?1)";
static const char insert_sql[] =
    "INSERT INTO server (public_id, account_id, name, hostname, key_hash,"
    " created_at) VALUES (?1, ?2, ?3, ?3, ?4, ?5)";

int
main(int argc, char *argv[])
{
	sqlite3		*conn;
	sqlite3_stmt	*st;
	int64_t		 account = 0;
	long		 n, i;
	char		 id[ID_MAX], key[KEY_MAX], name[32];
	unsigned char	 digest[HASH_LEN];

	log_init(argv[0]);
	if (argc != 3 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fputs("usage: mkservers EMAIL N\n", stderr);
		return 2;
	}
	if (!db_schema_ok() || (conn = db_main()) == NULL ||
	    (st = db_prep(conn, account_sql)) == NULL)
		return 1;
	sqlite3_bind_text(st, 1, argv[1], -1, SQLITE_STATIC);
	if (db_step(st) == SQLITE_ROW)
		account = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (account == 0 || !db_begin(conn)) {
		fprintf(stderr, "mkservers: no account for %s\n", argv[1]);
		return 1;
	}
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "bench-%ld", i);
		if (!id_new(id, "srv_") ||
		    !id_key_new(key, KEY_PREFIX_COLLECTOR) ||
		    !hash_peppered(digest, key) ||
		    (st = db_prep(conn, insert_sql)) == NULL)
			goto fail;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, account);
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, digest, HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, iso_now());
		if (!db_run(st))
			goto fail;
		printf("%s %s\n", id, key);
	}
	return db_commit(conn) ? 0 : 1;
fail:
	db_rollback(conn);
	return 1;
}
