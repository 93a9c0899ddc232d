#!/usr/bin/env bash
# Usage: with-toolchain.sh PURPOSE COMMAND... — bootstraps what PURPOSE needs, then runs COMMAND on Node >= 22.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
purpose="$1"; shift
node_dir="$(bash "$root/scripts/setup/bootstrap.sh" "$purpose")"
export PATH="$node_dir/bin:$root/node_modules/.bin:$PATH"
export npm_config_nodedir="$node_dir"
export KUBE_LB_CONTROLPLANE_BIN="$(bash "$root/scripts/setup/controlplane.sh" 2>/dev/null || true)"
cd "$root"
exec "$@"
