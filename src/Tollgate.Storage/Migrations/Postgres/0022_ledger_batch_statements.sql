-- A ledger batch of many customers (usage spread over many customers, issue 10) sent one statement per customer to claim
-- their rows and one per lot to update them: in a batch of 16 customers, 32 statements whose parse, bind and execute
-- overhead cost PostgreSQL more than their row work. These functions take the batch's arrays and do the same work
-- row by row inside one statement. Each statement inside names one customer by key (an index lookup whatever plan
-- is cached), as the statements they replace did. A batch of one customer, or one lot, still sends the plain statement.
-- Procedures, called with CALL: unlike a SELECT of a function they return no result set, so they can travel among a
-- flow's deferred statements, whose batch answers only the statement it was sent for.

-- tollgate_claim_ledger (0021) for each customer in turn, in the order given (the caller sorts by customer id, the order
-- every writer takes its locks in). The first customer whose row no longer holds its version fails the statement, and
-- with it the transaction, with SQLSTATE TG001, before any of the batch's writes.
CREATE PROCEDURE tollgate_claim_ledgers(p_customers text[], p_versions bigint[], p_next bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    v_customer text;
    v_version bigint;
    v_next bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_customers, 1), 0) LOOP
        v_customer := p_customers[i];
        v_version := p_versions[i];
        v_next := p_next[i];
        IF v_next = v_version THEN
            PERFORM 1 FROM customers WHERE customer_id = v_customer AND ledger_version = v_version FOR NO KEY UPDATE;
        ELSE
            UPDATE customers SET ledger_version = v_next WHERE customer_id = v_customer AND ledger_version = v_version;
        END IF;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'the ledger of customer % changed since version %', v_customer, v_version USING ERRCODE = 'TG001';
        END IF;
    END LOOP;
END
$$;

-- The batch's changed lots, each updated by its primary key, as the one-lot statement does.
CREATE PROCEDURE tollgate_update_lots(p_customers text[], p_lots text[], p_remaining bigint[], p_held bigint[], p_clawed bigint[],
    p_expired bigint[], p_live boolean[], p_expires_at timestamptz[])
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_customers, 1), 0) LOOP
        UPDATE ledger_lots SET remaining = p_remaining[i], held = p_held[i], clawed = p_clawed[i], expired = p_expired[i], live = p_live[i],
            expires_at = p_expires_at[i]
        WHERE customer_id = p_customers[i] AND lot_id = p_lots[i];
    END LOOP;
END
$$;
