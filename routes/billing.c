/*
 * billing: /api/v1/billing/status, the Stripe-backed /billing/checkout,
 * /billing/portal, /billing/resume, /billing/downgrade, and Stripe's
 * /billing/webhook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "billing.h"
#include "stripe.h"

#define WEBHOOK_MAX_BODY	(256 * 1024)
#define SIG_TOLERANCE		300	/* seconds either way, as Stripe's */
#define SIG_MAX_V1		8	/* one per active signing secret */
#define STRIPE_ID_MAX		256

/* --- the account's side ------------------------------------------------ */

static const char status_sql[] =
    "SELECT a.plan, a.has_default_payment_method, a.current_period_end,"
    " a.cancel_at_period_end, a.billing_enforcement_exempt,"
    " (SELECT count(*) FROM server s WHERE s.account_id = a.id"
    "  AND s.status = 'active'),"
    " (SELECT count(*) FROM server s WHERE s.account_id = a.id"
    "  AND s.status = 'suspended'"
    "  AND s.suspended_reason = '" BILLING_NO_CARD "') "
    "FROM account a WHERE a.id = ?1";

/* The account's billing state as GET /billing/status shows it, or NULL. */
static json_t *
status_json(int64_t account_id)
{
	sqlite3_stmt	*st = db_prep(db_main(), status_sql);
	json_t		*j = NULL;
	char		 t[ISO_MAX];

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, account_id);
	if (db_step(st) == SQLITE_ROW)
		j = json_pack("{s:s, s:b, s:o, s:b, s:b, s:I, s:I, s:I}",
		    "plan", db_text(st, 0),
		    "has_default_payment_method", sqlite3_column_int(st, 1),
		    "current_period_end",
		    sqlite3_column_type(st, 2) == SQLITE_NULL ? json_null() :
		    json_string(iso_format(t, sqlite3_column_int64(st, 2))),
		    "cancel_at_period_end", sqlite3_column_int(st, 3),
		    "billing_enforcement_exempt", sqlite3_column_int(st, 4),
		    "active_server_count",
		    (json_int_t)sqlite3_column_int64(st, 5),
		    "suspended_no_card_count",
		    (json_int_t)sqlite3_column_int64(st, 6),
		    "free_server_quota",
		    (json_int_t)cfg_int("free_server_quota"));
	sqlite3_reset(st);
	return j;
}

static void
billing_status(struct req *r, const struct principal *who)
{
	json_t	*j = status_json(who->account_id);

	if (j != NULL)
		reply_json(r, 200, j);
	else
		reply_err(r, 500, "internal_error", "The status failed.");
}

/* What the Stripe calls need to know of the caller's account. */
struct acct {
	char	 public_id[ID_MAX];
	char	 plan[8];
	char	 email[256];			/* the owner's */
	char	 customer[STRIPE_ID_MAX];	/* "" until created */
	char	 subscription[STRIPE_ID_MAX];	/* "" when none */
};

static const char acct_sql[] =
    "SELECT a.public_id, a.plan, coalesce((SELECT u.email FROM user u"
    "  WHERE u.account_id = a.id AND u.role = 'owner'"
    "  ORDER BY u.id LIMIT 1), ''),"
    " coalesce(a.stripe_customer_id, ''),"
    " coalesce(a.stripe_subscription_id, '') "
    "FROM account a WHERE a.id = ?1";

/* Loads the account, or answers 500 and returns 0. */
static int
acct_load(struct req *r, int64_t account_id, struct acct *a)
{
	sqlite3_stmt	*st = db_prep(db_main(), acct_sql);
	int		 ok = 0;

	if (st != NULL) {
		sqlite3_bind_int64(st, 1, account_id);
		if ((ok = db_step(st) == SQLITE_ROW)) {
			snprintf(a->public_id, sizeof(a->public_id), "%s",
			    db_text(st, 0));
			snprintf(a->plan, sizeof(a->plan), "%s",
			    db_text(st, 1));
			snprintf(a->email, sizeof(a->email), "%s",
			    db_text(st, 2));
			snprintf(a->customer, sizeof(a->customer), "%s",
			    db_text(st, 3));
			snprintf(a->subscription, sizeof(a->subscription),
			    "%s", db_text(st, 4));
		}
		sqlite3_reset(st);
	}
	if (!ok)
		reply_err(r, 500, "internal_error",
		    "The account could not be read.");
	return ok;
}

