/*
 * idem: idempotency records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hash.h"
#include "idem.h"
#include "iso.h"
#include "log.h"
#include "req.h"

#define KEEP_SECS	(24 * 3600)
/* An in-flight record older than this belonged to a process that died. */
#define STALE_SECS	60

static const char find_sql[] =
    "SELECT request_hash, status, response, created_at FROM idempotency "
    "WHERE account_id = ?1 AND key = ?2";
static const char claim_sql[] =
    "INSERT OR REPLACE INTO idempotency "
    "(account_id, key, request_hash, status, response, created_at) "
    "VALUES (?1, ?2, ?3, NULL, NULL, ?4)";
static const char store_sql[] =
    "UPDATE idempotency SET status = ?3, response = ?4 "
    "WHERE account_id = ?1 AND key = ?2";
static const char forget_sql[] =
    "DELETE FROM idempotency WHERE account_id = ?1 AND key = ?2";

/*
 * Stored responses are sealed: the first answer to POST /servers holds
 * the collector key, which Kiln otherwise keeps only as an HMAC. The
 * record's account and key are bound to the ciphertext.
 */
#define SEAL_LABEL	"idempotency"

static const char *
record_ad(char ad[300], int64_t account_id, const char *key)
{
	snprintf(ad, 300, "%lld|%s", (long long)account_id, key);
	return ad;
}

static void
request_hash(struct req *r, unsigned char out[HASH_LEN])
{
	size_t	 n = strlen(r->method) + strlen(r->path) + 2 + r->body_len;
	char	*buf = req_alloc(r, n);

	memcpy(buf, r->method, strlen(r->method) + 1);
	memcpy(buf + strlen(r->method) + 1, r->path, strlen(r->path) + 1);
	memcpy(buf + strlen(r->method) + strlen(r->path) + 2, r->body,
	    r->body_len);
	hash_sha256(out, buf, n);
}

/* 1-255 printable ASCII characters. */
static int
key_ok(const char *k)
{
	size_t	 n = strlen(k);

	if (n < 1 || n > 255)
		return 0;
	for (; *k != '\0'; k++)
		if (*k < 0x20 || *k > 0x7e)
			return 0;
	return 1;
}

int
idem_begin(struct req *r, int64_t account_id, struct idem *im)
{
	const char	*key = req_header(r, "Idempotency-Key");
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	unsigned char	 hash[HASH_LEN];
	int64_t		 now = iso_now(), created;
	int		 rc;
	char		 ad[300];

	memset(im, 0, sizeof(*im));
	if (key == NULL)
		return 1;
	if (!key_ok(key)) {
		reply_err(r, 400, "invalid_idempotency_key",
		    "Idempotency-Key must be 1 to 255 printable ASCII "
		    "characters.");
		return 0;
	}
	request_hash(r, hash);
	if (!db_begin(conn) || (st = db_prep(conn, find_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if ((rc = db_step(st)) == 0)
		goto fail;
	if (rc == SQLITE_ROW &&
	    (created = sqlite3_column_int64(st, 3)) > now - KEEP_SECS) {
		int	 same = sqlite3_column_bytes(st, 0) == HASH_LEN &&
		    memcmp(sqlite3_column_blob(st, 0), hash, HASH_LEN) == 0;
		int	 done = sqlite3_column_type(st, 1) != SQLITE_NULL;

		if (!same) {
			db_rollback(conn);
			reply_err(r, 422, "idempotency_key_reused",
			    "This Idempotency-Key was used with another "
			    "request.");
			return 0;
		}
		if (done) {
			int	 status = sqlite3_column_int(st, 1);
			char	*plain = hash_unseal(SEAL_LABEL,
			    record_ad(ad, account_id, key), db_text(st, 2));

			sqlite3_reset(st);
			db_rollback(conn);
			if (plain == NULL) {
				reply_err(r, 500, "internal_error", "The stored "
				    "response can't be read (was the pepper "
				    "changed?).");
				return 0;
			}
			reply_header(r, "Idempotency-Replayed", "true");
			reply_text_json(r, status, plain);
			free(plain);
			return 0;
		}
		if (created > now - STALE_SECS) {
			db_rollback(conn);
			reply_err(r, 409, "idempotency_key_conflict",
			    "A request with this Idempotency-Key is still "
			    "in progress.");
			return 0;
		}
	}
	sqlite3_reset(st);
	if ((st = db_prep(conn, claim_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, hash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (!db_run(st) || !db_commit(conn))
		goto fail;
	im->active = 1;
	im->account_id = account_id;
	memcpy(im->key, key, strlen(key) + 1);
	return 1;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error", "Idempotency record failed.");
	return 0;
}

void
idem_finish(struct req *r, struct idem *im)
{
	int		 keep = r->status < 500 && r->status != 429 &&
	    r->status != 409;
	sqlite3_stmt	*st;
	char		 ad[300], *sealed = NULL;

	if (!im->active)
		return;
	im->active = 0;
	/* A response that can't be sealed is forgotten, never kept open. */
	if (keep && (sealed = hash_seal(SEAL_LABEL, record_ad(ad,
	    im->account_id, im->key), r->reply != NULL ? r->reply : "",
	    r->reply_len)) == NULL)
		keep = 0;
	if ((st = db_prep(db_main(), keep ? store_sql : forget_sql)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, im->account_id);
	sqlite3_bind_text(st, 2, im->key, -1, SQLITE_STATIC);
	if (keep) {
		sqlite3_bind_int(st, 3, r->status);
		sqlite3_bind_text(st, 4, sealed, -1, SQLITE_STATIC);
	}
	if (!db_run(st))
		kiln_log(LOG_ERR, "idempotency record %s not finished",
		    im->key);
out:
	free(sealed);
}
