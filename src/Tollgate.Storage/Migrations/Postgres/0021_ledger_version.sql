-- A version per customer's ledger (issue 10): every committed change of a customer's ledger rows moves it on, in the
-- same transaction. A server that committed a customer's last change knows the state that change left, and writes the
-- next batch from it instead of loading it again; the commit checks that the row still holds the version it knew.
ALTER TABLE customers ADD COLUMN ledger_version bigint NOT NULL DEFAULT 0;

-- Checks that a customer's row still holds p_version (waiting on its lock, so a concurrent writer's commit is seen),
-- moves it on by p_step (0: a check and a lock alone), and fails the transaction with SQLSTATE TG001 otherwise: a batch written from
-- a state another writer has changed since must not commit. A function because one statement in a pipelined batch can
-- only stop the statements after it by failing.
CREATE FUNCTION tollgate_claim_ledger(p_customer text, p_version bigint, p_step bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_step = 0 THEN
        PERFORM 1 FROM customers WHERE customer_id = p_customer AND ledger_version = p_version FOR NO KEY UPDATE;
    ELSE
        UPDATE customers SET ledger_version = ledger_version + p_step WHERE customer_id = p_customer AND ledger_version = p_version;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the ledger of customer % changed since version %', p_customer, p_version USING ERRCODE = 'TG001';
    END IF;
END
$$;
