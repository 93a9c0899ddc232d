#!/usr/bin/env bash
# Builds the N-API addon in native/ with node-gyp, and the BPF object it loads (native/bpf/*.bpf.c, with clang
# for the bpf target, next to the addon), when their sources changed since the last build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root/native"
out="build/Release/kube_lb_native.node"
bpf_out="build/Release/map-watch.bpf.o"
if [ -f "$out" ] && [ -f "$bpf_out" ] && [ -z "$(find . -path ./build -prune -o -newer "$out" -type f -print | head -1)" ]; then
  exit 0
fi
echo "native: building addon" >&2
"$root/node_modules/.bin/node-gyp" rebuild --loglevel=error >&2
# -g keeps the BTF that libbpf needs to relocate the object's kernel-struct reads against the running kernel.
arch="$(uname -m | sed -e s/x86_64/x86/ -e s/aarch64/arm64/)"
clang -O2 -g -Wall -target bpf -D__TARGET_ARCH_"$arch" -I"/usr/include/$(gcc -print-multiarch)" -c bpf/map-watch.bpf.c -o "$bpf_out"
