#!/usr/bin/env bash
# scripts/compose.sh — Docker Compose v2, built from the Go module proxy.
#
# Usage: scripts/compose.sh
#
# Prints ONE line on stdout: the path of a docker-compose binary (run as a
# standalone command: docker-compose -f ... up). Everything else goes to
# stderr. Order: $COMPOSE if set; bin/tools/docker-compose if built from the
# version pinned in tools/compose/go.mod; else it is built (a few minutes on
# two cores, once). `go install` cannot build Compose (its go.mod has
# exclude directives), so tools/compose is a wrapper module that requires it.
# Debian's docker-compose 1.29 rejects compose.yaml's `name:`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'compose.sh: %s\n' "$*" >&2; }

if [[ -n ${COMPOSE:-} ]]; then
	echo "$COMPOSE"
	exit 0
fi
version=$(grep -oE 'github.com/docker/compose/v5 v[0-9][^ ]*' "$root/tools/compose/go.mod" | awk '{ print $2 }')
[[ -n $version ]] || { log "error: tools/compose/go.mod requires no github.com/docker/compose/v5"; exit 1; }
out=$root/bin/tools/docker-compose
stamp=$out.version
if [[ -x $out && $(cat "$stamp" 2>/dev/null) == "$version" ]]; then
	echo "$out"
	exit 0
fi
log "building Docker Compose $version from the Go module proxy (once)"
mkdir -p "$(dirname "$out")"
(cd "$root/tools/compose" && CGO_ENABLED=0 go build -trimpath \
	-ldflags "-X github.com/docker/compose/v5/internal.Version=$version" -o "$out" github.com/docker/compose/v5/cmd)
echo "$version" >"$stamp"
echo "$out"
