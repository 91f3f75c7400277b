#!/usr/bin/env bash
# scripts/promtool.sh — print the path of a promtool binary, installing it if needed.
#
# Usage: scripts/promtool.sh
#
# Prints ONE line on stdout: the absolute path of promtool. Everything else
# goes to stderr. Idempotent: once promtool is installed, a call is instant.
#
# Order of attempts (scripts/debian-tool.sh does the work):
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
[[ $# -eq 0 ]] || { echo "usage: scripts/promtool.sh (no arguments)" >&2; exit 1; }
exec "$(dirname "$0")/debian-tool.sh" promtool prometheus PROMTOOL "Install Prometheus's promtool (https://prometheus.io/download/) and put it on PATH"
