// What a consumer Service's status should say given its VIPClaim, and which Events the change deserves.
//
// Rules that keep users' EXTERNAL-IPs steady:
// - The ingress IP follows the claim only when the claim says something definite: Allocated=True with a vip sets
//   it, Allocated=False clears it. A claim with no verdict yet (just created or recreated) and an unknown claim
//   (not in the cache, the LB cluster unreachable) leave the current IP alone.
// - Conditions of the claim are mirrored as kube-lb.io/<Type> with the claim's reason, message and transition
//   time; the agent's own condition (ClaimSynced) says whether the claim could be written.
import { CLAIM_CONDITIONS, type Condition, type VIPClaim } from '../../api/v1alpha1.ts';
import { findCondition, setCondition, type ConditionInput } from '../conditions.ts';
import type { LoadBalancerIngressView, ServiceStatusView } from './views.ts';
import { isServable } from '../allocation/status.ts';
import { ipModeGap, type ConsumerCapabilities } from './capabilities.ts';

export const CONDITION_PREFIX = 'kube-lb.io/';

export const SERVICE_CONDITIONS = {
  Allocated: `${CONDITION_PREFIX}${CLAIM_CONDITIONS.Allocated}`,
  Programmed: `${CONDITION_PREFIX}${CLAIM_CONDITIONS.Programmed}`,
  Announced: `${CONDITION_PREFIX}${CLAIM_CONDITIONS.Announced}`,
  BackendsHealthy: `${CONDITION_PREFIX}${CLAIM_CONDITIONS.BackendsHealthy}`,
  /** The agent's own: True when the claim matches the Service, False with the reason it cannot. */
  ClaimSynced: `${CONDITION_PREFIX}ClaimSynced`,
  /** Only on a cluster that drops ipMode (capabilities.ts): False, with what in-cluster clients give up. */
  IPModeProxy: `${CONDITION_PREFIX}IPModeProxy`,
} as const;

const MIRRORED = [
  CLAIM_CONDITIONS.Allocated,
  CLAIM_CONDITIONS.Programmed,
  CLAIM_CONDITIONS.Announced,
  CLAIM_CONDITIONS.BackendsHealthy,
] as const;

/**
 * ipMode Proxy: packets reach the node addressed to node IP:NodePort, so kube-proxy must not bind the VIP. Written
 * only where the cluster keeps it (capabilities.ts): elsewhere the stored status would never match the desired one.
 */
export const IP_MODE = 'Proxy';

export interface ServiceEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface StatusDecision {
  status: ServiceStatusView;
  /** False when writing `status` would change nothing: no request. */
  changed: boolean;
  events: ServiceEvent[];
}

// metav1.Condition's reason pattern: a claim reason that does not fit would make the Service status invalid.
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const MAX_MESSAGE = 32_768;

function sanitize(c: Condition, type: string): Condition {
  return {
    type,
    status: c.status,
    reason: REASON.test(c.reason) && c.reason.length <= 1024 ? c.reason : 'Unspecified',
    message: c.message.length > MAX_MESSAGE ? c.message.slice(0, MAX_MESSAGE) : c.message,
    lastTransitionTime: c.lastTransitionTime,
  };
}

/** The IP the claim grants (string), takes away (null), or nothing definite yet (undefined). */
export function claimVerdict(claim: VIPClaim | undefined): string | null | undefined {
  const allocated = findCondition(claim?.status?.conditions, CLAIM_CONDITIONS.Allocated);
  if (!allocated || allocated.status === 'Unknown') return undefined;
  // A VIP the speakers still serve (e.g. Allocated=False/OutsidePool after a pool shrank) stays on the
  // Service: the user keeps a working address until the operator decides, never loses it to a status flip.
  if (claim && isServable(claim)) return claim.status!.vip!;
  return allocated.status === 'False' ? null : undefined;
}

function ingressIP(status: ServiceStatusView | undefined): string | undefined {
  return status?.loadBalancer?.ingress?.find((i) => i.ip)?.ip;
}

/**
 * `agentCondition` is the ClaimSynced verdict of this reconcile. A True verdict is written only along with other
 * changes or to replace a False one, so a healthy Service costs no status write for it alone.
 */
