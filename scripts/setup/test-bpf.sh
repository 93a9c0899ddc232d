#!/usr/bin/env bash
# Compiles what the dataplane tests and the maps benchmark run next to the TypeScript, when the sources changed:
#   test/datapath/build/lb_test.o       the test-only tc datapath (clang -target bpf)
#   scripts/bench/build/maps-baseline   the raw bpf() update baseline of `npm run bench -- maps`
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

stale() { [ ! -f "$1" ] || [ "$2" -nt "$1" ] || [ "${BASH_SOURCE[0]}" -nt "$1" ]; }

dp_src="$root/test/datapath/lb_test.c"
dp_out="$root/test/datapath/build/lb_test.o"
if stale "$dp_out" "$dp_src"; then
  echo "test-bpf: compiling $dp_src" >&2
  mkdir -p "$(dirname "$dp_out")"
  clang -O2 -g -Wall -Werror -target bpf -I"/usr/include/$(uname -m)-linux-gnu" -c "$dp_src" -o "$dp_out.tmp"
  mv "$dp_out.tmp" "$dp_out"
fi

bl_src="$root/scripts/bench/maps-baseline.c"
bl_out="$root/scripts/bench/build/maps-baseline"
if [ -f "$bl_src" ] && stale "$bl_out" "$bl_src"; then
  echo "test-bpf: compiling $bl_src" >&2
  mkdir -p "$(dirname "$bl_out")"
  cc -O2 -Wall -Werror -o "$bl_out.tmp" "$bl_src"
  mv "$bl_out.tmp" "$bl_out"
fi
