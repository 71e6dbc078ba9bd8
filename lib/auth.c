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

const char *
auth_cookie(struct req *r)
{
	const char	*h = req_header(r, "Cookie"), *p;
	size_t		 n = strlen(AUTH_COOKIE), len;

	/* "a=1; kiln_session=...; b=2": the name at the start or after ';'. */
	for (p = h; p != NULL && *p != '\0'; p = strchr(p, ';')) {
		while (*p == ';' || *p == ' ')
			p++;
		if (strncmp(p, AUTH_COOKIE, n) == 0 && p[n] == '=') {
			p += n + 1;
			len = strcspn(p, "; ");
			if (len == 0 || len > KEY_MAX)
				return NULL;
			return memcpy(req_alloc(r, len + 1), p, len);
		}
	}
	return NULL;
}

/*
 * The length of the origin ("scheme://host[:port]") url starts with,
 * less a default port (browsers drop it from Origin); 0 if none.
 */
static size_t
origin_len(const char *url)
{
	const char	*host = strstr(url, "://"), *end;

	if (host == NULL || host == url)
		return 0;
	end = host + 3 + strcspn(host + 3, "/?#");
	if (strncasecmp(url, "https://", 8) == 0 && end - host > 7 &&
	    strncmp(end - 4, ":443", 4) == 0)
		end -= 4;
	else if (strncasecmp(url, "http://", 7) == 0 && end - host > 6 &&
	    strncmp(end - 3, ":80", 3) == 0)
		end -= 3;
	return (size_t)(end - url);
}

int
auth_origin_ok(struct req *r, int absent_ok)
{
	const char	*origin = req_header(r, "Origin");
	const char	*base = cfg_get("base_url");
	size_t		 n;

	if (origin == NULL || *origin == '\0')
		return absent_ok;
	/* An Origin is an origin only: no path, query, or default port. */
	n = origin_len(base);
	return n > 0 && origin_len(origin) == n && strlen(origin) == n &&
	    strncasecmp(origin, base, n) == 0;
}

void
auth_cookie_set(struct req *r, const char *token, int64_t expires_at)
{
	const char	*https = req_param(r, "HTTPS");
	int		 secure = strncasecmp(cfg_get("base_url"), "https:", 6)
	    == 0 || (https != NULL && strcasecmp(https, "on") == 0);
	int64_t		 age = token != NULL ? expires_at - iso_now() : 0;

	reply_header(r, "Set-Cookie", "%s=%s; Path=" API_PREFIX
	    "; Max-Age=%lld; HttpOnly; SameSite=Strict%s", AUTH_COOKIE,
	    token != NULL ? token : "", (long long)(age > 0 ? age : 0),
	    secure ? "; Secure" : "");
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
		who->scope = SCOPE_SESSION;
		found = 1;
	}
	sqlite3_reset(st);
	return found;
}

static const char collector_sql[] =
    "SELECT id FROM server WHERE key_hash = ?1";

int
auth_collector_digest(const char *key, unsigned char digest[HASH_LEN])
{
	return id_key_valid(key, KEY_PREFIX_COLLECTOR) &&
	    hash_peppered(digest, key);
}

