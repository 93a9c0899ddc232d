// Which backends of one frontend get new flows. Readiness comes from the consumer cluster (node Ready, local
// endpoints for eTP Local), health from this LB node's probes. The rules, in order:
//  1. Backends marked ready are the pool; if none is ready, every backend is (as kube-proxy falls back to
//     serving-terminating endpoints rather than dropping).
//  2. Backends of the pool that are in service by their health checks are selected.
//  3. If health takes out every backend of the pool, the last selected set is kept (what still carried traffic
//     before it all went bad), or the whole pool when nothing was selected before: a health-check outage or a
//     broken check must not drop all traffic, the way cloud load balancers "fail open".
// Backends not selected stay in the maps as non-active so their existing flows drain.
import { inService, type HealthState } from './state.ts';

export interface Candidate {
  /** Backend identity, e.g. its address. */
  readonly key: string;
  readonly ready: boolean;
  /** Combined state of the target(s) that check it; 'unknown' when unchecked or not probed yet. */
  readonly health: HealthState;
}

export type SelectionReason =
  /** Every ready backend is in service. */
  | 'AllInService'
  /** Some ready backends are out by health checks. */
  | 'SomeUnhealthy'
  /** All ready backends fail their checks; the last selected set is kept. */
  | 'AllUnhealthyKeptLast'
  /** All ready backends fail their checks and nothing was selected before: all of them stay. */
  | 'AllUnhealthyFailOpen'
  /** No backend is ready; not-ready ones are used rather than none. */
  | 'NoneReady'
  | 'NoBackends';

export type NotSelectedBecause = 'NotReady' | 'Unhealthy';

export interface Selection {
  readonly selected: readonly string[];
  /** Why each other backend is not selected. */
  readonly excluded: ReadonlyMap<string, NotSelectedBecause>;
  readonly reason: SelectionReason;
}

export function selectBackends(
  candidates: readonly Candidate[],
  lastSelected: ReadonlySet<string> | undefined,
): Selection {
  if (candidates.length === 0) return { selected: [], excluded: new Map(), reason: 'NoBackends' };
  const ready = candidates.filter((c) => c.ready);
  const pool = ready.length > 0 ? ready : candidates;
  const excluded = new Map<string, NotSelectedBecause>();
  for (const c of candidates) if (!pool.includes(c)) excluded.set(c.key, 'NotReady');

  const healthy = pool.filter((c) => inService(c.health));
  let selected: readonly Candidate[];
  let reason: SelectionReason;
  if (healthy.length > 0) {
    selected = healthy;
    reason = ready.length === 0 ? 'NoneReady' : healthy.length === pool.length ? 'AllInService' : 'SomeUnhealthy';
  } else {
    const kept = pool.filter((c) => lastSelected?.has(c.key));
    selected = kept.length > 0 ? kept : pool;
    reason = kept.length > 0 ? 'AllUnhealthyKeptLast' : 'AllUnhealthyFailOpen';
  }
  for (const c of pool) if (!selected.includes(c)) excluded.set(c.key, 'Unhealthy');
  return { selected: selected.map((c) => c.key), excluded, reason };
}

/** Combined health of several targets that all must pass: unhealthy if any is, healthy if all are. */
export function combineHealth(states: readonly HealthState[]): HealthState {
  if (states.length === 0) return 'unknown';
  if (states.includes('unhealthy')) return 'unhealthy';
  return states.every((s) => s === 'healthy') ? 'healthy' : 'unknown';
}
