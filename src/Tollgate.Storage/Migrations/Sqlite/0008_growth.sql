-- Cost that stays flat as the data grows (issue 18): what read a whole table or all of one customer's history now reads an
-- index or a rollup.

-- Units used per customer, feature and UTC hour (hour: its first microsecond since the epoch), written in the
-- transaction that writes the entries: a usage chart reads 24 rows a day instead of every entry of the period, and
-- only the partial hours at a range's edges from the entries. Filled here from the entries already written.
CREATE TABLE ledger_usage_hourly (
    customer_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    hour INTEGER NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (customer_id, feature, hour)
) WITHOUT ROWID;
INSERT INTO ledger_usage_hourly (customer_id, feature, hour, used)
SELECT customer_id, feature, at - at % 3600000000,
       sum(CASE type WHEN 'consume' THEN coalesce(json_extract(detail, '$.units'), -amount)
                     WHEN 'settle' THEN coalesce(json_extract(detail, '$.settled'), 0)
                     ELSE amount END)
FROM ledger_entries WHERE type IN ('consume', 'settle', 'count')
GROUP BY customer_id, feature, at - at % 3600000000;

-- The admin customer list, newest first, in the order the page sorts by.
CREATE INDEX customers_created ON customers (created_at DESC, customer_id);
-- Admin search by prefix of id, e-mail or name: a range on the lower-cased text (byte order), read from an index.
CREATE INDEX customers_search_id ON customers (lower(customer_id));
CREATE INDEX customers_search_email ON customers (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX customers_search_name ON customers (lower(name)) WHERE name IS NOT NULL;

-- The checkout expiry sweep reads only checkouts still open.
CREATE INDEX checkouts_open ON checkouts (created_at) WHERE status IN ('open', 'failed');

-- The webhook retry claim: only events with an attempt still to come are in the index; an event that used up its
-- attempts has no next attempt and leaves it.
DROP INDEX webhook_events_due;
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

-- The dashboard's 30 days of revenue from the index alone (its cost is the payments of those days, not of all time).
CREATE INDEX payments_revenue ON payments (created_at, status, currency, amount, refunded_amount);
-- The dashboard counts subscriptions per status and plan from the index alone.
CREATE INDEX subscriptions_status_plan ON subscriptions (status, plan_id);
