#!/usr/bin/env bash
# One idempotent setup step for every project command. PURPOSE selects how much is needed:
#   cli, build: Node + npm dependencies + native addon
#   test, demo, bench: all of that + Debian packages + control-plane binaries + test BPF programs + the newest
#                      Cilium line (cilium-agent, cilium-dbg, its bpf/ tree and CRDs: scripts/setup/cilium.sh)
#   test-cilium: the same with every Cilium line of test/cilium/lines.json (npm run test:cilium)
#   test, test-cilium also build helm (scripts/setup/helm.sh), which the chart tests run, and the oldest consumer
#                      Kubernetes line of test/compat/lines.json (npm test runs its stories)
#   test-compat: test's setup with every consumer Kubernetes line of test/compat/lines.json (npm run test:compat)
# Prints nothing but progress on stderr; a second run with nothing to do takes well under a second.
set -euo pipefail
purpose="${1:-test}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# Concurrent commands in one checkout (two terminals, parallel CI steps) must not run npm ci over each other.
mkdir -p .tools
exec 9>.tools/bootstrap.lock
flock 9

full=0
case "$purpose" in test|demo|bench|test-cilium|test-compat) full=1 ;; esac

[ "$full" = 1 ] && bash scripts/setup/packages.sh
node_dir="$(bash scripts/setup/node.sh)"
export PATH="$node_dir/bin:$PATH"
export npm_config_nodedir="$node_dir"

stamp="node_modules/.kube-lb-stamp"
lock_sum="$(sha256sum package-lock.json package.json | sha256sum | cut -c1-16)-$(node -p process.versions.modules)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" > "$stamp"
fi

bash scripts/setup/native.sh
if [ "$full" = 1 ]; then
  bash scripts/setup/controlplane.sh >/dev/null
  [ -f scripts/setup/test-bpf.sh ] && bash scripts/setup/test-bpf.sh
  if [ "$purpose" = test-cilium ]; then
    bash scripts/setup/cilium.sh $(node -p "Object.keys(require('./test/cilium/lines.json').lines).join(' ')") >/dev/null
  else
    bash scripts/setup/cilium.sh >/dev/null
  fi
  case "$purpose" in test|test-cilium|test-compat) bash scripts/setup/helm.sh >/dev/null ;; esac
  # Kubernetes lines of the compatibility matrix (test/compat/lines.json), built from their modules
  # (test/compat/k8s-*): npm test needs the oldest consumer line, test:compat all of them.
  case "$purpose" in
    test|test-cilium|test-compat)
      which=""
      [ "$purpose" = test-compat ] && which=--all
      for m in $(node lab/kubernetes-line.ts modules $which); do
        bash scripts/setup/controlplane.sh "$m" >/dev/null
      done
      ;;
  esac
fi
echo "$node_dir"
