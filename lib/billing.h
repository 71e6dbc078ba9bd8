/*
 * billing: plan and payment-method rules shared by the billing and
 * servers routes, the billing-suspend job and kiln-admin.
 */
#ifndef KILN_BILLING_H
#define KILN_BILLING_H

#include <stdint.h>

/* The reason a server is suspended for want of a payment method. */
#define BILLING_NO_CARD	"no_card_on_file"

/* billing_quota_room's answers besides a room (0 or more). */
#define BILLING_NO_LIMIT	(-1)	/* a plan without a quota */
#define BILLING_QUOTA_ERROR	(-2)	/* logged */

/* The account's active servers, or -1 (logged). */
int64_t	billing_active_count(int64_t account_id);

/*
 * How many more active servers the account may have: the free plan's
 * free_server_quota less its active servers, never negative;
 * BILLING_NO_LIMIT for any other plan; BILLING_QUOTA_ERROR. plan NULL
 * reads the account's. The one statement of the quota rule (the
 * billing-suspend job's SQL says why it keeps its own).
 */
int64_t	billing_quota_room(int64_t account_id, const char *plan);

/*
 * Restores the account's servers suspended for no_card_on_file, oldest
 * first; a free account gets back only as many as its quota leaves room
 * for. Does not check for a card: the caller decides the account may.
 * Runs inside the caller's write transaction. Returns how many were
 * restored, or -1 (logged).
 */
int64_t	billing_restore(int64_t account_id);

#endif
