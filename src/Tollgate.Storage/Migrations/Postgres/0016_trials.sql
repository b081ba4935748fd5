-- Trials (issue 15): which customer has had a trial of which plan, ever. The primary key is the rule "once per
-- customer and plan": of racing starts exactly one inserts; a provider's trial (Stripe trialing, Creem
-- subscription.trialing) is recorded here too, so neither kind of trial is given twice. Rows are never deleted.
-- Keyed by customer_id first: distributable by customer like the other per-customer tables (docs/scaling.md).
CREATE TABLE trials (
    customer_id text NOT NULL,
    plan_id text NOT NULL,
    -- the subscription the trial was (Tollgate's own trial, or the provider's trialing subscription)
    subscription_id text NOT NULL,
    -- 'tollgate' for a card-less trial started through the API or the pricing page, else the provider id
    source text NOT NULL,
    started_at timestamptz NOT NULL,
    PRIMARY KEY (customer_id, plan_id)
);
