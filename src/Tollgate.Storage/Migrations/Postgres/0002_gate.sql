-- Count features' levels (projects, seats), kept by the ledger beside lots.
CREATE TABLE ledger_counters (
    customer_id text NOT NULL,
    feature text NOT NULL,
    level bigint NOT NULL CHECK (level >= 0),
    PRIMARY KEY (customer_id, feature)
);

-- Usage statistics read a feature's entries over a time range.
CREATE INDEX ledger_entries_usage ON ledger_entries (customer_id, feature, at);

CREATE TABLE subscriptions (
    customer_id text NOT NULL,
    subscription_id text NOT NULL,
    plan_id text NOT NULL,
    provider text NOT NULL,
    provider_subscription_id text NULL,
    provider_customer_id text NULL,
    status text NOT NULL,
    current_period_start timestamptz NULL,
    current_period_end timestamptz NULL,
    cancel_at_period_end boolean NOT NULL,
    pending_plan_id text NULL,
    canceled_at timestamptz NULL,
    -- the provider's own timestamp of the newest event applied: an older event never overwrites a newer state
    provider_updated_at timestamptz NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (customer_id, subscription_id)
);
CREATE UNIQUE INDEX subscriptions_id ON subscriptions (subscription_id);
CREATE UNIQUE INDEX subscriptions_provider ON subscriptions (provider, provider_subscription_id) WHERE provider_subscription_id IS NOT NULL;

-- Responses of /v1 calls made with an Idempotency-Key, per API key.
CREATE TABLE api_idempotency (
    scope text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    status integer NOT NULL,
    response text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);

CREATE TABLE settings (
    name text PRIMARY KEY,
    value text NOT NULL
);
