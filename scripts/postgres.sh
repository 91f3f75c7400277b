#!/usr/bin/env bash
# scripts/postgres.sh — make a PostgreSQL server available for tests, demos and CI.
#
# Usage: scripts/postgres.sh up|url|down
#
#   up    Ensure a server is running and print ONE line on stdout: the admin
#         connection URL (superuser "postgres", trust auth). Everything else
#         goes to stderr. Idempotent: a second call is fast and prints the same URL.
#   url   Print the URL `up` would print, without starting or installing
#         anything; exit 1 if no server is reachable.
#   down  Stop our own cluster (attempt 4 below) if it runs. Never touches the
#         machine's Debian clusters.
#
# Order of attempts for `up`:
#   1. $DATABASE_URL, if set and non-empty: printed as is, not checked.
#   2. The machine's standard server,
#        postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
#      if psql can run `select 1` with it.
#   3. If Debian clusters exist (pg_lsclusters) and the one on port 5432 is down:
#      start it with pg_ctlcluster (as root, or via sudo), wait for it, retry 2.
#      If it still refuses us (e.g. scram/peer auth), go on to 4.
#   4. Our own cluster, under $MARKETFLEET_PGDATA on port $MARKETFLEET_PGPORT
#      (default 15432), trust auth, listening on 127.0.0.1 only. Default dir:
#      /var/tmp/marketfleet/pg as root, else ${XDG_STATE_HOME:-~/.local/state}/marketfleet/pg.
#      The server binaries come from /usr/lib/postgresql/<newest>/bin; if there
#      are none, `apt-get install postgresql` (as root or via sudo) provides them.
#      As root, the cluster is owned by and run as the `postgres` OS user
#      (PostgreSQL refuses to run as root).
#
# Environment:
#   DATABASE_URL          use this server, skip everything else
#   MARKETFLEET_PG_OWN=1  skip attempts 2-3 and always use our own cluster
#   MARKETFLEET_PGDATA    data directory of our own cluster
#   MARKETFLEET_PGPORT    port of our own cluster (default 15432)
set -euo pipefail

readonly STANDARD_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
readonly OWN_PORT="${MARKETFLEET_PGPORT:-15432}"
readonly OS_USER=postgres # runs our own cluster when we are root
readonly READY_WAIT=30    # seconds to wait for a server to accept connections

RESULT_URL='' # set by the subcommands, printed by main

# ---------------------------------------------------------------- helpers

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }
have() { command -v "$1" >/dev/null 2>&1; }

# Run a command with root privileges: directly as root, else via sudo.
as_root() {
	if is_root; then
		"$@"
	elif have sudo; then
		sudo "$@"
	else
		log "need root for: $* (not root, and sudo is not installed)"
		return 1
	fi
}

# Run a command as the OS user that owns our own cluster.
as_owner() {
	if is_root; then
		# cd / so the unprivileged user never sits in an unreadable directory.
		(cd / && runuser -u "$OS_USER" -- "$@")
	else
		"$@"
	fi
}

