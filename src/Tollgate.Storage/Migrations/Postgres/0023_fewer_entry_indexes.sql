-- A ledger entry is the write every usage makes, and its insert was the costliest statement of a usage spread over many
-- customers (issue 10: 37 % of PostgreSQL's time, docs/benchmarks.md), most of it in its four indexes. Two of them
-- served one reader each, and each reader can be served from a row the same commit already writes:
--
-- * ledger_entries_id (entry_id) found an entry by its id within its customer. customer_keys, which a lookup by entry
--   id reads first, now also holds the entry's seq, and the entry is read by its primary key (customer_id, seq).
-- * ledger_entries_usage (customer_id, feature, at) found the entries of the partial hours at a usage chart's edges.
--   ledger_usage_hourly now also holds, per hour, the first and last seq of the entries that used units in it, and the
--   edge reads ledger_entries_feature (customer_id, feature, seq) between them, filtering by time. Bounds by seq stay
--   right whatever the clocks did: the entries of an hour are by definition between its first and last seq, and any
--   other entry in that range is filtered out by its time.
--
-- Not a rolling upgrade (docs/operations.md): servers of earlier versions write neither the seq nor the bounds.

-- NULL for every kind but an entry, and for an entry written by an earlier version (the lookup then falls back to
-- reading the customer's entries by id: slow, still right).
ALTER TABLE customer_keys ADD COLUMN seq bigint NULL;
UPDATE customer_keys k SET seq = e.seq
FROM ledger_entries e
WHERE k.kind = 'entry' AND k.provider = '' AND e.customer_id = k.customer_id AND e.entry_id = k.key;

-- The defaults (the widest range) are what an hour whose bounds are unknown must read: all of the feature's entries.
ALTER TABLE ledger_usage_hourly
    ADD COLUMN first_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_seq bigint NOT NULL DEFAULT 9223372036854775807;
-- Every hour with an entry that may use units (a reversal gives units back) gets its bounds; an hour whose uses summed
-- to zero had no row, and gets one (its sum, zero), since the partial hour at a chart's edge may still hold some of
-- those uses.
INSERT INTO ledger_usage_hourly (customer_id, feature, hour, used, first_seq, last_seq)
SELECT customer_id, feature, date_trunc('hour', at, 'UTC'),
       sum(CASE type WHEN 'consume' THEN coalesce((detail::json ->> 'units')::bigint, -amount)
                     WHEN 'settle' THEN coalesce((detail::json ->> 'settled')::bigint, 0)
                     WHEN 'reverse' THEN coalesce((detail::json ->> 'units')::bigint, 0)
                     ELSE amount END),
       min(seq), max(seq)
FROM ledger_entries WHERE type IN ('consume', 'settle', 'count', 'reverse')
GROUP BY customer_id, feature, date_trunc('hour', at, 'UTC')
ON CONFLICT (customer_id, feature, hour) DO UPDATE SET first_seq = excluded.first_seq, last_seq = excluded.last_seq;

DROP INDEX ledger_entries_id;
DROP INDEX ledger_entries_usage;
