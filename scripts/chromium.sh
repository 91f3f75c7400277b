#!/usr/bin/env bash
# scripts/chromium.sh — print the path of a chromium binary, installing it if needed.
#
# Usage: scripts/chromium.sh
#
# Prints ONE line on stdout: the absolute path of chromium. Everything else
# goes to stderr. Idempotent: once chromium is installed, a call is instant.
#
# Order of attempts (scripts/debian-tool.sh does the work):
#   1. $CHROMIUM, if set: used as is when it is executable, an error otherwise.
#   2. chromium on PATH.
#   3. Debian's `chromium` package, which ships /usr/bin/chromium:
#        apt-get install -y --no-install-recommends chromium
#      as root or via sudo, non-interactive. Only if that fails, `apt-get update`
#      and one more try (a fresh machine's package lists may be missing or stale).
#      (Ubuntu's `chromium` package is a stub that installs a snap, which does
#      not run in most containers: there, set CHROMIUM to a Chrome or Chromium
#      binary instead.)
#
# Exit status: 0 with the path printed; 1 with a message saying what to do.
#
# Used by the browser tests (internal/testenv.Chromium: audit's HTML report
# is rendered by a headless chromium).
set -euo pipefail
[[ $# -eq 0 ]] || { echo "usage: scripts/chromium.sh (no arguments)" >&2; exit 1; }
exec "$(dirname "$0")/debian-tool.sh" chromium chromium CHROMIUM "Install Chromium or Chrome and put it on PATH as chromium"
