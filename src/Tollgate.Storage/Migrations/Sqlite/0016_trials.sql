-- Trials (issue 15): which customer has had a trial of which plan, ever. The primary key is the rule "once per
-- customer and plan": of racing starts exactly one inserts; a provider's trial (Stripe trialing, Creem
-- subscription.trialing) is recorded here too, so neither kind of trial is given twice. Rows are never deleted.
CREATE TABLE trials (
    customer_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    -- the subscription the trial was (Tollgate's own trial, or the provider's trialing subscription)
    subscription_id TEXT NOT NULL,
    -- 'tollgate' for a card-less trial started through the API or the pricing page, else the provider id
    source TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, plan_id)
) STRICT;
