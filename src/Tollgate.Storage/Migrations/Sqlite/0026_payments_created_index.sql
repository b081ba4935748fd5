-- payments_revenue (created_at, status, currency, amount, refunded_amount), added by 0008, serves every reader of
-- payments_created (created_at): it leads with the same column. One index fewer for each payment's insert (the
-- PostgreSQL migration of the same number).
DROP INDEX payments_created;
