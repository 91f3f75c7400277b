// Command etcd is etcd's server (go.etcd.io/etcd/server/v3, the version
// k8s.io/kubernetes requires), built for make k8s-test.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
