#!/usr/bin/env bash
# scripts/promtool.sh — print the path of a promtool binary, installing it if needed.
#
# Usage: scripts/promtool.sh
#
# Prints ONE line on stdout: the absolute path of promtool. Everything else
# goes to stderr. Idempotent: once promtool is installed, a call is instant.
#
# Order of attempts:
#   1. $PROMTOOL, if set: used as is when it is executable, an error otherwise.
#   2. promtool on PATH.
#   3. Debian's `prometheus` package, which ships /usr/bin/promtool:
#        apt-get install -y --no-install-recommends prometheus
#      as root or via sudo, non-interactive. Only if that fails, `apt-get update`
#      and one more try (a fresh machine's package lists may be missing or stale).
#      On a host running systemd the package also installs and starts the
#      `prometheus` server service; `systemctl disable --now prometheus` stops it
#      if you only wanted promtool. Containers with a policy-rc.d start nothing.
#
# Exit status: 0 with the path printed; 1 with a message saying what to do.
#
# Used by deploy/monitoring's Go test (the alert rules' unit tests) and by
# `make promtool`.
set -euo pipefail

readonly PACKAGE=prometheus

log() { printf 'promtool.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# Run a command with root privileges: directly as root, else via sudo.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif have sudo; then
		sudo -n "$@"
	else
		log "need root for: $* (not root, and sudo is not installed)"
		return 1
	fi
}

apt_install() {
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "$PACKAGE" >&2
}

install_promtool() {
	have apt-get || die "promtool is not on PATH and this is not a Debian/Ubuntu machine (no apt-get).
Install Prometheus's promtool (https://prometheus.io/download/) and put it on PATH, or set PROMTOOL=/path/to/promtool."
	log "promtool not found: installing Debian's '$PACKAGE' package (it contains promtool)"
	if ! apt_install; then
		log "install failed: refreshing the package lists (apt-get update) and trying again"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
			die "apt-get update failed; install promtool by hand or set PROMTOOL=/path/to/promtool"
		apt_install ||
			die "apt-get install $PACKAGE failed; install promtool by hand or set PROMTOOL=/path/to/promtool"
	fi
}

main() {
	[[ $# -eq 0 ]] || die "usage: scripts/promtool.sh (no arguments)"

	if [[ -n ${PROMTOOL:-} ]]; then
		[[ -x $PROMTOOL ]] || die "PROMTOOL=$PROMTOOL is not an executable file"
		echo "$PROMTOOL"
		return
	fi
	if ! have promtool; then
		install_promtool
		hash -r
		have promtool || die "the '$PACKAGE' package is installed but promtool is not on PATH ($PATH)"
	fi
	local path
	path=$(command -v promtool)
	"$path" --version >/dev/null 2>&1 || die "$path does not run ('$path --version' failed)"
	echo "$path"
}

main "$@"
