-- Customers and the credits ledger (SQLite). Instants are INTEGER microseconds since the Unix epoch, UTC.
-- Every per-customer table carries customer_id first in its key, as on PostgreSQL.
CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,
    email TEXT NULL,
    name TEXT NULL,
    metadata TEXT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE ledger_lots (
    customer_id TEXT NOT NULL,
    lot_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    remaining INTEGER NOT NULL CHECK (remaining >= 0),
    held INTEGER NOT NULL CHECK (held >= 0),
    clawed INTEGER NOT NULL CHECK (clawed >= 0 AND clawed <= amount),
    expired INTEGER NOT NULL CHECK (expired >= 0 AND expired <= amount),
    -- remaining > 0 OR held > 0, kept as its own column so that index predicates name only it: updates that move
    -- credits without emptying or refilling a lot stay HOT (no index writes) on PostgreSQL.
    live INTEGER NOT NULL,
    source TEXT NOT NULL,
    source_ref TEXT NULL,
    expires_at INTEGER NULL,
    priority INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, lot_id),
    CHECK (remaining + held <= amount),
    CHECK (live = (remaining > 0 OR held > 0))
) STRICT;
CREATE INDEX ledger_lots_live ON ledger_lots (customer_id) WHERE live;
CREATE INDEX ledger_lots_source ON ledger_lots (customer_id, source_ref) WHERE source_ref IS NOT NULL;
CREATE INDEX ledger_lots_due ON ledger_lots (expires_at) WHERE live;

CREATE TABLE ledger_entries (
    customer_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    entry_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    type TEXT NOT NULL,
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    at INTEGER NOT NULL,
    detail TEXT NOT NULL,
    reference TEXT NULL,
    hold_id TEXT NULL,
    operation_key TEXT NULL,
    PRIMARY KEY (customer_id, seq)
) STRICT;
CREATE INDEX ledger_entries_feature ON ledger_entries (customer_id, feature, seq);

CREATE TABLE ledger_holds (
    customer_id TEXT NOT NULL,
    hold_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL,
    allocations TEXT NOT NULL,
    spill_feature TEXT NULL,
    spill_unit_cost INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    closed_at INTEGER NULL,
    settled INTEGER NOT NULL,
    reference TEXT NULL,
    PRIMARY KEY (customer_id, hold_id)
) STRICT;
CREATE INDEX ledger_holds_id ON ledger_holds (hold_id);
CREATE INDEX ledger_holds_active ON ledger_holds (customer_id) WHERE status = 'active';
CREATE INDEX ledger_holds_due ON ledger_holds (expires_at) WHERE status = 'active';

CREATE TABLE ledger_debts (
    customer_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (customer_id, feature)
) STRICT;

-- The first result of every idempotent ledger operation; the primary key is the exactly-once guarantee.
CREATE TABLE ledger_operations (
    customer_id TEXT NOT NULL,
    operation_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, operation_key)
) STRICT;
