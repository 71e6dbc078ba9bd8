/*
 * auth: sessions, collector keys, passwords and gating.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libscrypt.h>

#include "auth.h"
#include "cfg.h"
#include "db.h"
#include "hash.h"
#include "iso.h"
#include "log.h"
#include "rate.h"
#include "req.h"

const char *
auth_bearer(struct req *r)
{
	const char	*h = req_header(r, "Authorization");

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h != '\0' ? h : NULL;
}

static const char session_sql[] =
    "SELECT u.id, u.public_id, u.account_id, u.role, a.plan "
    "FROM session s JOIN user u ON u.id = s.user_id "
    "JOIN account a ON a.id = u.account_id "
    "WHERE s.token_hash = ?1 AND s.expires_at > ?2";

/* Fills who from a session token. Returns 1 when it is a live session. */
static int
session_lookup(const char *token, struct principal *who)
{
	sqlite3_stmt	*st;
	int		 found = 0;

	if (strncmp(token, TOKEN_PREFIX_SESSION,
	    strlen(TOKEN_PREFIX_SESSION)) != 0 || strlen(token) > KEY_MAX)
		return 0;
	hash_sha256(who->token_hash, token, strlen(token));
	if ((st = db_prep(db_main(), session_sql)) == NULL)
		return 0;
	sqlite3_bind_blob(st, 1, who->token_hash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, iso_now());
	if (db_step(st) == SQLITE_ROW) {
		who->user_id = sqlite3_column_int64(st, 0);
		snprintf(who->user_public_id, sizeof(who->user_public_id),
		    "%s", db_text(st, 1));
		who->account_id = sqlite3_column_int64(st, 2);
		snprintf(who->role, sizeof(who->role), "%s", db_text(st, 3));
		snprintf(who->plan, sizeof(who->plan), "%s", db_text(st, 4));
		/* A person signed in acts with their role's full rights. */
		who->scope = SCOPE_ADMIN;
		found = 1;
	}
	sqlite3_reset(st);
	return found;
}

static const char collector_sql[] =
    "SELECT id FROM server WHERE key_hash = ?1";

int64_t
auth_collector_server(const char *key)
{
	unsigned char	 digest[HASH_LEN];
	sqlite3_stmt	*st;
	int64_t		 id = 0;

	if (!id_key_valid(key, KEY_PREFIX_COLLECTOR) ||
	    !hash_peppered(digest, key) ||
	    (st = db_prep(db_main(), collector_sql)) == NULL)
		return 0;
	sqlite3_bind_blob(st, 1, digest, HASH_LEN, SQLITE_STATIC);
	if (db_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

int
auth_require(struct req *r, struct principal *who, int scope)
{
	const char	*token = auth_bearer(r);
	char		 keyname[2 * 8 + 1];

	memset(who, 0, sizeof(*who));
	if (token == NULL) {
		reply_header(r, "WWW-Authenticate", "Bearer");
		reply_err(r, 401, "unauthorized",
		    "Send Authorization: Bearer <token>.");
		return 0;
	}
	if (!session_lookup(token, who)) {
		if (auth_collector_server(token) != 0) {
			reply_err(r, 403, "insufficient_scope",
			    "A collector key can only push snapshots to "
			    "/ingest.");
			return 0;
		}
		reply_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		reply_err(r, 401, "invalid_token",
		    "The token is invalid, expired or revoked.");
		return 0;
	}
	if (who->scope < scope) {
		reply_err(r, 403, "insufficient_scope",
		    "This key's scope does not allow this request.");
		return 0;
	}
	/* The bucket is named by the token hash, never by the token. */
	hash_hex(keyname, who->token_hash, 8);
	snprintf(who->account_name, sizeof(who->account_name), "%lld",
	    (long long)who->account_id);
	return rate_check(r, &RATE_KEY, keyname) &&
	    rate_check(r, &RATE_ACCOUNT, who->account_name);
}

json_t *
auth_upgrade_url(void)
{
	char	 url[512];

	snprintf(url, sizeof(url), "%s/billing", cfg_get("base_url"));
	return json_string(url);
}

int
auth_gate(struct req *r, const struct principal *who, unsigned gates)
{
	if ((gates & GATE_PRO) && strcmp(who->plan, "pro") != 0) {
		reply_err_extra(r, 402, "pro_required",
		    "This feature needs the Pro plan.",
		    json_pack("{s:o}", "upgrade_url", auth_upgrade_url()));
		return 0;
	}
	if ((gates & GATE_ADMIN) && strcmp(who->role, "owner") != 0 &&
	    strcmp(who->role, "admin") != 0) {
		reply_err(r, 403, "forbidden",
		    "Only the account's owner or an admin may do this.");
		return 0;
	}
	if ((gates & GATE_ADMIN) && who->scope < SCOPE_ADMIN) {
		reply_err(r, 403, "insufficient_scope",
		    "This needs a key with the admin scope.");
		return 0;
	}
	return 1;
}

int
auth_password_hash(char out[128], const char *password)
{
	/* p=1: the header's default p=16 costs over a second per hash. */
	if (libscrypt_hash(out, password, SCRYPT_N, 8, 1) <= 0) {
		kiln_log(LOG_ERR, "libscrypt_hash failed");
		return 0;
	}
	return 1;
}

int
auth_password_check(const char *mcf, const char *password)
{
	char	 copy[SCRYPT_MCF_LEN + 1];

	/* libscrypt_check writes into the MCF buffer it is given. */
	if (strlen(mcf) > SCRYPT_MCF_LEN)
		return 0;
	memcpy(copy, mcf, strlen(mcf) + 1);
	return libscrypt_check(copy, password) > 0;
}

static const char session_insert_sql[] =
    "INSERT INTO session (token_hash, user_id, created_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4)";

int
auth_session_new(int64_t user_id, char token[KEY_MAX], int64_t *expires_at)
{
	unsigned char	 digest[HASH_LEN];
	sqlite3_stmt	*st;
	int64_t		 now = iso_now();

	if (!id_token_new(token, TOKEN_PREFIX_SESSION))
		return 0;
	hash_sha256(digest, token, strlen(token));
	*expires_at = now + cfg_int("session_days") * 86400;
	if ((st = db_prep(db_main(), session_insert_sql)) == NULL)
		return 0;
	sqlite3_bind_blob(st, 1, digest, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, *expires_at);
	return db_run(st);
}

static const char session_delete_sql[] =
    "DELETE FROM session WHERE token_hash = ?1";

int
auth_session_end(const unsigned char token_hash[32])
{
	sqlite3_stmt	*st = db_prep(db_main(), session_delete_sql);

	if (st == NULL)
		return 0;
	sqlite3_bind_blob(st, 1, token_hash, HASH_LEN, SQLITE_STATIC);
	return db_run(st);
}

static const char own_server_sql[] =
    "SELECT id FROM server WHERE public_id = ?1 AND account_id = ?2";

int64_t
auth_own_server(struct req *r, const struct principal *who,
    const char *public_id)
{
	sqlite3_stmt	*st;
	int64_t		 id = 0;

	if (public_id != NULL && id_valid(public_id, "srv_") &&
	    (st = db_prep(db_main(), own_server_sql)) != NULL) {
		sqlite3_bind_text(st, 1, public_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, who->account_id);
		if (db_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	if (id == 0)
		reply_err(r, 404, "not_found", "No such server.");
	return id;
}
