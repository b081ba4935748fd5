-- Plan versions (issue 15, grandfathering): a subscription keeps the terms it was sold under when the catalog changes.
-- plan_versions: each plan's terms (canonical JSON of its price and feature settings) as the catalog had them, one row
-- per change, stored at start-up when the catalog's terms hash differs from the newest version's.
CREATE TABLE plan_versions (
    plan_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    terms_hash TEXT NOT NULL,
    terms TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (plan_id, version)
) STRICT;

-- The version a subscription was sold under. Existing subscriptions were sold under the catalog the server has when it
-- first starts with this migration: version 1, which that start-up stores.
ALTER TABLE subscriptions ADD COLUMN plan_version INTEGER NULL;
UPDATE subscriptions SET plan_version = 1;
-- The operator's migration moves a plan's subscriptions of one version.
CREATE INDEX subscriptions_plan_version ON subscriptions (plan_id, plan_version);
