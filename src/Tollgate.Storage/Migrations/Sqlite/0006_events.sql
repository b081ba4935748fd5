-- Outbound events to the app (API.md §6.3): a transactional outbox, the app's endpoints, one delivery row per
-- (endpoint, event), the attempts made, and the balance alerts already fired.

-- The last event sequence number of each customer: bumped in the transaction that writes the event, so a customer's
-- events are numbered in commit order (the row stays locked until that transaction ends).
CREATE TABLE event_counters (
    customer_id text PRIMARY KEY,
    seq bigint NOT NULL
);

CREATE TABLE events (
    event_id text PRIMARY KEY,
    customer_id text NOT NULL,
    seq bigint NOT NULL,
    event_type text NOT NULL,
    -- the JSON body exactly as delivered
    payload text NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_customer_seq ON events (customer_id, seq);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE webhook_endpoints (
    endpoint_id text PRIMARY KEY,
    url text NOT NULL,
    -- event types sent, comma-separated; NULL: all
    event_types text NULL,
    description text NULL,
    status text NOT NULL,
    disabled_reason text NULL,
    secret text NOT NULL,
    -- after a rotation the old secret keeps signing until previous_secret_until
    previous_secret text NULL,
    previous_secret_until INTEGER NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per event and endpoint, created with the event (fan-out in the event's transaction): the key makes each
-- event delivered once per endpoint however many servers share the database.
CREATE TABLE event_deliveries (
    endpoint_id text NOT NULL REFERENCES webhook_endpoints (endpoint_id) ON DELETE CASCADE,
    event_id text NOT NULL,
    customer_id text NOT NULL,
    seq bigint NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    -- a server's claim: others leave the row alone until claimed_until (a killed server's claims come back)
    claim text NULL,
    claimed_until INTEGER NULL,
    last_status_code integer NULL,
    last_error text NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX event_deliveries_due ON event_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX event_deliveries_order ON event_deliveries (endpoint_id, customer_id, seq) WHERE status = 'pending';
CREATE INDEX event_deliveries_event ON event_deliveries (event_id);

CREATE TABLE event_attempts (
    attempt_id INTEGER PRIMARY KEY,
    endpoint_id text NOT NULL REFERENCES webhook_endpoints (endpoint_id) ON DELETE CASCADE,
    event_id text NOT NULL,
    attempt integer NOT NULL,
    status_code integer NULL,
    error text NULL,
    at INTEGER NOT NULL,
    next_attempt_at INTEGER NULL
);
CREATE INDEX event_attempts_endpoint ON event_attempts (endpoint_id, attempt_id);

-- Alert thresholds a customer's balance fell below and that have fired (0: depleted); cleared on recovery.
CREATE TABLE alert_marks (
    customer_id text NOT NULL,
    feature text NOT NULL,
    threshold bigint NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, feature, threshold)
);
