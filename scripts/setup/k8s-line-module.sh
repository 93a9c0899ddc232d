#!/usr/bin/env bash
# Writes the Go module that builds one older Kubernetes line's consumer-cluster binaries (kube-apiserver,
# kube-controller-manager, kube-proxy) for the compatibility matrix (test/compat/lines.json). Run by hand when a
# line is added or bumped; its go.mod and go.sum are committed, so builds are reproducible.
#
# k8s.io/kubernetes is not meant to be a dependency: its go.mod points the k8s.io/* staging modules at
# ./staging and pins every other dependency with replace directives, and neither applies to a module that
# requires it. So this module repeats that replace block, with each staging module at its published tag
# (v0.MINOR.PATCH) instead of the directory.
set -euo pipefail
version="${1:?usage: k8s-line-module.sh vX.Y.Z OUTDIR}"
out="${2:?usage: k8s-line-module.sh vX.Y.Z OUTDIR}"
staging_version="v0.${version#v1.}"
mkdir -p "$out"
upstream="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
{
  echo "module kube-lb.io/test/compat/k8s-${version%.*}"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  awk '/^replace \(/,/^\)/' "$upstream" | sed -E "s#=> \./staging/src/(k8s\.io/[^ ]+)#=> \1 $staging_version#"
} >"$out/go.mod"
cat >"$out/tools.go" <<GO
//go:build tools

// Package tools pins the consumer-cluster binaries of Kubernetes $version that the compatibility matrix builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
cd "$out"
GOFLAGS=-mod=mod go mod tidy