static const char customer_set_sql[] =
    "UPDATE account SET stripe_customer_id ="
    " coalesce(stripe_customer_id, ?2) WHERE id = ?1";

/*
 * Makes sure the account has a Stripe customer, creating it on first
 * use. Returns 1 with a->customer set, or 0 having answered. Two first
 * uses at once get the same customer: Stripe replays the Idempotency-Key.
 */
static int
ensure_customer(struct req *r, int64_t account_id, struct acct *a)
{
	struct stripe_field	 f[2];
	sqlite3_stmt		*st;
	json_t			*j;
	const char		*id;
	char			 err[STRIPE_ERR_MAX], idem[64];
	size_t			 n = 0;
	int			 ok;

	if (a->customer[0] != '\0')
		return 1;
	f[n++] = (struct stripe_field){ "metadata[kiln_account]",
	    a->public_id };
	if (a->email[0] != '\0')
		f[n++] = (struct stripe_field){ "email", a->email };
	snprintf(idem, sizeof(idem), "kiln-customer-%s", a->public_id);
	if ((j = stripe_post("/v1/customers", f, n, idem, err)) == NULL) {
		reply_err(r, 502, "stripe_error", "%s", err);
		return 0;
	}
	if ((id = stripe_id(json_object_get(j, "id"))) == NULL) {
		json_decref(j);
		reply_err(r, 502, "stripe_error",
		    "Stripe's answer has no customer id.");
		return 0;
	}
	ok = (st = db_prep(db_main(), customer_set_sql)) != NULL;
	if (ok) {
		sqlite3_bind_int64(st, 1, account_id);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
		ok = db_run(st);
	}
	json_decref(j);
	if (!ok) {
		reply_err(r, 500, "internal_error",
		    "The Stripe customer was not recorded.");
		return 0;
	}
	/* Whoever recorded one first wins. */
	return acct_load(r, account_id, a);
}

/* Answers {url} from a Stripe session object. Steals j. */
static void
reply_url(struct req *r, json_t *j)
{
	const char	*url = json_string_value(json_object_get(j, "url"));

	if (url == NULL || *url == '\0')
		reply_err(r, 502, "stripe_error",
		    "Stripe's answer has no url.");
	else
		reply_json(r, 200, json_pack("{s:s}", "url", url));
	json_decref(j);
}

/* Creates the Checkout Session and answers {url}. */
static void
checkout_session(struct req *r, const struct acct *a, const char *price)
{
	const char		*base = cfg_get("base_url");
	char			 ok_url[1024], back_url[1024];
	char			 err[STRIPE_ERR_MAX];
	const struct stripe_field f[] = {
		{ "mode", "subscription" },
		{ "customer", a->customer },
		{ "client_reference_id", a->public_id },
		{ "line_items[0][price]", price },
		{ "line_items[0][quantity]", "1" },
		{ "success_url", ok_url },
		{ "cancel_url", back_url },
		{ "metadata[kiln_account]", a->public_id },
		{ "subscription_data[metadata][kiln_account]", a->public_id },
	};
	json_t			*j;

	/* Stripe fills in {CHECKOUT_SESSION_ID} itself. */
	snprintf(ok_url, sizeof(ok_url), "%s/billing?checkout=success"
	    "&session_id={CHECKOUT_SESSION_ID}", base);
	snprintf(back_url, sizeof(back_url), "%s/billing?checkout=cancelled",
	    base);
	if ((j = stripe_post("/v1/checkout/sessions", f,
	    sizeof(f) / sizeof(f[0]), NULL, err)) == NULL)
		reply_err(r, 502, "stripe_error", "%s", err);
	else
		reply_url(r, j);
}

static void
billing_checkout(struct req *r, const struct principal *who)
{
	const char	*price = cfg_get("stripe_price_pro");
	struct acct	 a;

	if (*price == '\0') {
		reply_err(r, 503, "billing_unavailable",
		    "Billing is not configured on this server (no price).");
		return;
	}
	if (!acct_load(r, who->account_id, &a))
		return;
	if (strcmp(a.plan, "pro") == 0 && a.subscription[0] != '\0') {
		reply_err(r, 409, "already_subscribed",
		    "The account already has a Pro subscription; manage it "
		    "in the billing portal.");
		return;
	}
	if (ensure_customer(r, who->account_id, &a))
		checkout_session(r, &a, price);
}

