-- The dashboard's revenue per closed day, computed once and kept exact (issue 18: its cost grew with the payments of
-- 30 days). A payment write that can change revenue (insert, update, refund or dispute) leaves a marker of its payment's
-- UTC day in its own transaction; the rollup pass recomputes a closed day from payments and deletes exactly the markers
-- it read; the dashboard reads a computed day only while it has no marker, and sums everything else live
-- (docs/operations.md, "Revenue rollup").

-- Append-only markers, one per revenue-relevant payment write. Per customer (the insert is a single-customer
-- statement): customer_id leads the key, as on every per-customer table (docs/scaling.md). day: midnight UTC of the
-- payment's created_at.
CREATE TABLE payment_changes (
    customer_id text NOT NULL,
    change_id bigint GENERATED ALWAYS AS IDENTITY,
    day timestamptz NOT NULL,
    PRIMARY KEY (customer_id, change_id)
);
-- The pass and the dashboard look markers up by day.
CREATE INDEX payment_changes_day ON payment_changes (day);

-- A closed day's revenue per currency, as RevenueByDayAsync sums it live; written only by the rollup pass.
CREATE TABLE revenue_days (
    day timestamptz NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL,
    payments integer NOT NULL,
    PRIMARY KEY (day, currency)
);

-- The days computed (a day without payments has a row here and none in revenue_days). Its row is also the day's lock:
-- the pass upserts it first, so two servers computing one day take turns.
CREATE TABLE revenue_rollup (
    day timestamptz PRIMARY KEY,
    computed_at timestamptz NOT NULL
);
