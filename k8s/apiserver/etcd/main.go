// etcd, built at the version Kubernetes itself requires (go.mod), from the
// server module's own entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
