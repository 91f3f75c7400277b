-- marketfleet: least-privileged PostgreSQL roles. Run once per cluster, as a
-- superuser (or a role with CREATEROLE), connected to the fleet's database:
--
--   psql -v budget=72 -d marketfleet -f deploy/postgres/roles.sql
--
-- budget is the connection budget: the most sessions the fleet may hold,
-- the same number the workers compute (fleetctl budget shows it):
--   max_connections - superuser_reserved_connections - reserved_connections
--     - FLEET_DB_RESERVE - sessions of other applications
--   e.g. 100 - 3 - 0 - 20 - 5 = 72
-- The CONNECTION LIMIT makes the server enforce it too, whatever the fleet
-- does. Set the passwords afterwards (\password marketfleet_worker) unless
-- the cluster authenticates otherwise (certificates, peer).
\set ON_ERROR_STOP on

-- Owns the schema: runs `worker migrate` once per release
-- (DATABASE_URL=postgres://marketfleet_migrate@.../marketfleet).
CREATE ROLE marketfleet_migrate LOGIN CONNECTION LIMIT 2;
GRANT USAGE, CREATE ON SCHEMA public TO marketfleet_migrate;

-- The workers (FLEET_AUTO_MIGRATE=false): the rights the upserts need, on
-- the tables the migrate role creates. grants.sql adds the few extra rights
-- per table after each migrate.
CREATE ROLE marketfleet_worker LOGIN CONNECTION LIMIT :budget;
GRANT USAGE ON SCHEMA public TO marketfleet_worker;
ALTER DEFAULT PRIVILEGES FOR ROLE marketfleet_migrate IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE ON TABLES TO marketfleet_worker;
