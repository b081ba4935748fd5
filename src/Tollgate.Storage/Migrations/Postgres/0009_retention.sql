-- Retention (issue 18): what the sweep deletes or empties is found through an index that holds only it, oldest first,
-- so each small batch reads what it removes and nothing else.

-- API responses kept for replays: deleted once older than the idempotency window.
CREATE INDEX api_idempotency_created ON api_idempotency (created_at);
-- Ledger operations keyed by a caller's request (usage, holds, counts): they guard a retry of that request, and are
-- deleted with the API responses. Grants, clawbacks and retirements guard effects that a replayed webhook or a new
-- period would repeat: they are kept forever and are not in this index.
CREATE INDEX ledger_operations_request ON ledger_operations (created_at) WHERE kind IN ('consume', 'hold', 'count');
-- Payloads of processed webhooks (applied or ignored) still held: emptied after the payload window, the row (and its
-- provider event id, the inbox's dedupe key) stays.
CREATE INDEX webhook_events_payload ON webhook_events (received_at) WHERE status IN ('applied', 'ignored') AND payload <> '';
