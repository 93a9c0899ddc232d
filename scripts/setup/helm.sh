#!/usr/bin/env bash
# Builds helm from the helm.sh/helm/v3 Go module (no prebuilt binaries) into a cache outside the work tree keyed
# by version; a second run is a no-op. Prints the path of the helm binary. The chart tests
# (test/controlplane/helm.test.ts) run it against the test apiservers only.
#
# No wrapper module: helm's go.mod has no replace lines, so `go install helm.sh/helm/v3/cmd/helm@VERSION` builds
# exactly the module's pinned dependency set, verified by the checksum database. The ldflags are the ones helm's
# own Makefile sets: the version, and the Kubernetes minor its lint rules and chartutil assume (from the
# module's client-go requirement).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The newest v3 release the Go module proxy serves (go list -m -versions helm.sh/helm/v3).
version="v3.22.0"
cache="${KUBE_LB_CACHE:-$HOME/.cache/kube-lb}"
out="$cache/helm/$version"
if [ -x "$out/helm" ]; then echo "$out/helm"; exit 0; fi
if [ -n "${KUBE_LB_HELM_NO_BUILD:-}" ]; then
  echo "helm: helm $version is not built; run: bash scripts/setup/helm.sh" >&2; exit 1
fi
command -v go >/dev/null || { echo "helm: Go is required to build helm $version" >&2; exit 1; }
mkdir -p "$out"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
gomod="$(cd "$out" && go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
[ -f "$gomod" ] || { echo "helm: could not fetch helm.sh/helm/v3@$version" >&2; exit 1; }
k8s="$(awk '$1=="k8s.io/client-go" {print $2; exit}' "$gomod")"   # v0.MINOR.PATCH
k8s_minor="$(echo "$k8s" | cut -d. -f2)"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s_minor"
done
estimate=4
echo "helm: building helm $version (first time on this machine only; about $estimate min on 2 cores, then cached in $out)" >&2
# shellcheck source=progress.sh
. "$here/progress.sh"
start=$SECONDS
progress_start "building helm $version" "$estimate"
tmp="$out/gobin.tmp"
rm -rf "$tmp"; mkdir -p "$tmp"
GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version"
progress_stop
echo "helm: built helm $version in $((SECONDS - start)) s" >&2
echo "$((SECONDS - start))" > "$out/build-seconds"
mv "$tmp/helm" "$out/helm"
rm -rf "$tmp"
echo "$out/helm"
