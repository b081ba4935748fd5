-- Cost that stays flat as the data grows (issue 18): what read a whole table or all of one customer's history now reads an
-- index or a rollup.

-- Units used per customer, feature and UTC hour, written in the transaction that writes the entries (the same upsert
-- the ledger's commit adds): a usage chart reads 24 rows a day instead of every entry of the period (241k entries,
-- 2.8 s, on one busy customer), and only the partial hours at a range's edges from the entries (by the hour, not the
-- day, so that a period starting mid-afternoon does not read half a busy day of entries). Filled here from the
-- entries already written.
CREATE TABLE ledger_usage_hourly (
    customer_id text NOT NULL,
    feature text NOT NULL,
    hour timestamptz NOT NULL,
    used bigint NOT NULL,
    PRIMARY KEY (customer_id, feature, hour)
);
INSERT INTO ledger_usage_hourly (customer_id, feature, hour, used)
SELECT customer_id, feature, date_trunc('hour', at, 'UTC'),
       sum(CASE type WHEN 'consume' THEN coalesce((detail::json ->> 'units')::bigint, -amount)
                     WHEN 'settle' THEN coalesce((detail::json ->> 'settled')::bigint, 0)
                     ELSE amount END)
FROM ledger_entries WHERE type IN ('consume', 'settle', 'count')
GROUP BY customer_id, feature, date_trunc('hour', at, 'UTC');

-- The admin customer list, newest first, in the order the page sorts by.
CREATE INDEX customers_created ON customers (created_at DESC, customer_id);
-- Admin search by prefix of id, e-mail or name (a range on the lower-cased text in byte order, which any plan, generic
-- or not, can read from an index; a LIKE '%q%' can only scan). pg_trgm would allow substrings, but creating an
-- extension needs rights an application role often lacks, and SQLite has no equivalent.
CREATE INDEX customers_search_id ON customers ((lower(customer_id) COLLATE "C"));
CREATE INDEX customers_search_email ON customers ((lower(email) COLLATE "C")) WHERE email IS NOT NULL;
CREATE INDEX customers_search_name ON customers ((lower(name) COLLATE "C")) WHERE name IS NOT NULL;

-- The checkout expiry sweep (every server, every 10 s) reads only checkouts still open.
CREATE INDEX checkouts_open ON checkouts (created_at) WHERE status IN ('open', 'failed');

-- The webhook retry claim: only events with an attempt still to come are in the index (received and failed ones that
-- are due); an event that used up its attempts has no next attempt and leaves it.
DROP INDEX webhook_events_due;
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

-- The dashboard's 30 days of revenue from the index alone (its cost is the payments of those days, not of all time).
CREATE INDEX payments_revenue ON payments (created_at) INCLUDE (status, currency, amount, refunded_amount);
-- The dashboard counts subscriptions per status and plan from the index alone.
CREATE INDEX subscriptions_status_plan ON subscriptions (status, plan_id);
