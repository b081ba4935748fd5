-- Customers and the credits ledger. Every per-customer table carries customer_id first in its key, so the
-- schema can be distributed by customer (e.g. Citus) without change.
-- A customer's row is its ledger write lock (SELECT … FOR NO KEY UPDATE); it is never updated by ledger writes.
CREATE TABLE customers (
    customer_id text PRIMARY KEY,
    email text NULL,
    name text NULL,
    metadata text NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE ledger_lots (
    customer_id text NOT NULL,
    lot_id text NOT NULL,
    feature text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    remaining bigint NOT NULL CHECK (remaining >= 0),
    held bigint NOT NULL CHECK (held >= 0),
    clawed bigint NOT NULL CHECK (clawed >= 0 AND clawed <= amount),
    expired bigint NOT NULL CHECK (expired >= 0 AND expired <= amount),
    -- remaining > 0 OR held > 0, kept as its own column so that index predicates name only it: updates that move
    -- credits without emptying or refilling a lot stay HOT (no index writes) on PostgreSQL.
    live boolean NOT NULL,
    source text NOT NULL,
    source_ref text NULL,
    expires_at timestamptz NULL,
    priority integer NOT NULL,
    seq bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (customer_id, lot_id),
    CHECK (remaining + held <= amount),
    CHECK (live = (remaining > 0 OR held > 0))
);
CREATE INDEX ledger_lots_live ON ledger_lots (customer_id) WHERE live;
CREATE INDEX ledger_lots_source ON ledger_lots (customer_id, source_ref) WHERE source_ref IS NOT NULL;
CREATE INDEX ledger_lots_due ON ledger_lots (expires_at) WHERE live;

CREATE TABLE ledger_entries (
    customer_id text NOT NULL,
    seq bigint NOT NULL,
    entry_id text NOT NULL,
    feature text NOT NULL,
    type text NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    at timestamptz NOT NULL,
    detail text NOT NULL,
    reference text NULL,
    hold_id text NULL,
    operation_key text NULL,
    PRIMARY KEY (customer_id, seq)
);
CREATE INDEX ledger_entries_feature ON ledger_entries (customer_id, feature, seq);

CREATE TABLE ledger_holds (
    customer_id text NOT NULL,
    hold_id text NOT NULL,
    feature text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    status text NOT NULL,
    allocations text NOT NULL,
    spill_feature text NULL,
    spill_unit_cost bigint NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    closed_at timestamptz NULL,
    settled bigint NOT NULL,
    reference text NULL,
    PRIMARY KEY (customer_id, hold_id)
);
CREATE INDEX ledger_holds_id ON ledger_holds (hold_id);
CREATE INDEX ledger_holds_active ON ledger_holds (customer_id) WHERE status = 'active';
CREATE INDEX ledger_holds_due ON ledger_holds (expires_at) WHERE status = 'active';

CREATE TABLE ledger_debts (
    customer_id text NOT NULL,
    feature text NOT NULL,
    amount bigint NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (customer_id, feature)
);

-- The first result of every idempotent ledger operation; the primary key is the exactly-once guarantee.
CREATE TABLE ledger_operations (
    customer_id text NOT NULL,
    operation_key text NOT NULL,
    kind text NOT NULL,
    fingerprint text NOT NULL,
    result text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (customer_id, operation_key)
);