export function decideServiceStatus(
  current: ServiceStatusView | undefined,
  claim: VIPClaim | undefined,
  agentCondition: ConditionInput | undefined,
  now: Date,
  cluster: ConsumerCapabilities,
): StatusDecision {
  const before = current?.conditions ?? [];
  let conditions: Condition[] = [...before];
  const events: ServiceEvent[] = [];

  if (claim) {
    for (const type of MIRRORED) {
      const serviceType = `${CONDITION_PREFIX}${type}`;
      const fromClaim = findCondition(claim.status?.conditions, type);
      conditions = conditions.filter((c) => c.type !== serviceType);
      if (fromClaim) conditions.push(sanitize(fromClaim, serviceType));
    }
  }

  const oldIP = ingressIP(current);
  const verdict = claimVerdict(claim);
  const newIP = verdict === undefined ? oldIP : (verdict ?? undefined);
  let ingress: LoadBalancerIngressView[] = current?.loadBalancer?.ingress ?? [];
  if (verdict !== undefined) ingress = newIP ? [cluster.ipMode ? { ip: newIP, ipMode: IP_MODE } : { ip: newIP }] : [];
  const gap = ipModeGap(cluster, newIP);
  conditions = gap
    ? setCondition(conditions, { type: SERVICE_CONDITIONS.IPModeProxy, status: 'False', ...gap }, now)
    : conditions.filter((c) => c.type !== SERVICE_CONDITIONS.IPModeProxy);

  let allocatedEvent = false;
  for (const c of conditions) {
    const prev = before.find((p) => p.type === c.type);
    if (prev && prev.status === c.status && prev.reason === c.reason) continue;
    const isAllocated = c.type === SERVICE_CONDITIONS.Allocated;
    allocatedEvent ||= isAllocated;
    events.push(conditionEvent(c, isAllocated ? newIP : undefined));
  }
  // A new IP under an unchanged Allocated condition (re-allocation) still deserves its own Event.
  if (oldIP !== newIP && !allocatedEvent) {
    events.push(
      newIP
        ? {
            type: 'Normal',
            reason: oldIP ? 'VIPChanged' : 'VIPAssigned',
            message: oldIP ? `VIP ${oldIP} → ${newIP}` : `VIP ${newIP}`,
          }
        : { type: 'Warning', reason: 'VIPRemoved', message: `VIP ${oldIP} removed` },
    );
  }

  const mirroredChanged = !sameConditions(before, conditions) || !sameIngress(current?.loadBalancer?.ingress, ingress);
  if (agentCondition) {
    const prev = findCondition(conditions, agentCondition.type);
    const worthWriting =
      agentCondition.status !== 'True' || mirroredChanged || (prev !== undefined && prev.status !== 'True');
    if (worthWriting) {
      const next = setCondition(conditions, agentCondition, now);
      if (
        agentCondition.status !== 'True' &&
        (prev?.status !== agentCondition.status || prev.reason !== agentCondition.reason)
      ) {
        events.push({ type: 'Warning', reason: agentCondition.reason, message: agentCondition.message });
      }
      conditions = next;
    }
  }

  const status: ServiceStatusView = { loadBalancer: { ingress }, conditions };
  const changed = !sameConditions(before, conditions) || !sameIngress(current?.loadBalancer?.ingress, ingress);
  return { status, changed, events };
}

/**
 * Status for a Service kube-lb stops serving: drop its conditions and the VIP it had put there (the claim's VIP;
 * without one, the entries marked ipMode Proxy, which on a cluster without ipMode leaves the entry in place).
 */
export function releasedServiceStatus(current: ServiceStatusView | undefined, vip: string | undefined): StatusDecision {
  const conditions = (current?.conditions ?? []).filter((c) => !c.type.startsWith(CONDITION_PREFIX));
  const ingress = (current?.loadBalancer?.ingress ?? []).filter(
    (i) => !(vip === undefined ? i.ipMode === IP_MODE : i.ip === vip),
  );
  const status: ServiceStatusView = { loadBalancer: { ingress }, conditions };
  const changed =
    !sameConditions(current?.conditions ?? [], conditions) || !sameIngress(current?.loadBalancer?.ingress, ingress);
  return { status, changed, events: [] };
}

function conditionEvent(c: Condition, ip: string | undefined): ServiceEvent {
  const what = c.type.slice(CONDITION_PREFIX.length);
  const detail = c.message ? `: ${c.message}` : '';
  const message = ip && c.status === 'True' ? `${what} VIP ${ip}${detail}` : `${what} ${c.status}${detail}`;
  return { type: c.status === 'False' ? 'Warning' : 'Normal', reason: c.reason, message };
}

function sameConditions(a: readonly Condition[], b: readonly Condition[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x) => {
    const y = b.find((c) => c.type === x.type);
    return (
      y !== undefined &&
      y.status === x.status &&
      y.reason === x.reason &&
      y.message === x.message &&
      normalTime(y.lastTransitionTime) === normalTime(x.lastTransitionTime) &&
      y.observedGeneration === x.observedGeneration
    );
  });
}

/** Second precision, as the API server stores metav1.Time. */
function normalTime(t: unknown): string {
  const d = t instanceof Date ? t : new Date(String(t));
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function sameIngress(
  a: readonly LoadBalancerIngressView[] | undefined,
  b: readonly LoadBalancerIngressView[],
): boolean {
  const x = a ?? [];
  return (
    x.length === b.length &&
    x.every((i, n) => i.ip === b[n]!.ip && i.hostname === b[n]!.hostname && i.ipMode === b[n]!.ipMode)
  );
}
