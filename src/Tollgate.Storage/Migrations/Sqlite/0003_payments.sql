-- Checkouts Tollgate started, payments providers reported, and every webhook as received.
CREATE TABLE checkouts (
    customer_id TEXT NOT NULL,
    checkout_id TEXT NOT NULL,
    product TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_checkout_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL,
    success_url TEXT NULL,
    cancel_url TEXT NULL,
    metadata TEXT NULL,
    failure TEXT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER NULL,
    PRIMARY KEY (customer_id, checkout_id)
) STRICT;
CREATE UNIQUE INDEX checkouts_id ON checkouts (checkout_id);
CREATE UNIQUE INDEX checkouts_provider ON checkouts (provider, provider_checkout_id);

CREATE TABLE payments (
    customer_id TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    kind TEXT NOT NULL,
    product TEXT NOT NULL,
    status TEXT NOT NULL,
    amount INTEGER NULL,
    currency TEXT NULL,
    checkout_id TEXT NULL,
    provider_checkout_id TEXT NULL,
    -- the provider's id of this payment (order, transaction, invoice, PaymentIntent): unique, so a payment is recorded once
    provider_payment_id TEXT NOT NULL,
    provider_subscription_id TEXT NULL,
    subscription_id TEXT NULL,
    -- the source of the lots this payment granted (what a refund claws back)
    ledger_ref TEXT NULL,
    credits INTEGER NOT NULL,
    refunded_amount INTEGER NOT NULL,
    credits_clawed INTEGER NOT NULL,
    flag TEXT NULL,
    -- ids of the refunds and disputes already applied, as |id|id|: a reversal is counted once, atomically
    reversals TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, payment_id)
) STRICT;
CREATE UNIQUE INDEX payments_provider ON payments (provider, provider_payment_id);
CREATE INDEX payments_customer_product ON payments (customer_id, product, status);
CREATE INDEX payments_created ON payments (created_at);
CREATE INDEX payments_flagged ON payments (created_at) WHERE flag IS NOT NULL;

-- The provider's customer ids Tollgate has seen, and whose they are.
CREATE TABLE provider_customers (
    provider TEXT NOT NULL,
    provider_customer_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_customer_id)
) STRICT;
CREATE INDEX provider_customers_customer ON provider_customers (customer_id);

-- Every verified webhook, stored before Tollgate answers 200; unique per provider event id.
CREATE TABLE webhook_events (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NULL,
    last_error TEXT NULL,
    applied_at INTEGER NULL,
    customer_id TEXT NULL,
    PRIMARY KEY (provider, event_id)
) STRICT;
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE status = 'failed';
CREATE INDEX webhook_events_received ON webhook_events (received_at);
CREATE INDEX webhook_events_customer ON webhook_events (customer_id, received_at);

-- The Sandbox provider's own side of checkouts and subscriptions (what a real provider keeps on its servers).
CREATE TABLE sandbox_checkouts (
    session_id TEXT PRIMARY KEY,
    checkout_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    product TEXT NOT NULL,
    mode TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    customer_email TEXT NULL,
    metadata TEXT NOT NULL,
    success_url TEXT NOT NULL,
    cancel_url TEXT NULL,
    status TEXT NOT NULL,
    order_id TEXT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE sandbox_subscriptions (
    subscription_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    product TEXT NOT NULL,
    status TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    cancel_at_period_end INTEGER NOT NULL,
    pending_product TEXT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sandbox_subscriptions_due ON sandbox_subscriptions (period_end) WHERE status = 'active';
