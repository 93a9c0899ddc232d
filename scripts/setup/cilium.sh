#!/usr/bin/env bash
# Builds cilium-agent and cilium-dbg from the github.com/cilium/cilium Go module, one Cilium line at a time, into
# a cache outside the work tree keyed by version (a second run is a no-op). The lines and what each needs are in
# test/cilium/lines.json. Usage: cilium.sh [LINE ...] (default: the newest line); prints one output dir a line.
#
# Each output dir holds what a lab agent needs, all from the same module version:
#   cilium-agent, cilium-dbg   built from daemon/ and cilium-dbg/, stamped with the version
#   lib/bpf/                   the module's bpf/ tree: the agent compiles its datapath from it at run time
#   crds/                      the module's CRD YAML (the operator installs them in a real cluster; the lab does)
#
# Why a wrapper module: `go install github.com/cilium/cilium/daemon@vX` ignores the module's own `replace` lines.
# The wrapper requires the module, repeats its replace lines (with the overrides lines.json explains), and starts
# from the module's own go.sum, so pinned forks are verified by the hashes Cilium committed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lines_json="$root/test/cilium/lines.json"
cache="${KUBE_LB_CACHE:-$HOME/.cache/kube-lb}"
command -v node >/dev/null || { echo "cilium: node is required (run through scripts/with-toolchain.sh)" >&2; exit 1; }
# shellcheck source=progress.sh
. "$here/progress.sh"
q() { node -e "const l=require('$lines_json'); const v=($1); process.stdout.write(typeof v==='string'?v:JSON.stringify(v))"; }

lines=("$@")
[ ${#lines[@]} -eq 0 ] && lines=("$(q 'l.newest')")

build_line() {
  local line="$1"
  local version; version="$(q "l.lines['$line']?.module ?? ''")"
  [ -n "$version" ] || { echo "cilium: no line $line in test/cilium/lines.json" >&2; return 1; }
  # The overrides are part of the key: changing one rebuilds.
  local key; key="$(q "JSON.stringify([l.lines['$line'].replace, Object.keys(l.lines['$line'].dropReplace)])" | sha256sum | cut -c1-8)"
  local out="$cache/cilium/$version-$key"
  if [ -x "$out/cilium-agent" ] && [ -x "$out/cilium-dbg" ] && [ -d "$out/lib/bpf" ] && [ -d "$out/crds" ]; then
    echo "$out"; return 0
  fi
  if [ -n "${KUBE_LB_CILIUM_NO_BUILD:-}" ]; then
    echo "cilium: cilium-agent $version (line $line) is not built; run: bash scripts/setup/cilium.sh $line" >&2; return 1
  fi
  command -v go >/dev/null || { echo "cilium: Go is required to build cilium-agent $version" >&2; return 1; }
  mkdir -p "$out"
  local wrap="$out/gobuild"
  rm -rf "$wrap"; mkdir -p "$wrap"
  export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
  echo "cilium: fetching github.com/cilium/cilium $version" >&2
  local dir; dir="$(cd "$wrap" && go mod download -json "github.com/cilium/cilium@$version" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s); if(j.Error){console.error(j.Error);process.exit(1)} process.stdout.write(j.Dir)})")"
  local gomod="$dir/go.mod"
  local godirective; godirective="$(awk '$1=="go"{print $2; exit}' "$gomod")"
  {
    echo "module kube-lb.io/lab/cilium-$line"
    echo
    echo "go $godirective"
    echo
    echo "require github.com/cilium/cilium $version"
  } > "$wrap/go.mod"
  cp "$dir/go.sum" "$wrap/go.sum"; chmod u+w "$wrap/go.sum"
  (cd "$wrap" && go mod download -json "github.com/cilium/cilium@$version" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s); console.log('github.com/cilium/cilium '+j.Version+' '+j.Sum); console.log('github.com/cilium/cilium '+j.Version+'/go.mod '+j.GoModSum)})" >> "$wrap/go.sum")
  # The module's replace lines, minus the dropped ones, plus the overrides.
  local drops; drops="$(q "Object.keys(l.lines['$line'].dropReplace).join(' ')")"
  (cd "$dir" && go mod edit -json) | node -e "
    let s=''; process.stdin.on('data',d=>s+=d).on('end',()=>{
      const drop=new Set(process.argv[1].split(' ').filter(Boolean));
      for (const r of JSON.parse(s).Replace ?? []) {
        if (drop.has(r.Old.Path)) continue;
        const old = r.Old.Version ? r.Old.Path+'@'+r.Old.Version : r.Old.Path;
        const neu = r.New.Version ? r.New.Path+'@'+r.New.Version : r.New.Path;
        console.log(old+'='+neu);
      }
    })" "$drops" | while IFS= read -r r; do (cd "$wrap" && go mod edit -replace "$r"); done
  q "Object.entries(l.lines['$line'].replace).map(([k,v])=>k+'='+v.with.split(' ').join('@')+'\n').join('')" | while IFS= read -r r; do
    (cd "$wrap" && go mod edit -replace "$r")
  done

  local estimate=9
  echo "cilium: building cilium-agent $version (first time on this machine only; about $estimate min on 2 cores, then cached in $out)" >&2
  local ldflags="-s -w -X 'github.com/cilium/cilium/pkg/version.ciliumVersion=${version#v} kube-lb-lab'"
  local start=$SECONDS
  progress_start "building cilium-agent $version" "$estimate"
  (cd "$wrap" && go build -trimpath -tags osusergo -ldflags "$ldflags" -o "$out/cilium-agent.tmp" github.com/cilium/cilium/daemon)
  (cd "$wrap" && go build -trimpath -tags osusergo -ldflags "$ldflags" -o "$out/cilium-dbg.tmp" github.com/cilium/cilium/cilium-dbg)
  progress_stop
  echo "cilium: built cilium-agent and cilium-dbg $version in $((SECONDS - start)) s" >&2
  rm -rf "$out/lib" "$out/crds"; mkdir -p "$out/lib" "$out/crds"
  cp -r "$dir/bpf" "$out/lib/bpf"; chmod -R u+w "$out/lib"
  find "$dir/pkg/k8s/apis/cilium.io/client/crds" -name '*.yaml' -exec cp {} "$out/crds/" \;
  chmod -R u+w "$out/crds"
  echo "$((SECONDS - start))" > "$out/build-seconds"
  mv "$out/cilium-agent.tmp" "$out/cilium-agent"
  mv "$out/cilium-dbg.tmp" "$out/cilium-dbg"
  echo "$out"
}

for line in "${lines[@]}"; do build_line "$line"; done
