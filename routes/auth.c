/*
 * auth: /api/v1/auth/register, login, logout, me, verify.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "kiln.h"

#define PASSWORD_MIN	12	/* bytes */
#define PASSWORD_MAX	1024
#define LOCK_AFTER	5	/* consecutive failures */
#define LOCK_SECS	(15 * 60)
#define VERIFY_SECS	(24 * 3600)

/* A well-formed scrypt hash of nothing anyone knows, for timing parity. */
static char	 decoy_hash[128];

static const char user_sql[] =
    "SELECT u.public_id, u.email, u.name, u.verified_at IS NOT NULL,"
    " u.created_at, u.role, a.plan,"
    " (SELECT count(*) FROM server s WHERE s.account_id = a.id) "
    "FROM user u JOIN account a ON a.id = u.account_id WHERE u.id = ?1";

/* The user object of register (brief) and me (full). New reference. */
static json_t *
user_json(int64_t user_id, int full)
{
	sqlite3_stmt	*st = db_prep(db_main(), user_sql);
	char		 created[ISO_MAX];
	json_t		*u = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, user_id);
	if (db_step(st) != SQLITE_ROW)
		goto out;
	u = json_pack("{s:s, s:s, s:s, s:b, s:s}",
	    "id", db_text(st, 0), "email", db_text(st, 1),
	    "name", db_text(st, 2), "verified", sqlite3_column_int(st, 3),
	    "created_at", iso_format(created, sqlite3_column_int64(st, 4)));
	if (full && u != NULL) {
		json_object_set_new(u, "role", json_string(db_text(st, 5)));
		json_object_set_new(u, "servers_count",
		    json_integer(sqlite3_column_int64(st, 7)));
		json_object_set_new(u, "plan", json_string(db_text(st, 6)));
	}
out:
	sqlite3_reset(st);
	return u;
}

/* Reads email (normalised to lower case) and password from the body. */
static int
credentials(struct req *r, json_t *body, char *email, size_t emailsz,
    const char **password)
{
	const char	*e, *p;
	size_t		 i, n;

	if (!valid_string(r, body, "email", 3, 254, 1, &e))
		return 0;
	n = strlen(e);
	if (n >= emailsz || !valid_email(e)) {
		valid_fail(r, "email", "email is not a valid address.");
		return 0;
	}
	for (i = 0; i <= n; i++)
		email[i] = (char)tolower((unsigned char)e[i]);
	if (!valid_string(r, body, "password", 1, PASSWORD_MAX, 1, &p))
		return 0;
	*password = p;
	return 1;
}

/*
 * 1 when the dashboard asks for the session in an HttpOnly cookie
 * ("cookie": true, or X-Kiln-Session: cookie) instead of the body; 0
 * otherwise, or having answered 403 csrf_rejected when such a request
 * comes from another origin (a sibling site signing the browser in).
 */
static int
wants_cookie(struct req *r, json_t *body, int *cookie)
{
	const char	*h = req_header(r, "X-Kiln-Session");

	*cookie = json_is_true(json_object_get(body, "cookie")) ||
	    (h != NULL && strcmp(h, "cookie") == 0);
	if (*cookie && !auth_origin_ok(r, 1)) {
		reply_err(r, 403, "csrf_rejected",
		    "A cookie session can only be started from the "
		    "dashboard's origin.");
		return 0;
	}
	return 1;
}

static const char email_taken_sql[] =
    "SELECT 1 FROM user WHERE email = ?1";
static const char account_insert_sql[] =
    "INSERT INTO account (public_id, created_at) VALUES (?1, ?2)";
static const char user_insert_sql[] =
    "INSERT INTO user (public_id, account_id, email, name, password_hash,"
    " role, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'owner', ?6)";
static const char token_insert_sql[] =
    "INSERT INTO email_token (token_hash, user_id, purpose, expires_at) "
    "VALUES (?1, ?2, 'verify', ?3)";
static const char mail_insert_sql[] =
    "INSERT INTO mail_outbox (recipient, subject, body, created_at) "
    "VALUES (?1, ?2, ?3, ?4)";

/* Queues the verification email. Inside the caller's transaction. */
static int
queue_verification(int64_t user_id, const char *email, const char *name,
    int64_t now)
{
	char		 token[KEY_MAX], body[1024];
	unsigned char	 digest[HASH_LEN];
	sqlite3_stmt	*st;

	if (!id_token_new(token, TOKEN_PREFIX_VERIFY))
		return 0;
	hash_sha256(digest, token, strlen(token));
	if ((st = db_prep(db_main(), token_insert_sql)) == NULL)
		return 0;
	sqlite3_bind_blob(st, 1, digest, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, now + VERIFY_SECS);
	if (!db_run(st))
		return 0;
	snprintf(body, sizeof(body),
	    "Hello %s,\n\nconfirm your email address for Kiln by opening\n\n"
	    "  %s/verify?token=%s\n\nor by sending this token to "
	    "POST /api/v1/auth/verify:\n\n  %s\n\n"
	    "The link expires in 24 hours.\n", name, cfg_get("base_url"),
	    token, token);
	if ((st = db_prep(db_main(), mail_insert_sql)) == NULL)
		return 0;
	sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, "Confirm your email address", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	return db_run(st);
}

