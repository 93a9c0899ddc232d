#!/usr/bin/env bash
# Compiles what the dataplane tests and the maps benchmark run next to the TypeScript, when the sources changed:
#   test/datapath/build/lb_test.o       the test-only tc datapath (clang -target bpf)
#   scripts/bench/build/maps-baseline   the raw bpf() update baseline of `npm run bench -- maps`
#   scripts/bench/build/lb4-prober      its prober: looks every VIP up while a prune runs
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

# A C program of the benchmark, rebuilt when it or the header the programs share changed.
bench_c() {
  local src="$root/scripts/bench/$1.c" out="$root/scripts/bench/build/$1"
  [ -f "$src" ] || return 0
  if stale "$out" "$src" || [ "$root/scripts/bench/bpf-pinned.h" -nt "$out" ]; then
    echo "test-bpf: compiling $src" >&2
    mkdir -p "$(dirname "$out")"
    cc -O2 -Wall -Werror -o "$out.tmp" "$src"
    mv "$out.tmp" "$out"
  fi
}
bench_c maps-baseline
bench_c lb4-prober
