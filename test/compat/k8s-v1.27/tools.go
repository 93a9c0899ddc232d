//go:build tools

// Package tools pins the consumer-cluster binaries of Kubernetes v1.27.16 that the compatibility matrix builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
