-- Lookups that scanned whole tables: a refund or dispute finds its payment by the provider's checkout id as well as
-- its payment id (a scan per webhook, growing with every payment ever made); the subscription workers select by
-- status; the admin console lists webhooks by status; the Sandbox lists a customer's subscriptions.
CREATE INDEX payments_provider_checkout ON payments (provider, provider_checkout_id);
CREATE INDEX subscriptions_status ON subscriptions (status, current_period_end);
CREATE INDEX webhook_events_status ON webhook_events (status, received_at);
CREATE INDEX sandbox_subscriptions_customer ON sandbox_subscriptions (customer_id, created_at);
