-- Billing: the account's Stripe side, and the webhook events already seen.
-- Times are Unix seconds UTC.

-- The Stripe objects an account is tied to. The two payment-method ids
-- are what Stripe last said; has_default_payment_method is true when
-- either is set (or when the operator says so with kiln-admin).
ALTER TABLE account ADD COLUMN stripe_customer_id TEXT;	-- "cus_..."
ALTER TABLE account ADD COLUMN stripe_subscription_id TEXT;	-- "sub_..."
-- The customer's invoice_settings.default_payment_method.
ALTER TABLE account ADD COLUMN stripe_customer_pm TEXT;
-- The subscription's default_payment_method (Checkout sets this one).
ALTER TABLE account ADD COLUMN stripe_subscription_pm TEXT;
-- Creation time of the newest subscription event applied: an older one
-- arriving late (Stripe does not keep order) changes nothing.
ALTER TABLE account ADD COLUMN stripe_state_at INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX account_stripe_customer ON account(stripe_customer_id)
    WHERE stripe_customer_id IS NOT NULL;

-- One Stripe event processed (its effects were committed with this row),
-- so a redelivery is answered without a second effect. Kept 30 days by
-- the billing-suspend job; Stripe stops retrying after 3.
CREATE TABLE stripe_event (
	event_id TEXT PRIMARY KEY,			-- "evt_..."
	type TEXT NOT NULL,
	created INTEGER NOT NULL,			-- Stripe's, 0 if absent
	received_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX stripe_event_age ON stripe_event(received_at);
