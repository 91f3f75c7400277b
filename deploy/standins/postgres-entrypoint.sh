#!/bin/bash
# The stand-in postgres image's entrypoint (see postgres.Dockerfile).
set -euo pipefail
if [[ ${1:-} != postgres ]]; then
	exec "$@"
fi
shift
if [[ ! -s $PGDATA/PG_VERSION ]]; then
	: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
	pwfile=$(mktemp)
	printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
	rm -f "$pwfile"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	# The initialising server listens on a private socket only: a
	# healthcheck (pg_isready) on the usual one fails until the real start.
	export PGHOST=/tmp
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start >/dev/null
	export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
	if [[ $POSTGRES_DB != postgres ]]; then
		psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sh) echo "running $f"; bash "$f" ;;
		*.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	unset PGHOST
	echo "database initialised"
fi
exec postgres -c listen_addresses='*' "$@"
