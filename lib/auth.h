/*
 * auth: who is calling. Session tokens (Bearer, from login/register),
 * collector keys (ingest only), passwords, and the tier/role gate that
 * every Pro or (Admin) endpoint goes through.
 */
#ifndef KILN_AUTH_H
#define KILN_AUTH_H

#include <stdint.h>

#include <jansson.h>

#include "hash.h"
#include "id.h"

struct req;

/*
 * What a principal may do: read < write < admin < session. An account
 * key has one of the first three; a signed-in person (a session) may do
 * everything, including what no key may: manage account keys.
 */
enum scope {
	SCOPE_READ = 1,
	SCOPE_WRITE = 2,
	SCOPE_ADMIN = 3,
	SCOPE_SESSION = 4,
};

/* Requirements auth_gate() checks, or-ed together. */
#define GATE_PRO	0x1	/* the account's plan is pro (else 402) */
#define GATE_ADMIN	0x2	/* owner or admin (else 403) */

/* An authenticated caller of a management endpoint. */
struct principal {
	int64_t		 user_id;	/* user row */
	int64_t		 account_id;	/* account row */
	char		 account_bucket[24];	/* account_id, as text */
	char		 user_public_id[ID_MAX];
	char		 role[8];	/* owner, admin, member, viewer */
	char		 plan[8];	/* free, pro */
	int		 scope;		/* enum scope */
	int		 via_cookie;	/* the session came in the cookie */
	unsigned char	 token_hash[32];	/* the session's */
	char		 key_id[ID_MAX];	/* the account key's, "" */
};

/*
 * Authenticates the Bearer token of a management request (a session or
 * an account key) and takes the per-key and per-account rate-limit
 * tokens. Returns 1 and fills who, or 0 having answered (401
 * unauthorized / invalid_token, 403 insufficient_scope for a collector
 * key or a too-narrow scope, 429). Either way, once it knows who is
 * calling it notes that in r for the audit log.
 */
int	auth_require(struct req *r, struct principal *who, int scope);

/*
 * The tier and role gate of Pro / (Admin) endpoints. Returns 1, or 0
 * having answered 402 pro_required (with upgrade_url) or 403 forbidden.
 */
int	auth_gate(struct req *r, const struct principal *who, unsigned gates);

/*
 * Resolves a collector key to its server row. Returns the row id, or 0
 * when the key is malformed or unknown (no database lookup for a key
 * whose checksum is wrong).
 */
int64_t	auth_collector_server(const char *key);

/*
 * What server.key_hash holds for a collector key, computed without the
 * database. Returns 0 when the key can't be one (malformed, or a wrong
 * checksum).
 */
int	auth_collector_digest(const char *key, unsigned char digest[HASH_LEN]);

/*
 * The row id of the caller's server with this public id, or 0 having
 * answered 404 not_found: a malformed id, an unknown one and another
 * account's all look the same (no existence leak).
 */
int64_t	auth_own_server(struct req *r, const struct principal *who,
	    const char *public_id);

/* The upgrade link of 402 answers, "<base_url>/billing". New reference. */
json_t	*auth_upgrade_url(void);

/* The Bearer token of the request, or NULL. Borrowed. */
const char *auth_bearer(struct req *r);

/*
 * The dashboard's session cookie. auth_require() takes a session token
 * from it when there is no Authorization header, and refuses a
 * cookie-authenticated mutation whose Origin is not base_url's (403
 * csrf_rejected): the cookie is HttpOnly, so page scripts never hold the
 * token, and SameSite=Strict alone still trusts sibling subdomains.
 */
#define AUTH_COOKIE	"kiln_session"

/* The session cookie's value, or NULL. Borrowed until the request ends. */
const char *auth_cookie(struct req *r);

/*
 * 1 when the request's Origin header is base_url's origin; 0 when it is
 * another or absent (absent passes when absent_ok).
 */
int	auth_origin_ok(struct req *r, int absent_ok);

/*
 * Adds the Set-Cookie header that starts the session token until
 * expires_at, or with token NULL ends it.
 */
void	auth_cookie_set(struct req *r, const char *token, int64_t expires_at);

/* scrypt (N=16384, r=8, p=1) MCF string into out[128]. Returns 1/0. */
int	auth_password_hash(char out[128], const char *password);

/* 1 when password matches the MCF string mcf. */
int	auth_password_check(const char *mcf, const char *password);

/*
 * Starts a session for user: writes the token (shown once) into
 * token[KEY_MAX] and its expiry into *expires_at. Must run inside the
 * caller's write transaction. Returns 1, or 0 (logged).
 */
int	auth_session_new(int64_t user_id, char token[KEY_MAX],
	    int64_t *expires_at);

/* Ends the session whose token hash is given. Returns 1, or 0. */
int	auth_session_end(const unsigned char token_hash[32]);

#endif
