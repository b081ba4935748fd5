-- Auto top-up (API.md §6.3): a customer's settings, and one row per top-up charge. A charge row is written by the
-- ledger write whose balance crossed the threshold (in its transaction, under the customer's lock) and then charged
-- off-session by a worker; the unique ordinal per customer and calendar month is what holds the monthly limit.

CREATE TABLE auto_topups (
    customer_id text PRIMARY KEY,
    feature text NOT NULL,
    below bigint NOT NULL,
    pack text NOT NULL,
    monthly_limit integer NOT NULL,
    provider text NOT NULL,
    -- enabled | disabled (by the customer, or after a declined charge)
    status text NOT NULL,
    disabled_reason text NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE topup_charges (
    charge_id text PRIMARY KEY,
    customer_id text NOT NULL,
    -- the calendar month (UTC) the threshold was crossed in, yyyy-MM
    month text NOT NULL,
    ordinal integer NOT NULL,
    feature text NOT NULL,
    pack text NOT NULL,
    provider text NOT NULL,
    -- due | succeeded | failed
    status text NOT NULL,
    provider_payment_id text NULL,
    error text NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    -- a worker's claim: others leave the row alone until claimed_until (a killed server's claim comes back)
    claim text NULL,
    claimed_until timestamptz NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX topup_charges_month ON topup_charges (customer_id, month, ordinal);
CREATE INDEX topup_charges_due ON topup_charges (next_attempt_at) WHERE status = 'due';

-- The Sandbox's saved payment method: the test card of the customer's last paid Sandbox checkout, charged by auto top-up.
CREATE TABLE sandbox_saved_cards (
    customer_id text PRIMARY KEY,
    card text NOT NULL,
    updated_at timestamptz NOT NULL
);
