-- The dashboard's revenue per closed day, computed once and kept exact (see the PostgreSQL migration and
-- docs/operations.md, "Revenue rollup"). Instants are microseconds since the epoch, as everywhere in this schema: day is
-- midnight UTC of the payment's created_at.
CREATE TABLE payment_changes (
    change_id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    day INTEGER NOT NULL
);
CREATE INDEX payment_changes_day ON payment_changes (day);

CREATE TABLE revenue_days (
    day INTEGER NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL,
    payments INTEGER NOT NULL,
    PRIMARY KEY (day, currency)
);

CREATE TABLE revenue_rollup (
    day INTEGER PRIMARY KEY,
    computed_at INTEGER NOT NULL
);
