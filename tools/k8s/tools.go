//go:build tools

// Package k8s pins a real Kubernetes API server and etcd for make k8s-test
// (scripts/k8s.sh builds them): kube-apiserver from k8s.io/kubernetes, etcd
// from ./etcd. Kept out of the project's go.mod.
package k8s

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
