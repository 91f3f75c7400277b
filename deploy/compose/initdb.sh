#!/bin/sh
# Runs once, when the postgres container initialises its data directory:
# the least-privileged roles (deploy/postgres/roles.sql) and their passwords.
set -eu
psql -v ON_ERROR_STOP=1 -v budget="${MARKETFLEET_DB_BUDGET}" -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
	-f /marketfleet/postgres/roles.sql
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
	-v worker_password="$MARKETFLEET_DB_WORKER_PASSWORD" -v migrate_password="$MARKETFLEET_DB_MIGRATE_PASSWORD" <<'SQL'
ALTER ROLE marketfleet_worker PASSWORD :'worker_password';
ALTER ROLE marketfleet_migrate PASSWORD :'migrate_password';
SQL
