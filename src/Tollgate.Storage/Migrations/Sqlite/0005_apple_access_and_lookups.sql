-- When a provider states until when a subscription entitles its customer (the App Store's expiresDate, or the end of a
-- billing grace period), access ends then whatever the status says. NULL: the provider does not say.
ALTER TABLE subscriptions ADD COLUMN access_ends_at INTEGER NULL;

-- The admin console lists one provider's newest payments (the App Store's, bought in the app).
CREATE INDEX payments_provider_created ON payments (provider, created_at);
