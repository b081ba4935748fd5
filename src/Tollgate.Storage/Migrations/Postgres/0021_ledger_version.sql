-- A version per customer's ledger (issue 10): every committed change of a customer's ledger rows replaces it, in the
-- same transaction. A server that committed a customer's last change knows the state that change left, and writes the
-- next batch from it instead of loading it again; the commit checks that the row still holds the version it knew.
-- A version is a random 64-bit value, not a count: a count can come back with other contents (a failover to a replica
-- that missed the last commits, a restored backup, a writer counting on from the same number), a random value does not.
ALTER TABLE customers ADD COLUMN ledger_version bigint NOT NULL DEFAULT 0;

-- Checks that a customer's row still holds p_version (waiting on its lock, so a concurrent writer's commit is seen),
-- replaces it with p_next (the same value: a check and a lock alone), and fails the transaction with SQLSTATE TG001
-- otherwise: a batch written from a state another writer has changed since must not commit. A function because one
-- statement in a pipelined batch can only stop the statements after it by failing.
CREATE FUNCTION tollgate_claim_ledger(p_customer text, p_version bigint, p_next bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_next = p_version THEN
        PERFORM 1 FROM customers WHERE customer_id = p_customer AND ledger_version = p_version FOR NO KEY UPDATE;
    ELSE
        UPDATE customers SET ledger_version = p_next WHERE customer_id = p_customer AND ledger_version = p_version;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the ledger of customer % changed since version %', p_customer, p_version USING ERRCODE = 'TG001';
    END IF;
END
$$;
