//go:build tools

// The programs built from this module (k8s/apiserver/apiserver.sh builds them);
// importing them here keeps their packages in go.mod and go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
