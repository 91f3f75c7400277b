-- marketfleet: the worker role's rights per table. Run after every
-- `worker migrate` (idempotent), as marketfleet_migrate or a superuser:
--
--   psql -d marketfleet -f deploy/postgres/grants.sql
--
-- INSERT ... ON CONFLICT DO UPDATE needs INSERT and UPDATE on the table and
-- SELECT on the columns it reads. Nothing else: no DELETE on bars or
-- features, no DDL.
\set ON_ERROR_STOP on
GRANT SELECT, INSERT, UPDATE ON bars, features TO marketfleet_worker;
-- per-minute task counts behind fleetctl status; old minutes are pruned
GRANT SELECT, INSERT, UPDATE, DELETE ON task_counts TO marketfleet_worker;
-- tasks returned to the queue with a delay, behind fleetctl status; pruned
GRANT SELECT, INSERT, UPDATE, DELETE ON delayed_tasks TO marketfleet_worker;
GRANT SELECT ON marketfleet_migrations TO marketfleet_worker;
-- corporate actions, once each, and the restatements they caused (claimed,
-- then filled in, in the restating transaction)
GRANT SELECT, INSERT ON corporate_actions TO marketfleet_worker;
GRANT SELECT, INSERT, UPDATE ON restatements TO marketfleet_worker;
-- what audits found: known holes (recorded by repair tasks), the audit runs
-- of the worker holding slot 0, and the ledger of gaps a repair asked for
-- (a gap no longer found is forgotten)
GRANT SELECT, INSERT ON known_holes, audits TO marketfleet_worker;
GRANT SELECT, INSERT, DELETE ON repairs TO marketfleet_worker;
