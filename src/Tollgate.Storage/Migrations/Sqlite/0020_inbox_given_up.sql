-- The inbox's given-up events, for the backlog gauge's count (see the PostgreSQL migration).
CREATE INDEX webhook_events_given_up ON webhook_events (received_at) WHERE status = 'failed' AND next_attempt_at IS NULL;
