-- A webhook delivery's inbox row written once, in its final state (issue 10). The first attempt of a delivery inserted
-- the row as received at the start of its flow and updated it to its outcome before the commit. That update can never
-- be HOT: status, customer_id and next_attempt_at are indexed, so each index took a second entry (a partial one where
-- the new version matched it), and the row left a dead version for vacuum. The insert and update were the second- and fourth-costliest statements of a delivery
-- (docs/benchmarks.md). A PostgreSQL flow now checks at its start that the event is not stored (this procedure, sent
-- with the flow's first statement) and inserts the row with its outcome at the end, with the commit.
--
-- A procedure because a statement that rides in front of a flow's next query must return no rows, and stops the
-- statements after it only by failing. It fails as the insert it replaces did: unique_violation on
-- webhook_events_pkey, which the processor reads as a duplicate. It sees committed events only: a concurrent delivery
-- of the same event that has not committed yet is found by the final insert, which waits for it and then fails on the key.
-- Its error names no table, where the insert's names webhook_events: the processor tells the two apart (an event
-- stored before the delivery began, or while it ran).
CREATE PROCEDURE tollgate_webhook_absent(p_provider text, p_event_id text)
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_events WHERE provider = p_provider AND event_id = p_event_id) THEN
        RAISE EXCEPTION 'the % event % is stored already', p_provider, p_event_id
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'webhook_events_pkey';
    END IF;
END
$$;

-- payments_revenue (created_at) INCLUDE (…), added by 0008, serves every reader of payments_created (created_at): it
-- leads with the same column. One index fewer for each payment's insert, the costliest statement of a delivery.
DROP INDEX payments_created;
