-- Count features' levels (projects, seats), kept by the ledger beside lots.
CREATE TABLE ledger_counters (
    customer_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level >= 0),
    PRIMARY KEY (customer_id, feature)
) STRICT;

-- Usage statistics read a feature's entries over a time range.
CREATE INDEX ledger_entries_usage ON ledger_entries (customer_id, feature, at);

CREATE TABLE subscriptions (
    customer_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_subscription_id TEXT NULL,
    provider_customer_id TEXT NULL,
    status TEXT NOT NULL,
    current_period_start INTEGER NULL,
    current_period_end INTEGER NULL,
    cancel_at_period_end INTEGER NOT NULL,
    pending_plan_id TEXT NULL,
    canceled_at INTEGER NULL,
    -- the provider's own timestamp of the newest event applied: an older event never overwrites a newer state
    provider_updated_at INTEGER NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, subscription_id)
) STRICT;
CREATE UNIQUE INDEX subscriptions_id ON subscriptions (subscription_id);
CREATE UNIQUE INDEX subscriptions_provider ON subscriptions (provider, provider_subscription_id) WHERE provider_subscription_id IS NOT NULL;

-- Responses of /v1 calls made with an Idempotency-Key, per API key.
CREATE TABLE api_idempotency (
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
) STRICT;

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
