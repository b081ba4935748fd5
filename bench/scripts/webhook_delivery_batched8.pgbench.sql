-- Eight deliveries of webhook_delivery.pgbench.sql in one transaction, each statement written once for all eight
-- (generate_series over the eight ids; eight different customers), in the same round trips: a sketch of what a
-- webhook pipeline that batched deliveries across requests, as the ledger batches usage, would send. Hand-written
-- (2026-12-06); lookups of the eight are "= ANY(ARRAY(SELECT …))", which plan as index scans (a first draft with
-- "IN (SELECT …)" was planned as scans that slowed as the tables grew). It writes the rows of eight deliveries, with
-- simplifications that keep their number: constant balances and event sequence numbers, and a version increment in
-- place of the ledger's version check. Run through webhook_pgbench.py --variants batched8.
\set c random(1, 1000)
\set n random(1, 100000000000000000)
\startpipeline
BEGIN;
INSERT INTO webhook_events (provider, event_id, event_type, occurred_at, received_at, payload, status, attempts, next_attempt_at, last_error, applied_at, customer_id) SELECT 'creem', 'evt_' || ((:n::bigint) * 8 + i), 'checkout.completed', now(), now(), :payload::text, 'received', 0, now() + interval '1 minute', NULL, NULL, NULL FROM generate_series(0, 7) AS i;
SELECT customer_id FROM customer_keys WHERE key = ANY(ARRAY(SELECT 'ch_' || ((:n::bigint) * 8 + i) FROM generate_series(0, 7) AS i)) AND kind = 'checkout_session' AND provider = 'creem';
\endpipeline
SELECT customer_id FROM customer_keys WHERE key = ANY(ARRAY(SELECT 'ch_' || ((:n::bigint) * 8 + i) FROM generate_series(0, 7) AS i)) AND kind = 'checkout' AND provider = '';
\startpipeline
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT 'cust_' || (((:c::int) + i * 125) % 1000 + 1), 'provider_customer', 'creem', 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i ON CONFLICT (key, kind, provider) DO NOTHING;
INSERT INTO provider_customers (customer_id, provider, provider_customer_id, created_at) SELECT 'wh' || x, 'creem', 'cust_' || x, now() FROM (SELECT ((:c::int) + i * 125) % 1000 + 1 AS x FROM generate_series(0, 7) AS i) s WHERE EXISTS (SELECT 1 FROM customer_keys WHERE key = 'cust_' || x AND kind = 'provider_customer' AND provider = 'creem' AND customer_id = 'wh' || x) ON CONFLICT DO NOTHING;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT 'ord_' || ((:n::bigint) * 8 + i), 'payment', 'creem', 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i ON CONFLICT (key, kind, provider) DO NOTHING;
\endpipeline
\startpipeline
INSERT INTO payments (customer_id, payment_id, provider, kind, product, status, amount, currency, checkout_id, provider_checkout_id, provider_payment_id, provider_subscription_id, subscription_id, ledger_ref, credits, refunded_amount, credits_clawed, flag, payload, created_at, updated_at, reversals) SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1), 'pay_' || ((:n::bigint) * 8 + i), 'creem', 'pack', 'starter_pack', 'completed', 500, 'USD', NULL, 'ch_' || ((:n::bigint) * 8 + i), 'ord_' || ((:n::bigint) * 8 + i), NULL, NULL, (:payref::text) || ((:n::bigint) * 8 + i), 100, 0, 0, NULL, :payload::text, now(), now(), '|' FROM generate_series(0, 7) AS i;
INSERT INTO payment_changes (customer_id, day) SELECT customer_id, date_trunc('day', created_at, 'UTC') FROM payments WHERE customer_id = ANY(ARRAY(SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i)) AND payment_id = ANY(ARRAY(SELECT 'pay_' || ((:n::bigint) * 8 + i) FROM generate_series(0, 7) AS i)) ON CONFLICT DO NOTHING;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT 'ch_' || ((:n::bigint) * 8 + i), 'payment_checkout', 'creem', 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i ON CONFLICT (key, kind, provider) DO NOTHING;
INSERT INTO customers (customer_id, created_at, updated_at) SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1), now(), now() FROM generate_series(0, 7) AS i ORDER BY 1 ON CONFLICT (customer_id) DO NOTHING;
SELECT ledger_version FROM customers WHERE customer_id = ANY(ARRAY(SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i)) ORDER BY customer_id FOR NO KEY UPDATE;
SELECT s.c, (SELECT seq FROM ledger_entries e WHERE e.customer_id = s.c ORDER BY seq DESC LIMIT 1) FROM (SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1) AS c FROM generate_series(0, 7) AS i) s;
SELECT customer_id, lot_id, feature, amount, remaining, held, clawed, expired, source, source_ref, expires_at, priority, seq, created_at FROM ledger_lots WHERE customer_id = ANY(ARRAY(SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i)) AND live;
SELECT customer_id, hold_id, feature, amount, status, allocations, spill_feature, spill_unit_cost, created_at, expires_at, closed_at, settled, reference FROM ledger_holds WHERE customer_id = ANY(ARRAY(SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i)) AND status = 'active';
SELECT customer_id, feature, amount FROM ledger_debts WHERE customer_id = ANY(ARRAY(SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i));
SELECT customer_id, feature, level FROM ledger_counters WHERE customer_id = ANY(ARRAY(SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i));
SELECT customer_id, operation_key, kind, fingerprint, result, created_at FROM ledger_operations WHERE customer_id = ANY(ARRAY(SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i)) AND operation_key = ANY(ARRAY(SELECT (:grantref::text) || ((:n::bigint) * 8 + i) FROM generate_series(0, 7) AS i));
\endpipeline
\startpipeline
UPDATE customers SET ledger_version = ledger_version + 1 WHERE customer_id = ANY(ARRAY(SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i));
INSERT INTO ledger_lots (customer_id, lot_id, feature, amount, remaining, held, clawed, expired, source, source_ref, expires_at, priority, seq, created_at, live) SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1), 'lot_' || ((:n::bigint) * 8 + i), 'credits', 100, 100, 0, 0, 0, 'payment', (:payref::text) || ((:n::bigint) * 8 + i), NULL, 20, ((:n::bigint) * 8 + i) % 1000000000, now(), true FROM generate_series(0, 7) AS i;
INSERT INTO ledger_entries (customer_id, seq, entry_id, feature, type, amount, balance_after, at, detail, reference, hold_id, operation_key) SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1), ((:n::bigint) * 8 + i) % 1000000000, 'ent_' || ((:n::bigint) * 8 + i), 'credits', 'grant', 100, 300, now(), :detail::text, 'starter_pack (creem ord_' || ((:n::bigint) * 8 + i) || ')', NULL, (:grantref::text) || ((:n::bigint) * 8 + i) FROM generate_series(0, 7) AS i;
INSERT INTO customer_keys (key, kind, provider, customer_id, seq) SELECT 'ent_' || ((:n::bigint) * 8 + i), 'entry', '', 'wh' || (((:c::int) + i * 125) % 1000 + 1), ((:n::bigint) * 8 + i) % 1000000000 FROM generate_series(0, 7) AS i;
INSERT INTO ledger_operations (customer_id, operation_key, kind, fingerprint, result, created_at) SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1), (:grantref::text) || ((:n::bigint) * 8 + i), 'grant', '2241795e677a511c667611a30003dc150dc18254a356cda15ecbd4ea36597370', :result::text, now() FROM generate_series(0, 7) AS i;
UPDATE webhook_events SET status = 'applied', attempts = 1, next_attempt_at = NULL, last_error = NULL, applied_at = now(), customer_id = 'wh' || (((:c::int) + (substr(event_id, 5)::bigint - (:n::bigint) * 8) * 125) % 1000 + 1) WHERE provider = 'creem' AND event_id = ANY(ARRAY(SELECT 'evt_' || ((:n::bigint) * 8 + i) FROM generate_series(0, 7) AS i));
INSERT INTO event_counters (customer_id, seq) SELECT 'wh' || (((:c::int) + i * 125) % 1000 + 1), 2 FROM generate_series(0, 7) AS i ORDER BY 1 ON CONFLICT (customer_id) DO UPDATE SET seq = event_counters.seq + excluded.seq RETURNING seq;
\endpipeline
\startpipeline
INSERT INTO events (event_id, customer_id, seq, event_type, payload, created_at) SELECT 'evt' || j || '_' || ((:n::bigint) * 8 + i), 'wh' || (((:c::int) + i * 125) % 1000 + 1), ((:n::bigint) * 8 + i) % 1000000000 * 2 + j, CASE j WHEN 0 THEN 'payment.succeeded' ELSE 'credits.granted' END, :evpayload::text, now() FROM generate_series(0, 7) AS i, generate_series(0, 1) AS j;
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT 'evt' || j || '_' || ((:n::bigint) * 8 + i), 'event', '', 'wh' || (((:c::int) + i * 125) % 1000 + 1) FROM generate_series(0, 7) AS i, generate_series(0, 1) AS j;
INSERT INTO event_deliveries (endpoint_id, event_id, customer_id, seq, status, attempts, next_attempt_at, updated_at) SELECT w.endpoint_id, 'evt' || j || '_' || ((:n::bigint) * 8 + i), 'wh' || (((:c::int) + i * 125) % 1000 + 1), 1, 'pending', 0, now(), now() FROM generate_series(0, 7) AS i, generate_series(0, 1) AS j JOIN webhook_endpoints w ON w.status = 'enabled';
COMMIT;
\endpipeline
SELECT pg_notify('tollgate_customers', 'wh' || (:c::int));