/* Creates the Customer Portal session and answers {url}. */
static void
portal_session(struct req *r, const struct acct *a)
{
	char			 back_url[1024], err[STRIPE_ERR_MAX];
	const struct stripe_field f[] = {
		{ "customer", a->customer },
		{ "return_url", back_url },
	};
	json_t			*j;

	snprintf(back_url, sizeof(back_url), "%s/billing",
	    cfg_get("base_url"));
	if ((j = stripe_post("/v1/billing_portal/sessions", f,
	    sizeof(f) / sizeof(f[0]), NULL, err)) == NULL)
		reply_err(r, 502, "stripe_error", "%s", err);
	else
		reply_url(r, j);
}

static void
billing_portal(struct req *r, const struct principal *who)
{
	struct acct	 a;

	if (acct_load(r, who->account_id, &a) &&
	    ensure_customer(r, who->account_id, &a))
		portal_session(r, &a);
}

/*
 * The end of a subscription's current period: top level in Stripe's
 * older API versions, on each item since 2025-03-31. 0 when absent.
 */
static int64_t
period_end(json_t *sub)
{
	json_t		*v = json_object_get(sub, "current_period_end"), *it;
	int64_t		 end = 0;
	size_t		 i;

	if (json_is_integer(v))
		return json_integer_value(v);
	json_array_foreach(json_object_get(json_object_get(sub, "items"),
	    "data"), i, it) {
		v = json_object_get(it, "current_period_end");
		if (json_is_integer(v) && json_integer_value(v) > end)
			end = json_integer_value(v);
	}
	return end;
}

static const char cancel_set_sql[] =
    "UPDATE account SET cancel_at_period_end = ?2,"
    " current_period_end = coalesce(?3, current_period_end) "
    "WHERE id = ?1 AND stripe_subscription_id = ?4";

/* resume (cancel 0) and downgrade (cancel 1): the renewal switch. */
static void
set_cancel(struct req *r, const struct principal *who, int cancel)
{
	struct stripe_field	 f = { "cancel_at_period_end",
	    cancel ? "true" : "false" };
	struct acct		 a;
	sqlite3_stmt		*st;
	json_t			*j, *v;
	char			 path[STRIPE_ID_MAX + 32];
	char			 err[STRIPE_ERR_MAX];
	int64_t			 end;
	int			 ok;

	if (!acct_load(r, who->account_id, &a))
		return;
	if (a.subscription[0] == '\0') {
		reply_err(r, 409, "no_subscription",
		    "The account has no Stripe subscription to change.");
		return;
	}
	/* The id came from stripe_id(): letters, digits and '_' only. */
	snprintf(path, sizeof(path), "/v1/subscriptions/%s", a.subscription);
	if ((j = stripe_post(path, &f, 1, NULL, err)) == NULL) {
		reply_err(r, 502, "stripe_error", "%s", err);
		return;
	}
	v = json_object_get(j, "cancel_at_period_end");
	if (json_is_boolean(v))
		cancel = json_is_true(v);
	end = period_end(j);
	json_decref(j);
	ok = (st = db_prep(db_main(), cancel_set_sql)) != NULL;
	if (ok) {
		sqlite3_bind_int64(st, 1, who->account_id);
		sqlite3_bind_int(st, 2, cancel);
		if (end > 0)
			sqlite3_bind_int64(st, 3, end);
		sqlite3_bind_text(st, 4, a.subscription, -1, SQLITE_STATIC);
		ok = db_run(st);
	}
	if (!ok || (j = status_json(who->account_id)) == NULL)
		reply_err(r, 500, "internal_error", "Stripe took the change "
		    "but it was not recorded; the webhook will catch up.");
	else
		reply_json(r, 200, j);
}

/* --- Stripe's side: the webhook --------------------------------------- */

/*
 * Checks a Stripe-Signature header ("t=<unix>,v1=<hex>[,v1=...]") over
 * the raw body. Returns NULL when one v1 is the HMAC-SHA256 of
 * "<t>.<body>" under secret and t is within the tolerance of now, else
 * why not.
 */
