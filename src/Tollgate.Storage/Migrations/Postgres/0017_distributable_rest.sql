-- A path past one PostgreSQL (issue 18), second step: the tables 0013 left "not distributable yet" (docs/scaling.md).
-- Each id callers name without its customer gets a customer_keys row (backfilled here for the rows already written),
-- and every primary or unique key gains customer_id, which a table distributed by customer requires.

-- Subscriptions are named by Tollgate's id (API, portal) and by the provider's id (webhooks). The provider's id may
-- arrive after the row is created: its key is taken by the first save that carries it. (provider, provider id) was
-- unique across customers; the provider_subscription key now says that, and the unique index keeps one row per
-- provider id within a customer (same name: a racing first write of one provider subscription is still recognised as
-- such and run again, PostgresDatabase.IsConcurrentFirstWrite).
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT subscription_id, 'subscription', '', customer_id FROM subscriptions;
INSERT INTO customer_keys (key, kind, provider, customer_id)
SELECT provider_subscription_id, 'provider_subscription', provider, customer_id FROM subscriptions WHERE provider_subscription_id IS NOT NULL;
DROP INDEX subscriptions_id;
DROP INDEX subscriptions_provider;
CREATE UNIQUE INDEX subscriptions_provider ON subscriptions (customer_id, provider, provider_subscription_id) WHERE provider_subscription_id IS NOT NULL;

-- One provider customer belongs to one Tollgate customer: a global fact, now the provider_customer key (taken first when
-- a link is recorded, as a payment's key is). The table is the customer's list of their provider ids.
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT provider_customer_id, 'provider_customer', provider, customer_id FROM provider_customers;
ALTER TABLE provider_customers DROP CONSTRAINT provider_customers_pkey;
ALTER TABLE provider_customers ADD PRIMARY KEY (customer_id, provider, provider_customer_id);
-- The new key's prefix serves what this index did (a customer's provider ids).
DROP INDEX provider_customers_customer;

-- Outbound events: GET /v1/events/{id} and redelivery name the event alone (the event key, written with the event).
-- Deliveries and top-up charges are reached from their claims, which carry the customer.
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT event_id, 'event', '', customer_id FROM events;
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD PRIMARY KEY (customer_id, event_id);
-- Not unique (allowed on a distributed table): the delivery attempts of the admin pages and the retention sweep join
-- or delete events by id; both fan out anyway (docs/scaling.md).
CREATE INDEX events_id ON events (event_id);

ALTER TABLE event_deliveries DROP CONSTRAINT event_deliveries_pkey;
ALTER TABLE event_deliveries ADD PRIMARY KEY (customer_id, endpoint_id, event_id);

ALTER TABLE topup_charges DROP CONSTRAINT topup_charges_pkey;
ALTER TABLE topup_charges ADD PRIMARY KEY (customer_id, charge_id);
