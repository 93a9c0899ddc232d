#!/usr/bin/env bash
# Builds the control-plane binaries a Go module pins in its tools.go from that module (no Docker, no downloads of
# prebuilt binaries) into a cache outside the work tree, keyed by version, and prints the cache directory. Only
# missing binaries are built. A second run is a no-op.
#   controlplane.sh            the suite's own line (test/controlplane/gobuild): kube-apiserver,
#                              kube-controller-manager, kubectl, kube-proxy and etcd
#   controlplane.sh MODULE_DIR an older consumer line of the compatibility matrix (test/compat/k8s-v1.NN):
#                              kube-apiserver, kube-controller-manager and kube-proxy; etcd is the suite's own
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$(cd "${1:-$here/../../test/controlplane/gobuild}" && pwd)"
# What tools.go imports: k8s.io/kubernetes/cmd/NAME builds NAME, the etcd server builds etcd.
mapfile -t bins < <(sed -n -e 's#.*"k8s.io/kubernetes/cmd/\([a-z-]*\)".*#\1#p' -e 's#.*"go.etcd.io/etcd/server/v3".*#etcd#p' "$mod/tools.go")
[ ${#bins[@]} -gt 0 ] || { echo "controlplane: $mod/tools.go names no binary" >&2; exit 1; }
# The version a require line gives (in a require block, or on a line of its own).
required() { awk -v m="$1" '($1==m && $2 ~ /^v/) {print $2; exit} ($1=="require" && $2==m) {print $3; exit}' "$mod/go.mod"; }
k8s_version="$(required k8s.io/kubernetes)"
etcd_version=""
[[ " ${bins[*]} " == *" etcd "* ]] && etcd_version="$(required go.etcd.io/etcd/server/v3)"
cache="${KUBE_LB_CACHE:-$HOME/.cache/kube-lb}"
out="$cache/controlplane/$k8s_version${etcd_version:+-etcd$etcd_version}"

missing=()
for b in "${bins[@]}"; do [ -x "$out/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then echo "$out"; exit 0; fi

command -v go >/dev/null || { echo "controlplane: Go is required to build the test control plane" >&2; exit 1; }
mkdir -p "$out"
# Two test processes asking at once: one builds, the other waits and finds the binaries there.
exec 8>"$out.lock"
flock 8
missing=()
for b in "${bins[@]}"; do [ -x "$out/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then echo "$out"; exit 0; fi
minor="$(echo "$k8s_version" | cut -d. -f2)"
pkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
ldflags="-s -w"
for p in "${pkgs[@]}"; do
  ldflags+=" -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.gitTreeState=clean"
  ldflags+=" -X $p.buildDate=1970-01-01T00:00:00Z"
done
cd "$mod"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
minutes=$(( ${#missing[@]} * 3 ))
echo "controlplane: building ${missing[*]} (Kubernetes $k8s_version${etcd_version:+, etcd $etcd_version}) into $out (first time on this machine only, about $minutes min on 2 cores)" >&2
# shellcheck source=progress.sh
. "$here/progress.sh"
progress_start "building ${missing[*]}" "$minutes"
for name in "${missing[@]}"; do
  case "$name" in etcd) target=go.etcd.io/etcd/server/v3 ;; *) target="k8s.io/kubernetes/cmd/$name" ;; esac
  go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$target"
  mv "$out/$name.tmp" "$out/$name"
done
progress_stop
echo "$out"