static const char *
signature_check(struct req *r, const char *secret, int64_t now)
{
	const char	*header = req_header(r, "Stripe-Signature");
	const char	*t = NULL, *v1[SIG_MAX_V1];
	char		*copy, *item, *signed_text, hex[2 * HASH_LEN + 1], *end;
	unsigned char	 mac[HASH_LEN];
	size_t		 nv1 = 0, tlen, i;
	long long	 ts;
	int		 match = 0;

	if (header == NULL)
		return "The Stripe-Signature header is missing.";
	copy = req_strdup(r, header);
	while ((item = strsep(&copy, ",")) != NULL) {
		while (*item == ' ')
			item++;
		if (strncmp(item, "t=", 2) == 0)
			t = item + 2;
		else if (strncmp(item, "v1=", 3) == 0 && nv1 < SIG_MAX_V1)
			v1[nv1++] = item + 3;
	}
	if (t == NULL || nv1 == 0)
		return "The Stripe-Signature header lacks t or v1.";
	tlen = strlen(t);
	if (tlen == 0 || tlen > 12 || t[0] < '0' || t[0] > '9')
		return "The Stripe-Signature timestamp is malformed.";
	ts = strtoll(t, &end, 10);
	if (*end != '\0')
		return "The Stripe-Signature timestamp is malformed.";
	if (ts < now - SIG_TOLERANCE || ts > now + SIG_TOLERANCE)
		return "The Stripe-Signature timestamp is outside the "
		    "tolerance.";
	signed_text = req_alloc(r, tlen + 1 + r->body_len);
	memcpy(signed_text, t, tlen);
	signed_text[tlen] = '.';
	memcpy(signed_text + tlen + 1, r->body, r->body_len);
	hash_hmac(mac, secret, strlen(secret), signed_text,
	    tlen + 1 + r->body_len);
	hash_hex(hex, mac, HASH_LEN);
	for (i = 0; i < nv1; i++)
		if (strlen(v1[i]) == 2 * HASH_LEN)
			match |= hash_equal(hex, v1[i], 2 * HASH_LEN);
	return match ? NULL : "No Stripe-Signature v1 matches the body.";
}

/* The account an event is about, as far as the webhook needs it. */
struct target {
	int64_t	 id;
	int	 had_pm;			/* has_default_payment_method */
	int64_t	 state_at;			/* stripe_state_at */
	char	 subscription[STRIPE_ID_MAX];	/* "" when none */
};

#define TARGET_COLUMNS \
    "SELECT id, has_default_payment_method, stripe_state_at," \
    " coalesce(stripe_subscription_id, '') FROM account "
static const char by_customer_sql[] =
    TARGET_COLUMNS "WHERE stripe_customer_id = ?1";
static const char by_public_sql[] =
    TARGET_COLUMNS "WHERE public_id = ?1";
static const char by_pm_sql[] =
    TARGET_COLUMNS "WHERE stripe_customer_pm = ?1"
    " OR stripe_subscription_pm = ?1 LIMIT 1";

/* Finds the account by key. Returns 1, 0 when there is none, -1. */
static int
target_load(const char *sql, const char *key, struct target *t)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (key == NULL)
		return 0;
	if ((st = db_prep(db_main(), sql)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = db_step(st)) == SQLITE_ROW) {
		t->id = sqlite3_column_int64(st, 0);
		t->had_pm = sqlite3_column_int(st, 1);
		t->state_at = sqlite3_column_int64(st, 2);
		snprintf(t->subscription, sizeof(t->subscription), "%s",
		    db_text(st, 3));
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static const char pm_settle_sql[] =
    "UPDATE account SET has_default_payment_method ="
    " (stripe_customer_pm IS NOT NULL OR stripe_subscription_pm IS NOT NULL)"
    " WHERE id = ?1 RETURNING has_default_payment_method";

/*
 * Derives has_default_payment_method from what Stripe said; an account
 * that just gained one gets its no_card_on_file servers back. Returns
 * 1, or -1 (logged).
 */
static int
pm_settle(const struct target *t)
{
	sqlite3_stmt	*st = db_prep(db_main(), pm_settle_sql);
	int64_t		 n;
	int		 has;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, t->id);
	if (db_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return -1;
	}
	has = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (!has || t->had_pm)
		return 1;
	if ((n = billing_restore(t->id)) < 0)
		return -1;
	if (n > 0)
		kiln_log(LOG_INFO, "account %lld has a payment method: "
		    "%lld servers restored", (long long)t->id, (long long)n);
	return 1;
}

