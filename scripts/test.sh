#!/usr/bin/env bash
# Runs test suites with tap. Usage: test.sh [unit|controlplane|dataplane|e2e ...] (default: all, in that order).
# Prints tap's report, then one line "N passed, N failed" counted from the TAP stream.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
suites=("$@"); [ ${#suites[@]} -eq 0 ] && suites=(unit controlplane dataplane e2e)
files=()
for s in "${suites[@]}"; do
  [ -d "test/$s" ] || { echo "test.sh: no suite test/$s" >&2; exit 2; }
  while IFS= read -r f; do files+=("$f"); done < <(find "test/$s" -name '*.test.ts' | sort)
done
[ ${#files[@]} -eq 0 ] && { echo "0 passed, 0 failed"; exit 1; }
node test/support/cleanup-stale.ts
out="$(mktemp)"; trap 'rm -f "$out"' EXIT
tap --reporter=tap --disable-coverage --timeout="${KUBE_LB_TEST_TIMEOUT:-900}" --jobs="${KUBE_LB_TEST_JOBS:-2}" \
  "${files[@]}" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
node test/support/cleanup-stale.ts
node scripts/tap-count.ts < "$out"
exit "$status"
