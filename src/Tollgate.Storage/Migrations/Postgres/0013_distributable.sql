-- A path past one PostgreSQL (issue 18): the schema distributable by customer (Citus), one step.
--
-- 0001 said every per-customer table carries customer_id first in its key "so the schema can be distributed by
-- customer (e.g. Citus) without change". That was wrong: a distributed table's unique indexes must include its
-- distribution column, and several lookups named an id alone (a hold by hold_id, an entry by entry_id: on Citus each
-- such statement is sent to every shard). docs/scaling.md lists what is distributable now and what is not yet.
--
-- customer_keys: whose is an id that callers name without its customer. A global lookup reads this table by its key
-- (distributed by key: one shard), then reads the row itself with customer_id (one shard of the customer's tables).
-- provider is '' for Tollgate's own ids (a key column cannot be NULL). Rows are written in the transaction that writes
-- what they point to (the ledger's commit batch for holds and entries: no extra round trip).
CREATE TABLE customer_keys (
    key text NOT NULL,
    -- hold | entry (Tollgate's ids) | checkout (Tollgate's id) | checkout_session, payment, payment_checkout (the provider's)
    kind text NOT NULL,
    provider text NOT NULL,
    customer_id text NOT NULL,
    PRIMARY KEY (key, kind, provider)
);
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT hold_id, 'hold', '', customer_id FROM ledger_holds;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT entry_id, 'entry', '', customer_id FROM ledger_entries;

INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT checkout_id, 'checkout', '', customer_id FROM checkouts;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT provider_checkout_id, 'checkout_session', provider, customer_id FROM checkouts;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT provider_payment_id, 'payment', provider, customer_id FROM payments;
INSERT INTO customer_keys (key, kind, provider, customer_id)
SELECT DISTINCT provider_checkout_id, 'payment_checkout', provider, customer_id FROM payments WHERE provider_checkout_id IS NOT NULL
ON CONFLICT DO NOTHING;

-- Holds, checkouts and payments are found through customer_keys: the indexes (unique ones among them) that found them
-- by an id alone go. ledger_entries_id stays (not unique, so allowed on a distributed table): it serves the entry's
-- lookup within its customer as well.
DROP INDEX ledger_holds_id;
DROP INDEX checkouts_id;
DROP INDEX checkouts_provider;
DROP INDEX payments_provider;
-- The same lookups, now within their customer, by the same columns: no longer unique (customer_keys is), which a table
-- distributed by customer allows.
CREATE INDEX checkouts_provider ON checkouts (provider, provider_checkout_id);
CREATE INDEX payments_provider ON payments (provider, provider_payment_id);