static void
auth_register(struct req *r)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	json_t		*body, *user;
	const char	*password, *name;
	char		 email[256], hash[128], acct_id[ID_MAX], user_id[ID_MAX];
	char		 token[KEY_MAX], expires_iso[ISO_MAX];
	int64_t		 now = iso_now(), account_row, user_row, expires;
	int		 taken, cookie;

	if ((body = req_json_object(r)) == NULL ||
	    !credentials(r, body, email, sizeof(email), &password) ||
	    !valid_string(r, body, "name", 1, 100, 1, &name) ||
	    !wants_cookie(r, body, &cookie))
		return;
	/* valid_string() counts characters; the limits are in bytes. */
	if (strlen(password) < PASSWORD_MIN ||
	    strlen(password) > PASSWORD_MAX) {
		valid_fail(r, "password", "password must be %d to %d bytes.",
		    PASSWORD_MIN, PASSWORD_MAX);
		return;
	}
	/* Counted after validation: a typo should not burn the hour. */
	if (!rate_check(r, &RATE_REGISTER, r->ip))
		return;
	/* Hashing takes ~50 ms: do it before taking the write lock. */
	if (!auth_password_hash(hash, password) ||
	    !id_new(acct_id, "acc_") || !id_new(user_id, "usr_"))
		goto fail;
	if (!db_begin(conn) || (st = db_prep(conn, email_taken_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
	taken = db_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (taken) {
		db_rollback(conn);
		reply_err(r, 409, "email_taken",
		    "An account with this email already exists.");
		return;
	}
	if ((st = db_prep(conn, account_insert_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, acct_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if (!db_run(st))
		goto fail;
	account_row = sqlite3_last_insert_rowid(conn);
	if ((st = db_prep(conn, user_insert_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, account_row);
	sqlite3_bind_text(st, 3, email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	if (!db_run(st))
		goto fail;
	user_row = sqlite3_last_insert_rowid(conn);
	if (!queue_verification(user_row, email, name, now) ||
	    !auth_session_new(user_row, token, &expires) ||
	    (user = user_json(user_row, 0)) == NULL)
		goto fail;
	if (!db_commit(conn)) {
		json_decref(user);
		goto fail;
	}
	iso_format(expires_iso, expires);
	if (cookie) {
		auth_cookie_set(r, token, expires);
		reply_json(r, 201, json_pack("{s:o, s:s, s:s}", "user", user,
		    "session", "cookie", "expires_at", expires_iso));
	} else
		reply_json(r, 201, json_pack("{s:o, s:s, s:s}", "user", user,
		    "token", token, "expires_at", expires_iso));
	return;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error", "The account was not created.");
}

static const char login_sql[] =
    "SELECT id, password_hash FROM user WHERE email = ?1";
static const char login_ok_sql[] =
    "DELETE FROM login_failure WHERE email_hash = ?1";
/*
 * Failures are counted per email whether or not a user has it, so a
 * lock says nothing about which addresses exist. ?1 email hash, ?2
 * failures that lock, ?3 end of the lock.
 */
static const char login_locked_sql[] =
    "SELECT locked_until FROM login_failure WHERE email_hash = ?1";
static const char login_failed_sql[] =
    "INSERT INTO login_failure (email_hash, failures, locked_until) "
    "VALUES (?1, 1, 0) "
    "ON CONFLICT (email_hash) DO UPDATE SET"
    " failures = CASE WHEN failures + 1 >= ?2 THEN 0"
    "  ELSE failures + 1 END,"
    " locked_until = CASE WHEN failures + 1 >= ?2 THEN ?3"
    "  ELSE locked_until END";

static void
auth_login(struct req *r)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	json_t		*body;
	const char	*password;
	char		 email[256], mcf[160] = "", token[KEY_MAX];
	char		 expires_iso[ISO_MAX], key[2 * HASH_LEN + 1];
	unsigned char	 digest[HASH_LEN];
	int64_t		 now = iso_now(), user = 0, locked = 0, expires;
	int		 cookie, ok;

	if ((body = req_json_object(r)) == NULL ||
	    !credentials(r, body, email, sizeof(email), &password) ||
	    !wants_cookie(r, body, &cookie))
		return;
	hash_sha256(digest, email, strlen(email));
	hash_hex(key, digest, HASH_LEN);
	if ((st = db_prep(db_rate(), login_locked_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (db_step(st) == SQLITE_ROW)
		locked = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if ((st = db_prep(conn, login_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
	if (db_step(st) == SQLITE_ROW) {
		user = sqlite3_column_int64(st, 0);
		snprintf(mcf, sizeof(mcf), "%s", db_text(st, 1));
	}
	sqlite3_reset(st);
	/*
	 * Every answer, locked or not, known email or not, costs the same
	 * scrypt work: an unknown email is checked against the decoy.
	 */
	if (user == 0) {
		if (decoy_hash[0] == '\0')
			auth_password_hash(decoy_hash, "decoy password");
		auth_password_check(decoy_hash, password);
		ok = 0;
	} else
		ok = auth_password_check(mcf, password);
	if (locked > now) {
		reply_header(r, "Retry-After", "%lld",
		    (long long)(locked - now));
		reply_err(r, 429, "account_locked",
		    "Too many failed sign-ins; try again in %lld minutes.",
		    (long long)((locked - now + 59) / 60));
		return;
	}
	if (!ok) {
		if ((st = db_prep(db_rate(), login_failed_sql)) == NULL)
			goto fail;
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, LOCK_AFTER);
		sqlite3_bind_int64(st, 3, now + LOCK_SECS);
		if (!db_run(st))
			goto fail;
		goto denied;
	}
	/* The failures live in the rate database: reset them on their own. */
	if ((st = db_prep(db_rate(), login_ok_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (!db_run(st))
		goto fail;
	if (!auth_session_new(user, token, &expires))
		goto fail;
	iso_format(expires_iso, expires);
	if (cookie) {
		auth_cookie_set(r, token, expires);
		reply_json(r, 200, json_pack("{s:s, s:s}", "session", "cookie",
		    "expires_at", expires_iso));
	} else
		reply_json(r, 200, json_pack("{s:s, s:s}", "token", token,
		    "expires_at", expires_iso));
	return;
denied:
	reply_err(r, 401, "invalid_credentials",
	    "Email or password is incorrect.");
	return;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error", "Sign-in failed.");
}

static void
auth_logout(struct req *r, const struct principal *who)
{
	if (!auth_session_end(who->token_hash)) {
		reply_err(r, 500, "internal_error", "Sign-out failed.");
		return;
	}
	if (who->via_cookie || auth_cookie(r) != NULL)
		auth_cookie_set(r, NULL, 0);
	reply_none(r, 204);
}

static void
auth_me(struct req *r, const struct principal *who)
{
	json_t	*u = user_json(who->user_id, 1);

	if (u == NULL)
		reply_err(r, 500, "internal_error", "The profile is missing.");
	else
		reply_json(r, 200, u);
}

static const char verify_sql[] =
    "UPDATE email_token SET used_at = ?2 "
    "WHERE token_hash = ?1 AND purpose = 'verify' AND used_at IS NULL"
    " AND expires_at > ?2 RETURNING user_id";
static const char verified_sql[] =
    "UPDATE user SET verified_at = coalesce(verified_at, ?2) WHERE id = ?1";

static void
auth_verify(struct req *r)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	json_t		*body;
	const char	*token;
	unsigned char	 digest[HASH_LEN];
	int64_t		 now = iso_now(), user = 0;

	if ((body = req_json_object(r)) == NULL ||
	    !valid_string(r, body, "token", 1, 128, 1, &token))
		return;
	hash_sha256(digest, token, strlen(token));
	if (!db_begin(conn) || (st = db_prep(conn, verify_sql)) == NULL)
		goto fail;
	sqlite3_bind_blob(st, 1, digest, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if (db_step(st) == SQLITE_ROW)
		user = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (user == 0) {
		db_rollback(conn);
		reply_err(r, 400, "invalid_token",
		    "The verification token is unknown, used or expired.");
		return;
	}
	if ((st = db_prep(conn, verified_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, user);
	sqlite3_bind_int64(st, 2, now);
	if (!db_run(st) || !db_commit(conn))
		goto fail;
	reply_json(r, 200, json_pack("{s:b, s:b}", "success", 1,
	    "verified", 1));
	return;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error", "Verification failed.");
}

static void
dispatch(struct req *r)
{
	struct principal	 who;
	int			 post = strcmp(r->method, "POST") == 0;
	const char		*op = req_seg(r, 1);

	if (r->nsegs != 2 || op == NULL ||
	    strcmp(req_seg(r, 0), "auth") != 0) {
		reply_err(r, 404, "not_found", "No such endpoint.");
		return;
	}
	if (strcmp(op, "me") == 0) {
		if (strcmp(r->method, "GET") != 0)
			reply_method_not_allowed(r, "GET");
		else if (auth_require(r, &who, SCOPE_READ))
			auth_me(r, &who);
		return;
	}
	if (strcmp(op, "register") != 0 && strcmp(op, "login") != 0 &&
	    strcmp(op, "logout") != 0 && strcmp(op, "verify") != 0) {
		reply_err(r, 404, "not_found", "No such endpoint.");
		return;
	}
	if (!post) {
		reply_method_not_allowed(r, "POST");
		return;
	}
	if (strcmp(op, "register") == 0)
		auth_register(r);
	else if (strcmp(op, "login") == 0)
		auth_login(r);
	else if (strcmp(op, "verify") == 0)
		auth_verify(r);
	else if (auth_require(r, &who, SCOPE_SESSION))
		auth_logout(r, &who);
}

int
main(void)
{
	static const struct route rt = {
		.name = "auth",
		.dispatch = dispatch,
	};

	return req_run(&rt);
}
