-- One signed Creem checkout.completed delivery (a credit pack) as PostgreSQL sees it: the statements, and the round
-- trips they are pipelined into (\startpipeline … \endpipeline), that the server sent for one delivery of the webhooks
-- bench, captured with log_statement = 'all' at main 100c8ce (2026-12-06). Ids are random per transaction, the customer
-- one of 1,000. Run it through webhook_pgbench.py, which supplies :payload and the other text variables, migrates a fresh
-- schema and derives the variants; it is a snapshot, so it drifts when the statements in src/ change.
\set c random(1, 1000)
\set n random(1, 4000000000000000000)
\startpipeline
BEGIN;
INSERT INTO webhook_events (provider, event_id, event_type, occurred_at, received_at, payload, status, attempts, next_attempt_at, last_error, applied_at, customer_id) VALUES ('creem', 'evt_' || (:n::bigint), 'checkout.completed', now(), now(), :payload::text, 'received', 0, now() + interval '1 minute', NULL, NULL, NULL);
SELECT customer_id FROM customer_keys WHERE key = 'ch_' || (:n::bigint) AND kind = 'checkout_session' AND provider = 'creem';
\endpipeline
SELECT customer_id FROM customer_keys WHERE key = 'ch_' || (:n::bigint) AND kind = 'checkout' AND provider = '';
\startpipeline
INSERT INTO customer_keys (key, kind, provider, customer_id) VALUES ('cust_' || (:c::int), 'provider_customer', 'creem', 'wh' || (:c::int)) ON CONFLICT (key, kind, provider) DO NOTHING;
INSERT INTO provider_customers (customer_id, provider, provider_customer_id, created_at) SELECT 'wh' || (:c::int), 'creem', 'cust_' || (:c::int), now() WHERE EXISTS (SELECT 1 FROM customer_keys WHERE key = 'cust_' || (:c::int) AND kind = 'provider_customer' AND provider = 'creem' AND customer_id = 'wh' || (:c::int)) ON CONFLICT DO NOTHING;
INSERT INTO customer_keys (key, kind, provider, customer_id) VALUES ('ord_' || (:n::bigint), 'payment', 'creem', 'wh' || (:c::int)) ON CONFLICT (key, kind, provider) DO NOTHING;
\endpipeline
\startpipeline
INSERT INTO payments (customer_id, payment_id, provider, kind, product, status, amount, currency, checkout_id, provider_checkout_id, provider_payment_id, provider_subscription_id, subscription_id, ledger_ref, credits, refunded_amount, credits_clawed, flag, payload, created_at, updated_at, reversals) VALUES ('wh' || (:c::int), 'pay_' || (:n::bigint), 'creem', 'pack', 'starter_pack', 'completed', 500, 'USD', NULL, 'ch_' || (:n::bigint), 'ord_' || (:n::bigint), NULL, NULL, (:payref::text) || (:n::bigint), 100, 0, 0, NULL, :payload::text, now(), now(), '|');
INSERT INTO payment_changes (customer_id, day) SELECT customer_id, date_trunc('day', created_at, 'UTC') FROM payments WHERE customer_id = 'wh' || (:c::int) AND payment_id = 'pay_' || (:n::bigint);
INSERT INTO customer_keys (key, kind, provider, customer_id) VALUES ('ch_' || (:n::bigint), 'payment_checkout', 'creem', 'wh' || (:c::int)) ON CONFLICT (key, kind, provider) DO NOTHING;
INSERT INTO customers (customer_id, created_at, updated_at) SELECT id, now(), now() FROM unnest(ARRAY['wh' || (:c::int)]) AS id ORDER BY id ON CONFLICT (customer_id) DO NOTHING;
SELECT ledger_version FROM customers WHERE customer_id = 'wh' || (:c::int) FOR NO KEY UPDATE;
SELECT seq FROM ledger_entries WHERE customer_id = 'wh' || (:c::int) ORDER BY seq DESC LIMIT 1;
SELECT customer_id, lot_id, feature, amount, remaining, held, clawed, expired, source, source_ref, expires_at, priority, seq, created_at FROM ledger_lots WHERE customer_id = 'wh' || (:c::int) AND live;
SELECT customer_id, hold_id, feature, amount, status, allocations, spill_feature, spill_unit_cost, created_at, expires_at, closed_at, settled, reference FROM ledger_holds WHERE customer_id = 'wh' || (:c::int) AND status = 'active';
SELECT feature, amount FROM ledger_debts WHERE customer_id = 'wh' || (:c::int);
SELECT feature, level FROM ledger_counters WHERE customer_id = 'wh' || (:c::int);
SELECT customer_id, operation_key, kind, fingerprint, result, created_at FROM ledger_operations WHERE customer_id = 'wh' || (:c::int) AND operation_key = (:grantref::text) || (:n::bigint);
\endpipeline
\startpipeline
UPDATE customers SET ledger_version = (:n::bigint) WHERE customer_id = 'wh' || (:c::int);
INSERT INTO ledger_lots (customer_id, lot_id, feature, amount, remaining, held, clawed, expired, source, source_ref, expires_at, priority, seq, created_at, live) SELECT * FROM unnest(ARRAY['wh' || (:c::int)], ARRAY['lot_' || (:n::bigint)], ARRAY['credits'], ARRAY[100::bigint], ARRAY[100::bigint], ARRAY[0::bigint], ARRAY[0::bigint], ARRAY[0::bigint], ARRAY['payment'], ARRAY[(:payref::text) || (:n::bigint)], ARRAY[NULL::timestamptz], ARRAY[20], ARRAY[((:n::bigint) % 1000000000)::bigint], ARRAY[now()], ARRAY[true]);
INSERT INTO ledger_entries (customer_id, seq, entry_id, feature, type, amount, balance_after, at, detail, reference, hold_id, operation_key) SELECT * FROM unnest(ARRAY['wh' || (:c::int)], ARRAY[((:n::bigint) % 1000000000)::bigint], ARRAY['ent_' || (:n::bigint)], ARRAY['credits'], ARRAY['grant'], ARRAY[100::bigint], ARRAY[300::bigint], ARRAY[now()], ARRAY[(:detail::text)], ARRAY['starter_pack (creem ord_' || (:n::bigint) || ')'], ARRAY[NULL::text], ARRAY[(:grantref::text) || (:n::bigint)]);
INSERT INTO customer_keys (key, kind, provider, customer_id, seq) SELECT k, kind, '', c, s FROM unnest(ARRAY['ent_' || (:n::bigint)], ARRAY['entry'], ARRAY['wh' || (:c::int)], ARRAY[((:n::bigint) % 1000000000)::bigint]) AS t(k, kind, c, s);
INSERT INTO ledger_operations (customer_id, operation_key, kind, fingerprint, result, created_at) SELECT * FROM unnest(ARRAY['wh' || (:c::int)], ARRAY[(:grantref::text) || (:n::bigint)], ARRAY['grant'], ARRAY['2241795e677a511c667611a30003dc150dc18254a356cda15ecbd4ea36597370'], ARRAY[(:result::text)], ARRAY[now()]);
UPDATE webhook_events SET status = 'applied', attempts = 1, next_attempt_at = NULL, last_error = NULL, applied_at = now(), customer_id = 'wh' || (:c::int) WHERE provider = 'creem' AND event_id = 'evt_' || (:n::bigint);
INSERT INTO event_counters (customer_id, seq) VALUES ('wh' || (:c::int), 2) ON CONFLICT (customer_id) DO UPDATE SET seq = event_counters.seq + excluded.seq RETURNING seq;
\endpipeline
\startpipeline
INSERT INTO events (event_id, customer_id, seq, event_type, payload, created_at) SELECT * FROM unnest(ARRAY['evta_' || (:n::bigint), 'evtb_' || (:n::bigint)], ARRAY['wh' || (:c::int), 'wh' || (:c::int)], ARRAY[((:n::bigint) % 1000000000)::bigint, ((:n::bigint) % 1000000000 + 1)::bigint], ARRAY['payment.succeeded', 'credits.granted'], ARRAY[:evpayload::text, :evpayload::text], ARRAY[now(), now()]);
INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT k, 'event', '', c FROM unnest(ARRAY['evta_' || (:n::bigint), 'evtb_' || (:n::bigint)], ARRAY['wh' || (:c::int), 'wh' || (:c::int)]) AS t(k, c);
INSERT INTO event_deliveries (endpoint_id, event_id, customer_id, seq, status, attempts, next_attempt_at, updated_at) SELECT w.endpoint_id, e.id, e.c, e.seq, 'pending', 0, e.at, e.at FROM unnest(ARRAY['evta_' || (:n::bigint), 'evtb_' || (:n::bigint)], ARRAY['wh' || (:c::int), 'wh' || (:c::int)], ARRAY[1::bigint, 2::bigint], ARRAY[now(), now()], ARRAY['payment.succeeded', 'credits.granted']) AS e(id, c, seq, at, type) JOIN webhook_endpoints w ON w.status = 'enabled' AND (w.event_types IS NULL OR ',' || w.event_types || ',' LIKE '%,' || e.type || ',%');
COMMIT;
\endpipeline
SELECT pg_notify('tollgate_customers', 'wh' || (:c::int));
