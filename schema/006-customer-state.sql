-- Billing: ordering for customer.updated, as stripe_state_at orders the
-- subscription events.

-- Creation time of the newest customer.updated event applied (NULL: none
-- yet): an older one arriving late does not overwrite the customer's
-- default payment method.
ALTER TABLE account ADD COLUMN customer_state_at INTEGER;
