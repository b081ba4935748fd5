-- tollgate_claim_ledgers (0022) checked and replaced the versions of a batch's customers in a PL/pgSQL loop, one
-- statement per customer, each running the executor afresh. In usage spread over many customers it was PostgreSQL's
-- costliest statement after the lot updates that 0024 rewrote: 11.2 µs per usage (pg_stat_statements over 60,000
-- spread usages, docs/benchmarks.md, issue 10). Here the batch is one statement: an UPDATE ... FROM unnest(...) when
-- every customer's version changes (a usage batch), a locking SELECT when none does, both when some do.
--
-- What the loop guaranteed, kept:
-- * Locks in the order given. The caller sorts by customer id, the order every writer takes customer locks in, so two
--   batches never wait for each other in a cycle. Sequential scans, hash and merge joins are off for this procedure
--   (as in 0024), which leaves a nested loop: each element in the array's order, its customer looked up by the primary
--   key and locked (or updated) before the next is read, whatever the table's size or the cached plan. The locking
--   SELECT also sorts by the array position: a locking SELECT locks its rows after its ORDER BY. PostgresClaimTests
--   holds a customer in the middle of a batch and checks that the batch has locked the customers before it and none
--   after it.
-- * A check under the lock. A row another transaction changes meanwhile is re-read once that one commits; if its
--   version no longer matches, the row drops out, the count falls short, and the call fails with SQLSTATE TG001, naming
--   the first customer in the array that no longer matches, before any of the batch's writes. The rows locked or
--   updated until then are undone when the transaction rolls back, which the failure forces.
--
-- Same arguments, same effect: a server of the release before calls it unchanged (a rolling upgrade).
CREATE OR REPLACE PROCEDURE tollgate_claim_ledgers(p_customers text[], p_versions bigint[], p_next bigint[])
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    v_expected int := coalesce(array_length(p_customers, 1), 0);
    v_claimed int;
    v_customer text;
    v_version bigint;
BEGIN
    IF v_expected = 0 THEN
        RETURN;
    END IF;

    IF NOT (p_next && p_versions) THEN
        -- Every version changes (no new one equals an old one: new versions are random): each row is checked, locked and
        -- replaced in one pass. (A plain expression, so PL/pgSQL evaluates it without running a query.)
        UPDATE customers AS c SET ledger_version = u.next
        FROM unnest(p_customers, p_versions, p_next) AS u(customer_id, version, next)
        WHERE c.customer_id = u.customer_id AND c.ledger_version = u.version;
        GET DIAGNOSTICS v_claimed = ROW_COUNT;
    ELSE
        -- None changes (a transaction opened before it knows what it changes), some do, or a new version happens to
        -- equal an old one: all are locked in order first, then those that change are replaced, locked already, so in
        -- any order.
        PERFORM 1
        FROM unnest(p_customers, p_versions) WITH ORDINALITY AS u(customer_id, version, position)
        JOIN customers AS c ON c.customer_id = u.customer_id AND c.ledger_version = u.version
        ORDER BY u.position
        FOR NO KEY UPDATE OF c;
        GET DIAGNOSTICS v_claimed = ROW_COUNT;
        IF v_claimed = v_expected AND p_next IS DISTINCT FROM p_versions THEN
            UPDATE customers AS c SET ledger_version = u.next
            FROM unnest(p_customers, p_versions, p_next) AS u(customer_id, version, next)
            WHERE c.customer_id = u.customer_id AND c.ledger_version = u.version AND u.next <> u.version;
        END IF;
    END IF;

    IF v_claimed < v_expected THEN
        -- The first customer that holds neither the version given nor (replaced by this call) its next.
        SELECT u.customer_id, u.version INTO v_customer, v_version
        FROM unnest(p_customers, p_versions, p_next) WITH ORDINALITY AS u(customer_id, version, next, position)
        WHERE NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.customer_id = u.customer_id AND c.ledger_version IN (u.version, u.next))
        ORDER BY u.position
        LIMIT 1;
        RAISE EXCEPTION 'the ledger of customer % changed since version %', v_customer, v_version USING ERRCODE = 'TG001';
    END IF;
END
$$;
