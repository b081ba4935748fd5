-- A path past one PostgreSQL (issue 18). SQLite is never distributed; it keeps the same lookup table so that both
-- dialects run the same lookups (see the PostgreSQL migration and docs/scaling.md).
-- customer_keys: whose is an id that callers name without its customer; provider is '' for Tollgate's own ids.
CREATE TABLE customer_keys (
    key text NOT NULL,
    -- hold | entry (Tollgate's ids) | checkout (Tollgate's id) | checkout_session, payment, payment_checkout (the provider's)
    kind text NOT NULL,
    provider text NOT NULL,
    customer_id text NOT NULL,
    PRIMARY KEY (key, kind, provider)
) WITHOUT ROWID;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT hold_id, 'hold', '', customer_id FROM ledger_holds;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT entry_id, 'entry', '', customer_id FROM ledger_entries;

INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT checkout_id, 'checkout', '', customer_id FROM checkouts;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT provider_checkout_id, 'checkout_session', provider, customer_id FROM checkouts;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT provider_payment_id, 'payment', provider, customer_id FROM payments;
INSERT OR IGNORE INTO customer_keys (key, kind, provider, customer_id)
SELECT DISTINCT provider_checkout_id, 'payment_checkout', provider, customer_id FROM payments WHERE provider_checkout_id IS NOT NULL;

DROP INDEX ledger_holds_id;
DROP INDEX checkouts_id;
DROP INDEX checkouts_provider;
DROP INDEX payments_provider;
-- The same lookups, now within their customer, by the same columns: no longer unique (customer_keys is), which a table
-- distributed by customer allows.
CREATE INDEX checkouts_provider ON checkouts (provider, provider_checkout_id);
CREATE INDEX payments_provider ON payments (provider, provider_payment_id);
