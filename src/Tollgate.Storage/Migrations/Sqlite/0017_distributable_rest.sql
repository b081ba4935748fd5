-- A path past one PostgreSQL (issue 18), second step (see the PostgreSQL migration and docs/scaling.md). SQLite is never
-- distributed: it gets the same customer_keys rows and the same subscription indexes, so that both dialects run the
-- same statements, and keeps the primary keys of provider_customers, events, event_deliveries and topup_charges
-- (rebuilding those tables would buy a single-file database nothing; every statement runs the same against either key).
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT subscription_id, 'subscription', '', customer_id FROM subscriptions;
INSERT INTO customer_keys (key, kind, provider, customer_id)
SELECT provider_subscription_id, 'provider_subscription', provider, customer_id FROM subscriptions WHERE provider_subscription_id IS NOT NULL;
DROP INDEX subscriptions_id;
DROP INDEX subscriptions_provider;
CREATE UNIQUE INDEX subscriptions_provider ON subscriptions (customer_id, provider, provider_subscription_id) WHERE provider_subscription_id IS NOT NULL;

INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT provider_customer_id, 'provider_customer', provider, customer_id FROM provider_customers;

INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT event_id, 'event', '', customer_id FROM events;
