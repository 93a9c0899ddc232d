#!/usr/bin/env bash
# Builds the N-API addon in native/ with node-gyp when its sources changed since the last build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root/native"
out="build/Release/kube_lb_native.node"
if [ -f "$out" ] && [ -z "$(find . -path ./build -prune -o -newer "$out" -type f -print | head -1)" ]; then exit 0; fi
echo "native: building addon" >&2
"$root/node_modules/.bin/node-gyp" rebuild --loglevel=error >&2
