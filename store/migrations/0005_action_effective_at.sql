-- When a corporate action takes effect, and restatements that were refused.
--
-- effective_at is the start of the action's ex-date in the exchange's time
-- zone (Tokyo's 2024-06-03 starts at 15:00 UTC on June 2): an answer as of an
-- earlier instant is not adjusted for the action, a later one is, and an
-- intraday bar starting before it is one the action adjusts (daily and longer
-- bars are compared with ex_date, their key). Actions recorded before this
-- migration take effect at their ex_date (UTC), as migration 0004 assumed.
ALTER TABLE corporate_actions ADD COLUMN effective_at timestamptz;
UPDATE corporate_actions SET effective_at = ex_date;
ALTER TABLE corporate_actions
    ALTER COLUMN effective_at SET NOT NULL,
    ADD CHECK (effective_at BETWEEN ex_date - interval '14 hours' AND ex_date + interval '12 hours');

-- refused says why an action was not applied to the series (a distribution
-- not below the close it is paid from): its bars were left as they were.
ALTER TABLE restatements ADD COLUMN refused text;
