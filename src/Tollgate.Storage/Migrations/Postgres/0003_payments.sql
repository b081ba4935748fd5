-- Checkouts Tollgate started, payments providers reported, and every webhook as received.
CREATE TABLE checkouts (
    customer_id text NOT NULL,
    checkout_id text NOT NULL,
    product text NOT NULL,
    provider text NOT NULL,
    provider_checkout_id text NOT NULL,
    url text NOT NULL,
    status text NOT NULL,
    success_url text NULL,
    cancel_url text NULL,
    metadata text NULL,
    failure text NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    completed_at timestamptz NULL,
    PRIMARY KEY (customer_id, checkout_id)
);
CREATE UNIQUE INDEX checkouts_id ON checkouts (checkout_id);
CREATE UNIQUE INDEX checkouts_provider ON checkouts (provider, provider_checkout_id);

CREATE TABLE payments (
    customer_id text NOT NULL,
    payment_id text NOT NULL,
    provider text NOT NULL,
    kind text NOT NULL,
    product text NOT NULL,
    status text NOT NULL,
    amount bigint NULL,
    currency text NULL,
    checkout_id text NULL,
    provider_checkout_id text NULL,
    -- the provider's id of this payment (order, transaction, invoice, PaymentIntent): unique, so a payment is recorded once
    provider_payment_id text NOT NULL,
    provider_subscription_id text NULL,
    subscription_id text NULL,
    -- the source of the lots this payment granted (what a refund claws back)
    ledger_ref text NULL,
    credits bigint NOT NULL,
    refunded_amount bigint NOT NULL,
    credits_clawed bigint NOT NULL,
    flag text NULL,
    -- ids of the refunds and disputes already applied, as |id|id|: a reversal is counted once, atomically
    reversals text NOT NULL,
    payload text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (customer_id, payment_id)
);
CREATE UNIQUE INDEX payments_provider ON payments (provider, provider_payment_id);
CREATE INDEX payments_customer_product ON payments (customer_id, product, status);
CREATE INDEX payments_created ON payments (created_at);
CREATE INDEX payments_flagged ON payments (created_at) WHERE flag IS NOT NULL;

-- The provider's customer ids Tollgate has seen, and whose they are.
CREATE TABLE provider_customers (
    provider text NOT NULL,
    provider_customer_id text NOT NULL,
    customer_id text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (provider, provider_customer_id)
);
CREATE INDEX provider_customers_customer ON provider_customers (customer_id);

-- Every verified webhook, stored before Tollgate answers 200; unique per provider event id.
CREATE TABLE webhook_events (
    provider text NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    payload text NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamptz NULL,
    last_error text NULL,
    applied_at timestamptz NULL,
    customer_id text NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE status = 'failed';
CREATE INDEX webhook_events_received ON webhook_events (received_at);
CREATE INDEX webhook_events_customer ON webhook_events (customer_id, received_at);

-- The Sandbox provider's own side of checkouts and subscriptions (what a real provider keeps on its servers).
CREATE TABLE sandbox_checkouts (
    session_id text PRIMARY KEY,
    checkout_id text NOT NULL,
    customer_id text NOT NULL,
    product text NOT NULL,
    mode text NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    customer_email text NULL,
    metadata text NOT NULL,
    success_url text NOT NULL,
    cancel_url text NULL,
    status text NOT NULL,
    order_id text NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE sandbox_subscriptions (
    subscription_id text PRIMARY KEY,
    customer_id text NOT NULL,
    product text NOT NULL,
    status text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    cancel_at_period_end boolean NOT NULL,
    pending_product text NULL,
    metadata text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX sandbox_subscriptions_due ON sandbox_subscriptions (period_end) WHERE status = 'active';
