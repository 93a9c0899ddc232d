// One health-check target's state, as cloud load balancers keep it: a target goes out of service after `fall`
// consecutive failed probes and back in after `rise` consecutive successes. A target never probed yet is
// 'unknown' and stays in service (a new Service must not wait for a probe round before carrying traffic);
// one success confirms it, `fall` failures take it out. Pure: the caller passes the probe result and the time.

export interface HealthThresholds {
  /** Consecutive successes that bring an unhealthy target back. */
  readonly rise: number;
  /** Consecutive failures that take a target out. */
  readonly fall: number;
}

export type HealthState = 'unknown' | 'healthy' | 'unhealthy';

/** Why a probe failed, as a stable code (log field, metric label); `detail` is for humans. */
export type ProbeFailure = 'Refused' | 'Timeout' | 'Reset' | 'Unreachable' | 'BadStatus' | 'Error';

export type ProbeResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly failure: ProbeFailure; readonly detail: string };

export interface TargetHealth {
  readonly state: HealthState;
  /** Length of the current run of equal results: > 0 successes, < 0 failures, 0 before the first probe. */
  readonly streak: number;
  /** The last failure, kept after recovery for the record. */
  readonly lastFailure: { readonly failure: ProbeFailure; readonly detail: string } | undefined;
  /** When `state` last changed (caller's clock, ms); undefined while unknown. */
  readonly since: number | undefined;
}

export const UNPROBED: TargetHealth = { state: 'unknown', streak: 0, lastFailure: undefined, since: undefined };

export interface Observation {
  readonly next: TargetHealth;
  /** Set when the state changed with this probe. */
  readonly transition: { readonly from: HealthState; readonly to: HealthState } | undefined;
}

/** Whether a target in this state may receive new flows. */
export function inService(state: HealthState): boolean {
  return state !== 'unhealthy';
}

export function observe(prev: TargetHealth, result: ProbeResult, t: HealthThresholds, now: number): Observation {
  const streak = result.ok ? Math.max(prev.streak, 0) + 1 : Math.min(prev.streak, 0) - 1;
  const lastFailure = result.ok ? prev.lastFailure : { failure: result.failure, detail: result.detail };
  let state = prev.state;
  if (result.ok) {
    if (prev.state === 'unknown' || (prev.state === 'unhealthy' && streak >= t.rise)) state = 'healthy';
  } else if (prev.state !== 'unhealthy' && -streak >= t.fall) {
    state = 'unhealthy';
  }
  const changed = state !== prev.state;
  return {
    next: { state, streak, lastFailure, since: changed ? now : prev.since },
    transition: changed ? { from: prev.state, to: state } : undefined,
  };
}

/** Checks thresholds given by an operator: both whole numbers from 1 to 100. */
export function thresholdProblem(t: HealthThresholds): string | undefined {
  for (const [name, v] of Object.entries(t)) {
    if (!Number.isInteger(v) || v < 1 || v > 100) return `${name} threshold ${v} is not a whole number from 1 to 100`;
  }
  return undefined;
}