# Newest /usr/lib/postgresql/<version>/bin holding the given programs.
newest_pg_bindir() {
	local dir found=''
	for dir in /usr/lib/postgresql/*/bin; do
		[[ -d $dir ]] || continue
		local prog ok=1
		for prog in "$@"; do [[ -x $dir/$prog ]] || ok=0; done
		((ok)) && found+="$dir"$'\n'
	done
	[[ -n $found ]] || return 1
	printf '%s' "$found" | sort -V | tail -n 1
}

# Path of a client program: from PATH, else from the newest server bin dir.
pg_client() {
	local bindir
	if have "$1"; then
		command -v "$1"
	elif bindir=$(newest_pg_bindir "$1"); then
		echo "$bindir/$1"
	else
		return 1
	fi
}

# True if the server at URL accepts us and runs a query.
# Without psql, fall back to pg_isready (checks the server, not the login).
url_works() {
	local url=$1 client
	if client=$(pg_client psql); then
		PGCONNECT_TIMEOUT=3 "$client" -X -w -At -c 'select 1' "$url" >/dev/null 2>&1
	elif client=$(pg_client pg_isready); then
		PGCONNECT_TIMEOUT=3 "$client" -q -d "$url" >/dev/null 2>&1
	else
		return 1
	fi
}

# Wait up to READY_WAIT seconds for the server at URL to accept connections
# (pg_isready: does not check the login, so a refused login fails fast later).
wait_ready() {
	local url=$1 isready i
	isready=$(pg_client pg_isready) || isready=''
	for ((i = 0; i < READY_WAIT; i++)); do
		if [[ -n $isready ]]; then
			PGCONNECT_TIMEOUT=3 "$isready" -q -d "$url" >/dev/null 2>&1 && return 0
		else
			url_works "$url" && return 0
		fi
		sleep 1
	done
	return 1
}

# ------------------------------------------------- attempts 2-3: Debian's server

# Start the Debian cluster on port 5432 if pg_lsclusters lists it as down.
start_debian_cluster() {
	have pg_lsclusters || return 1
	local ver name port status
	# Columns: Ver Cluster Port Status Owner Datadir Logfile
	while read -r ver name port status _; do
		[[ $port == 5432 && $status == down* ]] || continue
		log "starting Debian cluster $ver/$name (port 5432)"
		# The server must not inherit our stdout, or $(scripts/postgres.sh up) would hang.
		as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start </dev/null >&2 ||
			{
				log "could not start Debian cluster $ver/$name"
				return 1
			}
		return 0
	done < <(pg_lsclusters --no-header 2>/dev/null)
	return 1
}

try_standard_server() {
	if url_works "$STANDARD_URL"; then
		RESULT_URL=$STANDARD_URL
		return 0
	fi
	start_debian_cluster || return 1
	if wait_ready "$STANDARD_URL" && url_works "$STANDARD_URL"; then
		RESULT_URL=$STANDARD_URL
		return 0
	fi
	log "Debian cluster on 5432 is up but does not let postgres in with trust auth; using our own cluster"
	return 1
}

# ------------------------------------------------------ attempt 4: own cluster

own_datadir() {
	if [[ -n ${MARKETFLEET_PGDATA:-} ]]; then
		echo "$MARKETFLEET_PGDATA"
	elif is_root; then
		echo /var/tmp/marketfleet/pg
	else
		echo "${XDG_STATE_HOME:-$HOME/.local/state}/marketfleet/pg"
	fi
}

own_url() { echo "postgres://postgres@127.0.0.1:$OWN_PORT/postgres?sslmode=disable"; }

# Server bin dir for DATADIR: the version it was created with, else the newest.
own_bindir() {
	local datadir=$1 ver
	if [[ -f $datadir/PG_VERSION ]]; then
		ver=$(<"$datadir/PG_VERSION")
		[[ -x /usr/lib/postgresql/$ver/bin/pg_ctl ]] ||
			die "$datadir was created by PostgreSQL $ver, whose server binaries are not installed (apt-get install postgresql-$ver)"
		echo "/usr/lib/postgresql/$ver/bin"
	else
		newest_pg_bindir initdb pg_ctl
	fi
}

install_server() {
	log "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin"
	if ! is_root && ! have sudo; then
		die "cannot install them: neither root nor sudo. Install the Debian package 'postgresql' (apt-get install postgresql), or set DATABASE_URL"
	fi
	log "installing Debian package postgresql"
	local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)
	# The package may start a cluster of its own: keep it off our stdout.
	if ! as_root "${install[@]}" </dev/null >&2; then
		log "install failed; updating package lists and retrying"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null >&2 ||
			die "apt-get update failed"
		as_root "${install[@]}" </dev/null >&2 || die "apt-get install postgresql failed"
	fi
	newest_pg_bindir initdb pg_ctl >/dev/null || die "postgresql installed, but no initdb/pg_ctl in /usr/lib/postgresql/*/bin"
}

ensure_os_user() {
	is_root || return 0
	id -u "$OS_USER" >/dev/null 2>&1 && return 0
	log "creating system user $OS_USER"
	useradd --system --user-group --no-create-home --shell /bin/sh "$OS_USER"
}

# Create the data directory (owned by whoever runs the server), mode 0700.
prepare_datadir() {
	local datadir=$1
	(umask 022 && mkdir -p "$(dirname "$datadir")")
	mkdir -p "$datadir"
	if is_root && [[ ! -f $datadir/PG_VERSION ]]; then
		chown "$OS_USER:" "$datadir"
	fi
	as_owner chmod 0700 "$datadir" 2>/dev/null || true
	local owner
	owner=$(as_owner id -un)
	as_owner test -w "$datadir" || die "$datadir is not writable by user $owner"
}

