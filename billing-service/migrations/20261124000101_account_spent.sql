-- What a customer has spent is kept, so a credit-limit change never forgets it.
-- available_credit becomes a function of the limit and the spend, computed by
-- Postgres on every write: no statement can set it, so it cannot drift.
ALTER TABLE accounts ADD COLUMN spent NUMERIC(14, 2) NOT NULL DEFAULT 0 CHECK (spent >= 0);

UPDATE accounts a
   SET spent = s.total
  FROM (SELECT customer_id, sum(amount) AS total
          FROM payments WHERE status = 'SUCCEEDED' GROUP BY customer_id) s
 WHERE a.customer_id = s.customer_id;

-- An existing column cannot become a generated one: drop it and add it again
-- (the backfill above makes every account's value right at once).
ALTER TABLE accounts DROP COLUMN available_credit;
ALTER TABLE accounts ADD COLUMN available_credit NUMERIC(14, 2)
    GENERATED ALWAYS AS (GREATEST(credit_limit - spent, 0)) STORED NOT NULL;

-- What each decision saw, so `sagactl audit` can check it: the limit in force
-- and the spend before the charge. NULL for decisions made before this column.
ALTER TABLE payments
    ADD COLUMN credit_limit_at_decision NUMERIC(14, 2),
    ADD COLUMN spent_before             NUMERIC(14, 2);
