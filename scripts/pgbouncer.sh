#!/usr/bin/env bash
# scripts/pgbouncer.sh — a PgBouncer in transaction mode in front of a
# PostgreSQL server, for the tests that check the fleet behind a pooler.
#
# Usage: scripts/pgbouncer.sh up POSTGRES_URL | down
#
#   up    Ensure our PgBouncer runs in front of the server of POSTGRES_URL
#         (a postgres:// URL with host and port) and print ONE line on stdout:
#         the URL of database "postgres" through it. Everything else goes to
#         stderr. Idempotent: a second call reuses the running instance.
#   down  Stop it.
#
# The instance: Debian's pgbouncer (installed with scripts/debian-tool.sh when
# missing), listening on 127.0.0.1:$MARKETFLEET_PGBOUNCER_PORT (default
# 16432), pool_mode = transaction, every database (*) forwarded to the
# server as the user postgres (auth_type = any: the client's user name is not
# checked), run as the postgres OS user when we are root (it refuses root).
# It ignores the startup parameters the fleet sends (statement_timeout, the
# TCP keepalives): the configuration a user reaches for to get connected at
# all, which silently drops them. The fleet must notice it is behind a pooler
# anyway. Its files live in $MARKETFLEET_PGBOUNCER_DIR (default
# /var/tmp/marketfleet/pgbouncer as root, else under ~/.local/state).
set -euo pipefail

readonly PORT="${MARKETFLEET_PGBOUNCER_PORT:-16432}"
readonly OS_USER=postgres
readonly READY_WAIT=30

log() { printf 'pgbouncer.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

state_dir() {
	if [[ -n ${MARKETFLEET_PGBOUNCER_DIR:-} ]]; then
		echo "$MARKETFLEET_PGBOUNCER_DIR"
	elif is_root; then
		echo /var/tmp/marketfleet/pgbouncer
	else
		echo "${XDG_STATE_HOME:-$HOME/.local/state}/marketfleet/pgbouncer"
	fi
}

as_owner() {
	if is_root; then
		(cd / && runuser -u "$OS_USER" -- "$@")
	else
		"$@"
	fi
}

pooled_url() { echo "postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"; }

# True if a server answers on our port with a query through it.
answers() {
	PGCONNECT_TIMEOUT=3 psql -X -w -At -c 'select 1' "$(pooled_url)" >/dev/null 2>&1
}

up() {
	local server=$1 host port dir bin
	[[ $server =~ ^postgres(ql)?://([^@/]*@)?([^:/?]+)(:([0-9]+))? ]] ||
		die "want a postgres:// URL with a host, got something else"
	host=${BASH_REMATCH[3]}
	port=${BASH_REMATCH[5]:-5432}
	dir=$(state_dir)
	if [[ -f $dir/pgbouncer.pid ]] && kill -0 "$(<"$dir/pgbouncer.pid")" 2>/dev/null && answers; then
		pooled_url
		return
	fi
	bin=$("$(dirname "$0")/debian-tool.sh" pgbouncer pgbouncer PGBOUNCER "install PgBouncer 1.18 or later")
	mkdir -p "$dir"
	cat >"$dir/pgbouncer.ini" <<EOF
; written by scripts/pgbouncer.sh: the fleet's tests behind a transaction-mode pooler
[databases]
* = host=$host port=$port user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = any
admin_users = postgres
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,statement_timeout,idle_in_transaction_session_timeout,tcp_keepalives_idle,tcp_keepalives_interval,tcp_keepalives_count
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
	if is_root; then
		chown -R "$OS_USER" "$dir"
	fi
	rm -f "$dir/pgbouncer.pid"
	log "starting $bin on 127.0.0.1:$PORT in front of $host:$port (transaction mode)"
	as_owner "$bin" -d "$dir/pgbouncer.ini" </dev/null >&2 || die "pgbouncer did not start: see $dir/pgbouncer.log"
	local i
	for ((i = 0; i < READY_WAIT * 5; i++)); do
		if answers; then
			pooled_url
			return
		fi
		sleep 0.2
	done
	die "pgbouncer on 127.0.0.1:$PORT does not answer after ${READY_WAIT}s: see $dir/pgbouncer.log"
}

down() {
	local dir
	dir=$(state_dir)
	if [[ -f $dir/pgbouncer.pid ]]; then
		kill "$(<"$dir/pgbouncer.pid")" 2>/dev/null || true
		rm -f "$dir/pgbouncer.pid"
	fi
}

case "${1:-}" in
up)
	[[ $# -eq 2 ]] || die "usage: scripts/pgbouncer.sh up POSTGRES_URL"
	up "$2"
	;;
down) down ;;
*) die "usage: scripts/pgbouncer.sh up POSTGRES_URL | down" ;;
esac
