-- The dashboard's subscriptions per plan and status, kept as counts instead of counted (issue 18: counting 40,000 active
-- subscriptions on each dashboard view made its cost grow with them). Every subscription save appends, in its own
-- transaction, -1 for the row as it was (read under the row's lock) and +1 for the row as it is after the save; a save
-- the ordering rule skips appends the same state twice, which cancels. The dashboard reads counts plus the changes not
-- yet folded, in one statement; a fold moves changes into counts in one statement (docs/operations.md,
-- "Subscription counts").

-- Append-only, per customer (a save's statements are single-customer ones): customer_id leads the key (docs/scaling.md).
CREATE TABLE subscription_count_changes (
    customer_id text NOT NULL,
    change_id bigint GENERATED ALWAYS AS IDENTITY,
    plan_id text NOT NULL,
    status text NOT NULL,
    delta integer NOT NULL,
    PRIMARY KEY (customer_id, change_id)
);

-- Folded counts; small (plans x statuses), written only by the fold.
CREATE TABLE subscription_counts (
    plan_id text NOT NULL,
    status text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (plan_id, status)
);

-- The subscriptions there are now, counted once.
INSERT INTO subscription_counts (plan_id, status, count) SELECT plan_id, status, count(*) FROM subscriptions GROUP BY plan_id, status;
