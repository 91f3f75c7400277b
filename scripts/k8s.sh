#!/usr/bin/env bash
# scripts/k8s.sh — a real Kubernetes API server and etcd for make k8s-test,
# built from the Go module proxy (no download site or registry needed).
#
# Usage: scripts/k8s.sh
#
# Prints ONE line on stdout: a directory holding kube-apiserver,
# kube-controller-manager, kube-scheduler, etcd, kwok (fake nodes, so that
# Deployments roll out without a kubelet; sigs.k8s.io/kwok, go install) and
# kubectl when none is installed, and keda-crds/ (the KEDA CRDs, from the github.com/kedacore/keda/v2 module).
# Everything else goes to stderr. The versions are pinned in tools/k8s/go.mod
# (k8s.io/kubernetes, its staging modules replaced by their releases of the
# same version, and the etcd server it requires) and KEDA_VERSION below;
# building takes several minutes on two cores, once.
set -euo pipefail

readonly KEDA_VERSION=v2.21.0 KWOK_VERSION=v0.8.0
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/bin/tools/k8s
log() { printf 'k8s.sh: %s\n' "$*" >&2; }

stamp=$(cat "$root/tools/k8s/go.mod" "$root/tools/k8s/go.sum" | sha256sum | cut -c1-16)-$KEDA_VERSION-$KWOK_VERSION
if [[ -x $out/kube-apiserver && -x $out/kwok && -f $out/kwok-stages.yaml && -d $out/keda-crds && $(cat "$out/stamp" 2>/dev/null) == "$stamp" ]]; then
	echo "$out"
	exit 0
fi
mkdir -p "$out"
log "building kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok from the Go module proxy (several minutes, once)"
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
	(cd "$root/tools/k8s" && CGO_ENABLED=0 go build -trimpath -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd")
done
(cd "$root/tools/k8s" && CGO_ENABLED=0 go build -trimpath -o "$out/etcd" ./etcd)
if ! command -v kubectl >/dev/null; then
	log "no kubectl installed: building it too"
	(cd "$root/tools/k8s" && CGO_ENABLED=0 go build -trimpath -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl)
fi
GOBIN=$out CGO_ENABLED=0 go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
# kwok's "fast" stages: nodes become Ready, pods Running and Ready at once.
kwok=$(cd "$root/tools/k8s" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cat "$kwok"/kustomize/stage/node/fast/node-initialize.yaml <(echo ---) "$kwok"/kustomize/stage/pod/fast/pod-ready.yaml \
	<(echo ---) "$kwok"/kustomize/stage/pod/fast/pod-complete.yaml <(echo ---) "$kwok"/kustomize/stage/pod/fast/pod-delete.yaml \
	>"$out/kwok-stages.yaml"
dir=$(cd "$root/tools/k8s" && go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[[ -d $dir/config/crd/bases ]] || { log "error: no CRDs in github.com/kedacore/keda/v2@$KEDA_VERSION"; exit 1; }
rm -rf "$out/keda-crds"
mkdir -p "$out/keda-crds"
cp "$dir"/config/crd/bases/*.yaml "$out/keda-crds/"
chmod u+w "$out"/keda-crds/*.yaml
echo "$stamp" >"$out/stamp"
echo "$out"
