#!/usr/bin/env bash
# scripts/base-images.sh — the base images the Dockerfile builds on, present
# in the local Docker engine: pulled when a registry answers, otherwise built
# as stand-ins under their upstream names (deploy/standins/README.md: a test
# scaffold; with a registry the real images are used unchanged).
#
# Usage: scripts/base-images.sh DOCKER [compose]
#   DOCKER   the docker client (scripts/docker.sh up prints it)
#   compose  also the images deploy/compose.yaml runs (make compose-test)
#
# Images (the Dockerfile's FROM lines and compose.yaml's images but ours,
# Grafana's and the NATS exporter's; deploy_test checks the list):
#   debian:bookworm                             debootstrap minbase + docker import
#   golang:$GO_VERSION-bookworm                 deploy/standins/golang.Dockerfile
#   gcr.io/distroless/static-debian12:nonroot   deploy/standins/distroless.Dockerfile
#   postgres:15.10-bookworm                     deploy/standins/postgres.Dockerfile
#   prom/prometheus:v2.42.0                     deploy/standins/prometheus.Dockerfile
# GO_VERSION is the Makefile's pinned toolchain (go1.27.3 → 1.27.3).
# Idempotent: an image already present is kept. The debootstrap root
# filesystem is cached in $MARKETFLEET_IMAGE_CACHE (default
# /var/cache/marketfleet).
set -euo pipefail

log() { printf 'base-images.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ $# -ge 1 && $# -le 2 && ${2:-compose} == compose ]] || die "usage: scripts/base-images.sh DOCKER [compose]"
readonly DOCKER=$1 COMPOSE=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
readonly CACHE=${MARKETFLEET_IMAGE_CACHE:-/var/cache/marketfleet}
toolchain=$(grep -oE '^export GOTOOLCHAIN *:?= *go[0-9.]+' "$root/Makefile" | grep -oE 'go[0-9.]+$' || true)
[[ -n $toolchain ]] || die "no GOTOOLCHAIN in the Makefile"
readonly GO_VERSION=${toolchain#go}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# pulled tries the registry once, briefly: offline it fails in a second.
pulled() {
	timeout 120 "$DOCKER" pull -q "$1" >/dev/null 2>&1
}

build_debian() {
	local rootfs=$CACHE/rootfs-bookworm
	if [[ ! -x $rootfs/bin/bash ]]; then
		command -v debootstrap >/dev/null || "$root/scripts/debian-tool.sh" debootstrap debootstrap DEBOOTSTRAP \
			"install debootstrap" >/dev/null
		log "debootstrap --variant=minbase bookworm (a few minutes, once)"
		rm -rf "$rootfs.tmp"
		mkdir -p "$CACHE"
		debootstrap --variant=minbase bookworm "$rootfs.tmp" http://deb.debian.org/debian >&2
		rm -rf "$rootfs.tmp/var/cache/apt/archives/"*.deb "$rootfs.tmp/var/lib/apt/lists/"*
		mv "$rootfs.tmp" "$rootfs"
	fi
	tar -C "$rootfs" -c . | "$DOCKER" import --change 'CMD ["bash"]' - debian:bookworm >/dev/null
}

build_golang() {
	local goroot ctx=$work/golang
	goroot=$(cd "$root" && GOTOOLCHAIN=$toolchain go env GOROOT)
	[[ -x $goroot/bin/go ]] || die "no Go toolchain $toolchain at $goroot"
	mkdir -p "$ctx"
	cp -a "$goroot" "$ctx/go"
	chmod -R u+w "$ctx/go"
	cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
	cp "$root/deploy/standins/golang.Dockerfile" "$ctx/Dockerfile"
	DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "golang:$GO_VERSION-bookworm" "$ctx" >/dev/null
}

build_distroless() {
	local ctx=$work/distroless
	mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp" "$ctx/rootfs/home/nonroot" "$ctx/rootfs/root"
	chmod 1777 "$ctx/rootfs/tmp"
	chown 65532:65532 "$ctx/rootfs/home/nonroot"
	printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
		'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$ctx/rootfs/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$ctx/rootfs/etc/group"
	cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
	cp "$root/deploy/standins/distroless.Dockerfile" "$ctx/Dockerfile"
	DOCKER_BUILDKIT=0 "$DOCKER" build -q -t gcr.io/distroless/static-debian12:nonroot "$ctx" >/dev/null
}

# build_standin NAME FILE...: builds deploy/standins/NAME.Dockerfile with
# the other files of deploy/standins given, under the image's name.
build_standin() {
	local image=$1 name=$2 ctx=$work/$2
	shift 2
	mkdir -p "$ctx"
	cp "$root/deploy/standins/$name.Dockerfile" "$ctx/Dockerfile"
	for f in "$@"; do cp -p "$root/deploy/standins/$f" "$ctx/"; done
	DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$image" "$ctx" >/dev/null
}

build_postgres() { build_standin postgres:15.10-bookworm postgres postgres-entrypoint.sh; }
build_prometheus() { build_standin prom/prometheus:v2.42.0 prometheus; }

ensure() {
	local image=$1 build=$2
	if have_image "$image"; then
		return
	fi
	if pulled "$image"; then
		log "$image: pulled"
		return
	fi
	log "$image: no registry answers; building a stand-in (deploy/standins/README.md)"
	"$build"
	have_image "$image" || die "$image: the stand-in was not built"
}

ensure debian:bookworm build_debian
ensure "golang:$GO_VERSION-bookworm" build_golang
ensure gcr.io/distroless/static-debian12:nonroot build_distroless
if [[ $COMPOSE == compose ]]; then
	ensure postgres:15.10-bookworm build_postgres
	ensure prom/prometheus:v2.42.0 build_prometheus
fi
