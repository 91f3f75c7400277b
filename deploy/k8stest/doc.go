// Package k8stest applies deploy/k8s/ to a real Kubernetes API server
// (make k8s-test; build tag "k8s", so that go test ./... skips it): etcd and
// kube-apiserver (and kube-controller-manager, kube-scheduler and kwok, for
// the rollout) built from the module proxy by scripts/k8s.sh, the KEDA CRDs
// from the KEDA module, the preinstalled kubectl.
package k8stest
