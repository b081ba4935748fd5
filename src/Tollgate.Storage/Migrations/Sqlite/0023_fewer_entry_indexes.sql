-- Two of ledger_entries' four indexes go, their readers served from rows the same commit already writes (see the
-- PostgreSQL migration): an entry by id through the seq customer_keys now holds, a chart's partial hours through the
-- first and last seq ledger_usage_hourly now holds per hour.

ALTER TABLE customer_keys ADD COLUMN seq INTEGER NULL;
UPDATE customer_keys SET seq = (
    SELECT e.seq FROM ledger_entries e WHERE e.customer_id = customer_keys.customer_id AND e.entry_id = customer_keys.key)
WHERE kind = 'entry' AND provider = '';

ALTER TABLE ledger_usage_hourly ADD COLUMN first_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledger_usage_hourly ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 9223372036854775807;
INSERT INTO ledger_usage_hourly (customer_id, feature, hour, used, first_seq, last_seq)
SELECT customer_id, feature, at - at % 3600000000,
       sum(CASE type WHEN 'consume' THEN coalesce(json_extract(detail, '$.units'), -amount)
                     WHEN 'settle' THEN coalesce(json_extract(detail, '$.settled'), 0)
                     WHEN 'reverse' THEN coalesce(json_extract(detail, '$.units'), 0)
                     ELSE amount END),
       min(seq), max(seq)
FROM ledger_entries WHERE type IN ('consume', 'settle', 'count', 'reverse')
GROUP BY customer_id, feature, at - at % 3600000000
ON CONFLICT (customer_id, feature, hour) DO UPDATE SET first_seq = excluded.first_seq, last_seq = excluded.last_seq;

DROP INDEX ledger_entries_id;
DROP INDEX ledger_entries_usage;
