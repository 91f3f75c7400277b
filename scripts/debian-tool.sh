#!/usr/bin/env bash
# scripts/debian-tool.sh — print the path of a command, installing the Debian
# package that ships it if needed. scripts/promtool.sh and scripts/chromium.sh
# call it; their headers say what each tool is for.
#
# Usage: scripts/debian-tool.sh COMMAND PACKAGE VARIABLE HINT
#   COMMAND   the command to find (promtool)
#   PACKAGE   the Debian package that ships it (prometheus)
#   VARIABLE  an environment variable that may name the binary (PROMTOOL)
#   HINT      how to get it elsewhere, for the error on a non-Debian machine
#
# Prints ONE line on stdout: the absolute path of COMMAND. Everything else
# goes to stderr. Idempotent: once installed, a call is instant.
#
# Order of attempts:
#   1. $VARIABLE, if set: used as is when it is executable, an error otherwise.
#   2. COMMAND on PATH.
#   3. apt-get install -y --no-install-recommends PACKAGE, as root or via sudo,
#      non-interactive. Only if that fails, `apt-get update` and one more try
#      (a fresh machine's package lists may be missing or stale).
#
# Exit status: 0 with the path printed; 1 with a message saying what to do.
set -euo pipefail

[[ $# -eq 4 ]] || { echo "usage: scripts/debian-tool.sh COMMAND PACKAGE VARIABLE HINT" >&2; exit 1; }
readonly COMMAND=$1 PACKAGE=$2 VARIABLE=$3 HINT=$4

log() { printf '%s.sh: %s\n' "$COMMAND" "$*" >&2; }
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

install_package() {
	have apt-get || die "$COMMAND is not on PATH and this is not a Debian/Ubuntu machine (no apt-get).
$HINT, or set $VARIABLE=/path/to/$COMMAND."
	log "$COMMAND not found: installing Debian's '$PACKAGE' package"
	if ! apt_install; then
		log "install failed: refreshing the package lists (apt-get update) and trying again"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
			die "apt-get update failed; install $COMMAND by hand or set $VARIABLE=/path/to/$COMMAND"
		apt_install ||
			die "apt-get install $PACKAGE failed; install $COMMAND by hand or set $VARIABLE=/path/to/$COMMAND"
	fi
}

main() {
	local given=${!VARIABLE:-}
	if [[ -n $given ]]; then
		[[ -x $given ]] || die "$VARIABLE=$given is not an executable file"
		echo "$given"
		return
	fi
	if ! have "$COMMAND"; then
		install_package
		hash -r
		have "$COMMAND" || die "the '$PACKAGE' package is installed but $COMMAND is not on PATH ($PATH)"
	fi
	local path
	path=$(command -v "$COMMAND")
	"$path" --version >/dev/null 2>&1 || die "$path does not run ('$path --version' failed)"
	echo "$path"
}

main
