-- Organizations and seats (issue 15). A member customer names the customer it is billed on: its checks, usage and
-- holds are answered and charged there. One level only (a billing customer has none itself), kept by the code that
-- sets it under the locks of both rows. The index lists an organization's members and counts them.
ALTER TABLE customers ADD COLUMN billing_customer_id TEXT NULL;
CREATE INDEX customers_billing ON customers (billing_customer_id, customer_id) WHERE billing_customer_id IS NOT NULL;

-- How many units (seats) the provider bills the subscription for; 1 for every subscription sold before.
ALTER TABLE subscriptions ADD COLUMN quantity INTEGER NOT NULL DEFAULT 1;
