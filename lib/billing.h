/*
 * billing: plan and payment-method rules shared by the billing and
 * servers routes, the billing-suspend job and kiln-admin.
 */
#ifndef KILN_BILLING_H
#define KILN_BILLING_H

#include <stdint.h>

/* The reason a server is suspended for want of a payment method. */
#define BILLING_NO_CARD	"no_card_on_file"

/*
 * Restores the account's servers suspended for no_card_on_file, oldest
 * first; a free account gets back only as many as its quota leaves room
 * for. Does not check for a card: the caller decides the account may.
 * Runs inside the caller's write transaction. Returns how many were
 * restored, or -1 (logged).
 */
int64_t	billing_restore(int64_t account_id);

#endif