/* Binds s as text, or NULL when it is NULL. */
static void
bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static const char checkout_sql[] =
    "UPDATE account SET stripe_customer_id ="
    " coalesce(stripe_customer_id, ?2),"
    " stripe_subscription_id = coalesce(?3, stripe_subscription_id),"
    " plan = CASE WHEN ?4 THEN 'pro' ELSE plan END WHERE id = ?1";

/*
 * checkout.session.completed: the account (client_reference_id) has a
 * subscription, Pro once paid. It leaves stripe_state_at alone: the
 * subscription's own events, which carry its payment method, may come
 * later yet be older.
 */
static int
on_checkout(json_t *obj, int64_t created)
{
	const char	*mode = json_string_value(json_object_get(obj, "mode"));
	const char	*paid = json_string_value(json_object_get(obj,
	    "payment_status"));
	const char	*cus = stripe_id(json_object_get(obj, "customer"));
	const char	*sub = stripe_id(json_object_get(obj, "subscription"));
	sqlite3_stmt	*st;
	struct target	 t;
	int		 rc;

	if (mode == NULL || strcmp(mode, "subscription") != 0)
		return 0;
	rc = target_load(by_public_sql, json_string_value(json_object_get(obj,
	    "client_reference_id")), &t);
	if (rc == 0)
		rc = target_load(by_customer_sql, cus, &t);
	if (rc <= 0)
		return rc;
	if (created < t.state_at)
		return 1;	/* a newer subscription event decided */
	if ((st = db_prep(db_main(), checkout_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, t.id);
	bind_opt(st, 2, cus);
	bind_opt(st, 3, sub);
	sqlite3_bind_int(st, 4, paid != NULL &&
	    (strcmp(paid, "paid") == 0 ||
	    strcmp(paid, "no_payment_required") == 0));
	return db_run(st) ? 1 : -1;
}

/* The subscription states that pay for Pro, and those that ended it. */
static int
status_in(const char *status, const char *const *set)
{
	for (; status != NULL && *set != NULL; set++)
		if (strcmp(status, *set) == 0)
			return 1;
	return 0;
}

static const char *const live_states[] = {
	"active", "trialing", "past_due", NULL
};
static const char *const dead_states[] = {
	"canceled", "unpaid", "incomplete_expired", "paused", NULL
};

static const char sub_set_sql[] =
    "UPDATE account SET plan = coalesce(?2, plan),"
    " stripe_customer_id = coalesce(stripe_customer_id, ?3),"
    " stripe_subscription_id = ?4,"
    " current_period_end = coalesce(?5, current_period_end),"
    " cancel_at_period_end = ?6, stripe_subscription_pm = ?7,"
    " stripe_state_at = max(stripe_state_at, ?8) WHERE id = ?1";
static const char sub_end_sql[] =
    "UPDATE account SET plan = 'free', stripe_subscription_id = NULL,"
    " current_period_end = NULL, cancel_at_period_end = 0,"
    " stripe_subscription_pm = NULL,"
    " stripe_state_at = max(stripe_state_at, ?2) WHERE id = ?1";

/*
 * customer.subscription.created / updated / deleted. A live subscription
 * makes the account Pro and becomes its subscription; the end of the
 * account's subscription (deleted, canceled, unpaid...) makes it free;
 * the end of some other, older one changes nothing.
 */
static int
on_subscription(json_t *obj, int64_t created, int deleted)
{
	const char	*sub = stripe_id(json_object_get(obj, "id"));
	const char	*cus = stripe_id(json_object_get(obj, "customer"));
	const char	*status = json_string_value(json_object_get(obj,
	    "status"));
	const char	*pm = stripe_id(json_object_get(obj,
	    "default_payment_method"));
	int		 live = !deleted && status_in(status, live_states);
	int		 ours, rc;
	sqlite3_stmt	*st;
	struct target	 t;
	int64_t		 end = period_end(obj);

	if (sub == NULL)
		return 0;
	rc = target_load(by_customer_sql, cus, &t);
	if (rc == 0)
		rc = target_load(by_public_sql, json_string_value(
		    json_object_get(json_object_get(obj, "metadata"),
		    "kiln_account")), &t);
	if (rc <= 0)
		return rc;
	if (created < t.state_at)
		return 1;	/* Stripe delivered it late: old news */
	ours = t.subscription[0] == '\0' || strcmp(t.subscription, sub) == 0;
	if (deleted || status_in(status, dead_states)) {
		if (!ours)
			return 1;
		if ((st = db_prep(db_main(), sub_end_sql)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, t.id);
		sqlite3_bind_int64(st, 2, created);
	} else {
		/* Incomplete (first payment pending) waits for live. */
		if (!live && !ours)
			return 1;
		if ((st = db_prep(db_main(), sub_set_sql)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, t.id);
		if (live)
			sqlite3_bind_text(st, 2, "pro", -1, SQLITE_STATIC);
		bind_opt(st, 3, cus);
		sqlite3_bind_text(st, 4, sub, -1, SQLITE_STATIC);
		if (end > 0)
			sqlite3_bind_int64(st, 5, end);
		sqlite3_bind_int(st, 6, json_is_true(json_object_get(obj,
		    "cancel_at_period_end")));
		bind_opt(st, 7, pm);
		sqlite3_bind_int64(st, 8, created);
	}
	if (!db_run(st))
		return -1;
	return pm_settle(&t);
}

/* Only as new as the last one applied: Stripe does not keep order. */
static const char customer_pm_sql[] =
    "UPDATE account SET stripe_customer_pm = ?2, customer_state_at = ?3 "
    "WHERE id = ?1 AND coalesce(customer_state_at, 0) <= ?3";

/* customer.updated: its invoice_settings.default_payment_method. */
static int
on_customer(json_t *obj, int64_t created)
{
	json_t		*inv = json_object_get(obj, "invoice_settings");
	sqlite3_stmt	*st;
	struct target	 t;
	int		 rc;

	if (!json_is_object(inv))
		return 0;
	rc = target_load(by_customer_sql, stripe_id(json_object_get(obj,
	    "id")), &t);
	if (rc <= 0)
		return rc;
	if ((st = db_prep(db_main(), customer_pm_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, t.id);
	bind_opt(st, 2, stripe_id(json_object_get(inv,
	    "default_payment_method")));
	sqlite3_bind_int64(st, 3, created);
	if (!db_run(st))
		return -1;
	if (sqlite3_changes(db_main()) == 0)
		return 1;	/* Stripe delivered it late: old news */
	return pm_settle(&t);
}

static const char detach_sql[] =
    "UPDATE account SET stripe_customer_pm = nullif(stripe_customer_pm, ?2),"
    " stripe_subscription_pm = nullif(stripe_subscription_pm, ?2) "
    "WHERE id = ?1";

/*
 * payment_method.detached: a default that is detached is no default any
 * more. (An attached method is not a default until Stripe says so in
 * customer.updated or on the subscription, so "attached" is ignored.)
 */
static int
on_detached(json_t *obj)
{
	const char	*pm = stripe_id(json_object_get(obj, "id"));
	sqlite3_stmt	*st;
	struct target	 t;
	int		 rc;

	if ((rc = target_load(by_pm_sql, pm, &t)) <= 0)
		return rc;
	if ((st = db_prep(db_main(), detach_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, t.id);
	sqlite3_bind_text(st, 2, pm, -1, SQLITE_STATIC);
	if (!db_run(st))
		return -1;
	return pm_settle(&t);
}

/* Applies one event. Returns 1 when handled, 0 when ignored, -1. */
static int
apply(const char *type, json_t *obj, int64_t created)
{
	if (strcmp(type, "checkout.session.completed") == 0)
		return on_checkout(obj, created);
	if (strcmp(type, "customer.subscription.created") == 0 ||
	    strcmp(type, "customer.subscription.updated") == 0)
		return on_subscription(obj, created, 0);
	if (strcmp(type, "customer.subscription.deleted") == 0)
		return on_subscription(obj, created, 1);
	if (strcmp(type, "customer.updated") == 0)
		return on_customer(obj, created);
	if (strcmp(type, "payment_method.detached") == 0)
		return on_detached(obj);
	return 0;
}

static const char event_sql[] =
    "INSERT INTO stripe_event (event_id, type, created, received_at) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING";

/*
 * The event id is recorded in the transaction that applies the event:
 * a redelivery finds it and changes nothing; a failure records nothing,
 * and Stripe's retry applies it then.
 */
static void
billing_webhook(struct req *r)
{
	const char	*secret = cfg_get("stripe_webhook_secret");
	const char	*why, *id, *type;
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	json_t		*ev, *obj, *created;
	int64_t		 now = iso_now(), when;
	int		 rc;

	if (*secret == '\0') {
		reply_err(r, 503, "billing_unavailable",
		    "Billing is not configured on this server.");
		return;
	}
	if ((why = signature_check(r, secret, now)) != NULL) {
		reply_err(r, 400, "invalid_signature", "%s", why);
		return;
	}
	if ((ev = req_json_object(r)) == NULL)
		return;
	id = json_string_value(json_object_get(ev, "id"));
	type = json_string_value(json_object_get(ev, "type"));
	obj = json_object_get(json_object_get(ev, "data"), "object");
	created = json_object_get(ev, "created");
	if (id == NULL || *id == '\0' || strlen(id) >= STRIPE_ID_MAX ||
	    type == NULL || !json_is_object(obj)) {
		reply_err(r, 400, "invalid_event",
		    "An event needs an id, a type and data.object.");
		return;
	}
	when = json_is_integer(created) ? json_integer_value(created) : 0;
	if (!db_begin(conn) || (st = db_prep(conn, event_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, when);
	sqlite3_bind_int64(st, 4, now);
	if (!db_run(st))
		goto fail;
	if (sqlite3_changes(conn) == 0) {
		db_rollback(conn);
		reply_json(r, 200, json_pack("{s:b, s:b}", "received", 1,
		    "duplicate", 1));
		return;
	}
	if ((rc = apply(type, obj, when)) < 0 || !db_commit(conn))
		goto fail;
	if (rc == 0)
		kiln_log(LOG_INFO, "stripe event %s (%s) ignored", id, type);
	reply_json(r, 200, rc ? json_pack("{s:b}", "received", 1) :
	    json_pack("{s:b, s:b}", "received", 1, "ignored", 1));
	return;
fail:
	db_rollback(conn);
	reply_err(r, 500, "internal_error",
	    "The event was not processed; Stripe will send it again.");
}

/* --- dispatch ------------------------------------------------------------ */

static void
dispatch(struct req *r)
{
	struct principal	 who;
	const char		*op = req_seg(r, 1);

	if (r->nsegs != 2 || strcmp(req_seg(r, 0), "billing") != 0) {
		reply_err(r, 404, "not_found", "No such endpoint.");
		return;
	}
	if (strcmp(op, "status") == 0) {
		if (strcmp(r->method, "GET") != 0)
			reply_method_not_allowed(r, "GET");
		else if (auth_require(r, &who, SCOPE_READ))
			billing_status(r, &who);
		return;
	}
	if (strcmp(op, "webhook") != 0 && strcmp(op, "checkout") != 0 &&
	    strcmp(op, "portal") != 0 && strcmp(op, "resume") != 0 &&
	    strcmp(op, "downgrade") != 0) {
		reply_err(r, 404, "not_found", "No such endpoint.");
		return;
	}
	if (strcmp(r->method, "POST") != 0) {
		reply_method_not_allowed(r, "POST");
		return;
	}
	if (strcmp(op, "webhook") == 0) {
		billing_webhook(r);	/* public: Stripe signs instead */
		return;
	}
	if (!auth_require(r, &who, SCOPE_WRITE) ||
	    !auth_gate(r, &who, GATE_ADMIN))
		return;
	if (!stripe_configured()) {
		reply_err(r, 503, "billing_unavailable",
		    "Billing is not configured on this server.");
		return;
	}
	if (strcmp(op, "checkout") == 0)
		billing_checkout(r, &who);
	else if (strcmp(op, "portal") == 0)
		billing_portal(r, &who);
	else
		set_cancel(r, &who, strcmp(op, "downgrade") == 0);
}

/* What the audit log calls each endpoint; Stripe's calls are not logged. */
static const struct audit_ep audit[] = {
	{ "GET",	"/billing/status",	"billing.status" },
	{ "POST",	"/billing/checkout",	"billing.checkout" },
	{ "POST",	"/billing/portal",	"billing.portal" },
	{ "POST",	"/billing/resume",	"billing.resume" },
	{ "POST",	"/billing/downgrade",	"billing.downgrade" },
	{ "POST",	"/billing/webhook",	NULL },
	AUDIT_END
};

int
main(void)
{
	static const struct route rt = {
		.name = "billing",
		.dispatch = dispatch,
		.max_body = WEBHOOK_MAX_BODY,
		.audit = audit,
	};

	return req_run(&rt);
}
