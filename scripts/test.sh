#!/usr/bin/env bash
# Runs test suites with tap. Usage: test.sh [unit|controlplane|dataplane|e2e|compat/oldest|compat ...] (default:
# unit controlplane dataplane e2e compat/oldest, in that order). `compat` runs the compatibility matrix instead: the
# stories of test/compat/lines.json once per consumer Kubernetes line (KUBE_LB_COMPAT_LINES="v1.24 v1.31" picks
# lines; default all), each with KUBE_LB_CONSUMER_K8S set and the LB cluster on its minimum line (KUBE_LB_LB_K8S). Prints tap's report, then
# scripts/tap-count.ts's summary of the TAP stream of every run: assertions, skips, a line saying why for each
# failure, and last "N passed, N failed" counting tests (files and subtests). A suite without test files, a run
# without TAP or a crashed file counts as failed, and the exit status is non-zero whenever that line says so.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
suites=("$@"); [ ${#suites[@]} -eq 0 ] && suites=(unit controlplane dataplane e2e compat/oldest)
files=()
matrix=false
# Failures found before anything runs, for the summary (tap-count.ts --failed).
problems=()
for s in "${suites[@]}"; do
  if [ "$s" = compat ]; then matrix=true; continue; fi
  if [ ! -d "test/$s" ]; then
    echo "test.sh: no suite test/$s" >&2
    node scripts/tap-count.ts --failed "no suite test/$s" </dev/null
    exit 2
  fi
  found=0
  while IFS= read -r f; do files+=("$f"); found=$((found + 1)); done < <(find "test/$s" -name '*.test.ts' | sort)
  [ "$found" -gt 0 ] || problems+=(--failed "suite test/$s has no *.test.ts files")
done
# Three files at a time on two cores: most test time is waiting on apiservers, agents and timers, so a third file
# fills idle CPU (measured from a fresh clone on 2 cores: 19 min 39 s with 2, 14 min 55 s with 3, both all passed).
# KUBE_LB_TEST_JOBS overrides it.
run_tap() {
  tap --reporter=tap --disable-coverage --timeout="${KUBE_LB_TEST_TIMEOUT:-900}" --jobs="${KUBE_LB_TEST_JOBS:-3}" "$@" 2>&1 | tee -a "$out"
  return "${PIPESTATUS[0]}"
}
node lab/cleanup-stale.ts
out="$(mktemp)"; trap 'rm -f "$out"' EXIT
status=0
[ ${#files[@]} -gt 0 ] && { run_tap "${files[@]}" || status=$?; }
if [ "$matrix" = true ]; then
  mapfile -t stories < <(node lab/kubernetes-line.ts stories)
  lines="${KUBE_LB_COMPAT_LINES:-$(node lab/kubernetes-line.ts lines)}"
  lb_minimum="$(node lab/kubernetes-line.ts lb-minimum)"
  # Without stories tap would run its default files instead; without lines nothing at all.
  if [ ${#stories[@]} -eq 0 ] || [ -z "${lines// /}" ]; then
    problems+=(--failed "compat: lab/kubernetes-line.ts named no stories or no lines")
  else
    for line in $lines; do
      echo "# compat: consumer Kubernetes $line, LB cluster Kubernetes $lb_minimum"
      KUBE_LB_CONSUMER_K8S="$line" KUBE_LB_LB_K8S="$lb_minimum" run_tap "${stories[@]}" || status=$?
    done
  fi
fi
node lab/cleanup-stale.ts
# The summary fails the run too (a crashed file or a missing suite may leave tap's status 0).
node scripts/tap-count.ts --status "$status" "${problems[@]}" < "$out" || { [ "$status" -ne 0 ] || status=1; }
exit "$status"
