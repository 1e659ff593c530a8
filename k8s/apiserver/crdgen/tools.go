//go:build tools

// controller-gen and the operators' Go API types it generates CRDs from, in a
// module of their own so their dependencies never move the API server's.
package tools

import (
	_ "github.com/cloudnative-pg/api/pkg/api/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