init_cluster() {
	local bindir=$1 datadir=$2
	[[ -f $datadir/PG_VERSION ]] && return 0
	log "creating cluster in $datadir ($("$bindir/initdb" --version))"
	as_owner "$bindir/initdb" -D "$datadir" -U postgres --auth=trust -E UTF8 \
		--locale=C.UTF-8 >&2 || die "initdb failed"
}

# Options for the postmaster: our port, TCP on 127.0.0.1, socket in the data dir
# (no socket when the path is too long for a Unix socket, ~107 bytes).
server_options() {
	local datadir=$1 sockdir=$1
	if ((${#datadir} + ${#OWN_PORT} + 11 > 107)); then
		sockdir=''
	fi
	printf "%s" "-p $OWN_PORT -k '$sockdir' -c listen_addresses=127.0.0.1"
}

start_cluster() {
	local bindir=$1 datadir=$2
	if as_owner "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
		return 0
	fi
	log "starting own cluster $datadir on 127.0.0.1:$OWN_PORT"
	# </dev/null >&2: the server must not hold our stdout open (see start_debian_cluster).
	if ! as_owner "$bindir/pg_ctl" -D "$datadir" -o "$(server_options "$datadir")" \
		-l "$datadir/server.log" -w start </dev/null >&2; then
		log "pg_ctl start failed; tail of $datadir/server.log:"
		tail -n 30 "$datadir/server.log" >&2 || true
		exit 1
	fi
}

use_own_cluster() {
	local datadir bindir url
	datadir=$(own_datadir)
	url=$(own_url)
	if [[ ! -f $datadir/PG_VERSION ]] && ! newest_pg_bindir initdb pg_ctl >/dev/null; then
		install_server
	fi
	bindir=$(own_bindir "$datadir")
	ensure_os_user
	prepare_datadir "$datadir"
	init_cluster "$bindir" "$datadir"
	start_cluster "$bindir" "$datadir"
	if ! { wait_ready "$url" && url_works "$url"; }; then
		log "own cluster started but $url does not accept connections; tail of $datadir/server.log:"
		tail -n 30 "$datadir/server.log" >&2 || true
		exit 1
	fi
	RESULT_URL=$url
}

# ------------------------------------------------------------- subcommands

cmd_up() {
	if [[ -n ${DATABASE_URL:-} ]]; then
		RESULT_URL=$DATABASE_URL
		return
	fi
	if [[ ${MARKETFLEET_PG_OWN:-} != 1 ]] && try_standard_server; then
		return
	fi
	use_own_cluster
}

cmd_url() {
	if [[ -n ${DATABASE_URL:-} ]]; then
		RESULT_URL=$DATABASE_URL
	elif [[ ${MARKETFLEET_PG_OWN:-} != 1 ]] && url_works "$STANDARD_URL"; then
		RESULT_URL=$STANDARD_URL
	elif url_works "$(own_url)"; then
		RESULT_URL=$(own_url)
	else
		log "no PostgreSQL server is reachable (run: scripts/postgres.sh up)"
		exit 1
	fi
}

cmd_down() {
	local datadir bindir
	datadir=$(own_datadir)
	if [[ ! -f $datadir/PG_VERSION ]]; then
		log "no own cluster in $datadir; nothing to stop"
		return
	fi
	bindir=$(own_bindir "$datadir")
	if as_owner "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
		log "stopping own cluster $datadir"
		as_owner "$bindir/pg_ctl" -D "$datadir" -m fast -w stop </dev/null >&2
	else
		log "own cluster $datadir is not running"
	fi
}

usage() {
	cat >&2 <<'EOF'
usage: scripts/postgres.sh up|url|down
  up    ensure a PostgreSQL server runs; print its admin URL on stdout
  url   print the URL `up` would print, without starting anything
  down  stop our own cluster (never the machine's Debian clusters)
EOF
}

main() {
	local cmd=${1:-}
	case $cmd in
	up) cmd_up >&2 ;;
	url) cmd_url >&2 ;;
	down) cmd_down >&2 ;;
	-h | --help | help)
		usage
		return 0
		;;
	*)
		usage
		return 2
		;;
	esac
	# The only line this script ever writes to stdout.
	if [[ -n $RESULT_URL ]]; then
		printf '%s\n' "$RESULT_URL"
	fi
}

main "$@"
