-- The inbox's backlog gauges (issue 18): the count of events that used up their attempts ("given up") read every
-- failed event's row through the status index, so each reading cost one heap page per few dead events and grew with
-- them. This index holds only the given-up events and nothing of theirs but the key: the count is an index-only scan,
-- one 8 kB leaf page per few hundred dead events. (The pending count reads webhook_events_due, which holds only events
-- with a next attempt.)
CREATE INDEX webhook_events_given_up ON webhook_events (received_at) WHERE status = 'failed' AND next_attempt_at IS NULL;
