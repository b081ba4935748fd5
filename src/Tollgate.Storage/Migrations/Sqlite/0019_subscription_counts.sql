-- The dashboard's subscriptions per plan and status, kept as counts instead of counted (see the PostgreSQL migration
-- and docs/operations.md, "Subscription counts").
CREATE TABLE subscription_count_changes (
    change_id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    status TEXT NOT NULL,
    delta INTEGER NOT NULL
);

CREATE TABLE subscription_counts (
    plan_id TEXT NOT NULL,
    status TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (plan_id, status)
);

INSERT INTO subscription_counts (plan_id, status, count) SELECT plan_id, status, count(*) FROM subscriptions GROUP BY plan_id, status;
