#!/usr/bin/env bash
# Runs test suites with tap. Usage: test.sh [unit|controlplane|dataplane|e2e|compat/oldest|compat ...] (default:
# unit controlplane dataplane e2e compat/oldest, in that order). `compat` runs the compatibility matrix instead: the
# stories of test/compat/lines.json once per consumer Kubernetes line (KUBE_LB_COMPAT_LINES="v1.24 v1.31" picks
# lines; default all), each with KUBE_LB_CONSUMER_K8S set and the LB cluster on its minimum line (KUBE_LB_LB_K8S). Prints tap's report, then one line "N passed, N failed"
# counted from the TAP stream of every run.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
suites=("$@"); [ ${#suites[@]} -eq 0 ] && suites=(unit controlplane dataplane e2e compat/oldest)
files=()
matrix=false
for s in "${suites[@]}"; do
  if [ "$s" = compat ]; then matrix=true; continue; fi
  [ -d "test/$s" ] || { echo "test.sh: no suite test/$s" >&2; exit 2; }
  while IFS= read -r f; do files+=("$f"); done < <(find "test/$s" -name '*.test.ts' | sort)
done
[ ${#files[@]} -eq 0 ] && [ "$matrix" = false ] && { echo "0 passed, 0 failed"; exit 1; }
run_tap() {
  tap --reporter=tap --disable-coverage --timeout="${KUBE_LB_TEST_TIMEOUT:-900}" --jobs="${KUBE_LB_TEST_JOBS:-2}" "$@" 2>&1 | tee -a "$out"
  return "${PIPESTATUS[0]}"
}
node test/support/cleanup-stale.ts
out="$(mktemp)"; trap 'rm -f "$out"' EXIT
status=0
[ ${#files[@]} -gt 0 ] && { run_tap "${files[@]}" || status=$?; }
if [ "$matrix" = true ]; then
  mapfile -t stories < <(node test/support/kubernetes-line.ts stories)
  lines="${KUBE_LB_COMPAT_LINES:-$(node test/support/kubernetes-line.ts lines)}"
  lb_minimum="$(node test/support/kubernetes-line.ts lb-minimum)"
  for line in $lines; do
    echo "# compat: consumer Kubernetes $line, LB cluster Kubernetes $lb_minimum"
    KUBE_LB_CONSUMER_K8S="$line" KUBE_LB_LB_K8S="$lb_minimum" run_tap "${stories[@]}" || status=$?
  done
fi
node test/support/cleanup-stale.ts
node scripts/tap-count.ts < "$out"
exit "$status"