int64_t
auth_collector_server(const char *key)
{
	unsigned char	 digest[HASH_LEN];
	sqlite3_stmt	*st;
	int64_t		 id = 0;

	if (!auth_collector_digest(key, digest) ||
	    (st = db_prep(db_main(), collector_sql)) == NULL)
		return 0;
	sqlite3_bind_blob(st, 1, digest, HASH_LEN, SQLITE_STATIC);
	if (db_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

static const char key_sql[] =
    "SELECT k.id, k.public_id, k.scope, k.last_used_at, u.id, u.public_id,"
    " k.account_id, u.role, a.plan "
    "FROM account_key k JOIN user u ON u.id = k.user_id"
    " AND u.account_id = k.account_id "
    "JOIN account a ON a.id = k.account_id "
    "WHERE k.key_hash = ?1 AND k.revoked_at IS NULL"
    " AND (k.expires_at IS NULL OR k.expires_at > ?2)";
static const char key_used_sql[] =
    "UPDATE account_key SET last_used_at = ?2 WHERE id = ?1"
    " AND (last_used_at IS NULL OR last_used_at <= ?2 - 60)";

/*
 * Fills who from an account key: its owner's user, role and account,
 * narrowed to the key's scope. Returns 1 when the key is live (well
 * formed, known, neither revoked nor expired). Its last use is written
 * at most once a minute: a busy key must not write on every request.
 */
static int
key_lookup(const char *key, struct principal *who)
{
	unsigned char	 digest[HASH_LEN];
	sqlite3_stmt	*st;
	const char	*scope;
	int64_t		 now = iso_now(), row = 0, used = 0;

	if (!id_key_valid(key, KEY_PREFIX_ACCOUNT) ||
	    !hash_peppered(digest, key) ||
	    (st = db_prep(db_main(), key_sql)) == NULL)
		return 0;
	sqlite3_bind_blob(st, 1, digest, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if (db_step(st) == SQLITE_ROW) {
		row = sqlite3_column_int64(st, 0);
		snprintf(who->key_id, sizeof(who->key_id), "%s",
		    db_text(st, 1));
		scope = db_text(st, 2);
		who->scope = strcmp(scope, "admin") == 0 ? SCOPE_ADMIN :
		    strcmp(scope, "write") == 0 ? SCOPE_WRITE : SCOPE_READ;
		used = sqlite3_column_type(st, 3) == SQLITE_NULL ? INT64_MIN :
		    sqlite3_column_int64(st, 3);
		who->user_id = sqlite3_column_int64(st, 4);
		snprintf(who->user_public_id, sizeof(who->user_public_id),
		    "%s", db_text(st, 5));
		who->account_id = sqlite3_column_int64(st, 6);
		snprintf(who->role, sizeof(who->role), "%s", db_text(st, 7));
		snprintf(who->plan, sizeof(who->plan), "%s", db_text(st, 8));
	}
	sqlite3_reset(st);
	/* A failed note of the last use is logged; the request goes on. */
	if (row != 0 && (used == INT64_MIN || now - used >= 60) &&
	    (st = db_prep(db_main(), key_used_sql)) != NULL) {
		sqlite3_bind_int64(st, 1, row);
		sqlite3_bind_int64(st, 2, now);
		db_run(st);
	}
	return row != 0;
}

/* Tells the audit log who is calling: the key, else the person. */
static void
note_caller(struct req *r, const struct principal *who)
{
	snprintf(r->who, sizeof(r->who), "%s", who->key_id[0] != '\0' ?
	    who->key_id : who->user_public_id);
	r->who_account = who->account_id;
}

int
auth_require(struct req *r, struct principal *who, int scope)
{
	const char	*token = auth_bearer(r);
	char		 keyname[2 * 8 + 1];
	int		 via_cookie = 0;

	memset(who, 0, sizeof(*who));
	/* The Authorization header wins; the cookie carries sessions only. */
	if (token == NULL && (token = auth_cookie(r)) != NULL)
		via_cookie = 1;
	if (token == NULL) {
		reply_header(r, "WWW-Authenticate", "Bearer");
		reply_err(r, 401, "unauthorized",
		    "Send Authorization: Bearer <token>.");
		return 0;
	}
	if (via_cookie && strcmp(r->method, "GET") != 0 &&
	    strcmp(r->method, "HEAD") != 0 && !auth_origin_ok(r, 0)) {
		reply_err(r, 403, "csrf_rejected",
		    "A request signed in by cookie must come from the "
		    "dashboard's origin.");
		return 0;
	}
	if (via_cookie) {
		if (session_lookup(token, who)) {
			who->via_cookie = 1;
			goto limits;
		}
		auth_cookie_set(r, NULL, 0);
		reply_err(r, 401, "invalid_token",
		    "The session is invalid, expired or revoked; sign in "
		    "again.");
		return 0;
	}
	if (strncmp(token, KEY_PREFIX_ACCOUNT, strlen(KEY_PREFIX_ACCOUNT))
	    == 0 ? !key_lookup(token, who) : !session_lookup(token, who)) {
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
limits:
	note_caller(r, who);
	if (who->scope < scope) {
		reply_err(r, 403, "insufficient_scope", "%s",
		    scope == SCOPE_SESSION ? "Account keys are managed "
		    "signed in, not with an account key." :
		    "This key's scope does not allow this request.");
		return 0;
	}
	/*
	 * The bucket is named by the account key's id, or by the session
	 * token's hash: never by the token.
	 */
	hash_hex(keyname, who->token_hash, 8);
	snprintf(who->account_bucket, sizeof(who->account_bucket), "%lld",
	    (long long)who->account_id);
	return rate_check(r, &RATE_KEY, who->key_id[0] != '\0' ?
	    who->key_id : keyname) &&
	    rate_check(r, &RATE_ACCOUNT, who->account_bucket);
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
