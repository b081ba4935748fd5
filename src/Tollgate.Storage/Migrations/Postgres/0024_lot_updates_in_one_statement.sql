-- tollgate_update_lots (0022) updated a batch's changed lots in a PL/pgSQL loop, one UPDATE per lot. Each of those ran
-- the executor afresh, and in a usage batch spread over many customers the call was PostgreSQL's costliest statement:
-- 32.8 µs per usage, a third of its statement time (pg_stat_statements over 60,000 spread usages, docs/benchmarks.md,
-- issue 10). Here the same updates are one statement: the arrays, unnested, joined to each lot by its primary key.
--
-- The join is pinned to that plan. Planned from the statistics of a small table (a new install, a test database), an
-- UPDATE ... FROM unnest(...) of a cached plan is a hash join over a sequential scan of every lot, kept until the next
-- ANALYZE. With sequential scans, hash and merge joins disabled for this procedure alone, the only plan left is the
-- loop it replaces: for each element in the order given, an index scan of ledger_lots_pkey, whatever the table's size.
-- (They are costs, not bans: a table without its primary key would still be scanned. It has one.)
--
-- The caller sends each (customer, lot) once: a batch's changes hold one row per lot. An UPDATE ... FROM that met a lot
-- twice would update it once, from either row, where the loop applied both in order.
CREATE OR REPLACE PROCEDURE tollgate_update_lots(p_customers text[], p_lots text[], p_remaining bigint[], p_held bigint[], p_clawed bigint[],
    p_expired bigint[], p_live boolean[], p_expires_at timestamptz[])
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
    UPDATE ledger_lots AS l
    SET remaining = u.remaining, held = u.held, clawed = u.clawed, expired = u.expired, live = u.live, expires_at = u.expires_at
    FROM unnest(p_customers, p_lots, p_remaining, p_held, p_clawed, p_expired, p_live, p_expires_at)
        AS u(customer_id, lot_id, remaining, held, clawed, expired, live, expires_at)
    WHERE l.customer_id = u.customer_id AND l.lot_id = u.lot_id;
END
$$;
