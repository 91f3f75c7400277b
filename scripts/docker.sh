#!/usr/bin/env bash
# scripts/docker.sh — a running Docker engine for the deployment tests
# (make image, make compose-test).
#
# Usage: scripts/docker.sh up
#
# Prints ONE line on stdout: the docker client to use (an absolute path).
# Everything else goes to stderr. Idempotent: with an engine answering, a
# call is instant.
#
# Order of attempts:
#   1. `docker info` answers: that engine is used (whatever started it).
#   2. dockerd missing: Debian's docker.io is installed (scripts/debian-tool.sh).
#   3. dockerd is started in the background with its defaults (overlay2,
#      the docker0 bridge, iptables), logging to $MARKETFLEET_DOCKER_LOG
#      (default /var/tmp/marketfleet/dockerd.log), and waited for (60 s).
# Starting an engine needs root; the tests never pull (no registry here:
# scripts/base-images.sh builds stand-ins for the base images).
set -euo pipefail

readonly READY_WAIT=60
readonly LOG=${MARKETFLEET_DOCKER_LOG:-/var/tmp/marketfleet/dockerd.log}

log() { printf 'docker.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ ${1:-} == up ]] || die "usage: scripts/docker.sh up"
here=$(cd "$(dirname "$0")" && pwd)

client=$(command -v docker || true)
if [[ -n $client ]] && "$client" info >/dev/null 2>&1; then
	echo "$client"
	exit 0
fi
dockerd=$("$here/debian-tool.sh" dockerd docker.io DOCKERD "install Docker Engine (https://docs.docker.com/engine/install/)")
client=$(command -v docker || echo /usr/bin/docker)
[[ $(id -u) -eq 0 ]] || die "no Docker engine answers and starting one needs root: start dockerd, or run as root"
mkdir -p "$(dirname "$LOG")"
log "starting $dockerd (log: $LOG)"
nohup "$dockerd" >>"$LOG" 2>&1 &
for ((i = 0; i < READY_WAIT; i++)); do
	if "$client" info >/dev/null 2>&1; then
		echo "$client"
		exit 0
	fi
	sleep 1
done
tail -n 20 "$LOG" >&2 || true
die "dockerd did not answer within ${READY_WAIT}s"
