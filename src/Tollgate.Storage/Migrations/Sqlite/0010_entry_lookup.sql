-- A ledger entry found by its id alone: POST /v1/usage/{entry_id}/reverse names only the entry.
CREATE INDEX ledger_entries_id ON ledger_entries (entry_id);
