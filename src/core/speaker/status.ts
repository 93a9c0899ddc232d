// A claim's status as the LB nodes together see it, computed by the one speaker that writes it (the VIP's ARP
// owner, else the rendezvous winner among live nodes: core/l2/report.ts), from its own plan and what every live
// peer published (published.ts). Pure: returns the wanted fields and whether the current status differs.
import { CLAIM_CONDITIONS, type BackendHealth, type VIPClaim, type VIPClaimStatus } from '../../api/v1alpha1.ts';
import { conditionUnchanged, findCondition, setCondition, type ConditionInput } from '../conditions.ts';
import type { AnnouncedStatus } from '../l2/report.ts';
import type { RefusalReason } from '../cilium/config.ts';
import { MAP_FULL } from '../dataplane/planner.ts';
import type { ClaimPlan } from './plan.ts';
import { bucketOf, type PublishedState } from './published.ts';

export const PROGRAMMED_REASONS = {
  /** Every live LB node holds the claim in its maps. */
  Programmed: 'Programmed',
  /** The node answering ARP holds it (traffic flows); some other live nodes do not yet. */
  PartiallyProgrammed: 'PartiallyProgrammed',
  NotProgrammed: 'NotProgrammed',
  /** The dataplane refused the claim's frontends (e.g. an invalid source range). */
  Rejected: 'Rejected',
  /** Another claim already holds one of its frontends. */
  FrontendConflict: 'FrontendConflict',
  /**
   * kube-lb's share of a Cilium map is used up by older claims (the rest is kept for Cilium's own Services): this
   * claim's frontends are not programmed until room is freed.
   */
  MapFull: MAP_FULL,
  /** The claim holds a VIP but is not to be served (allocation refused, being deleted, no ports). */
  NotServed: 'NotServed',
  /**
   * The claim shows a VIP the allocator has not approved (status.approved is missing or names another VIP): a
   * status.vip written by anyone but the allocator is never programmed or announced.
   */
  NotApproved: 'NotApproved',
  /** The LB nodes' Cilium runs without kube-proxy replacement: no node-port path, kube-lb programs nothing. */
  CiliumKubeProxyReplacementOff: 'CiliumKubeProxyReplacementOff',
  /** The LB nodes' Cilium forwards with DSR and has no per-service SNAT (bpf-lb-mode=dsr, no annotation mode). */
  CiliumDSRMode: 'CiliumDSRMode',
  /** The LB nodes' Cilium 1.17/1.18 forwards TCP with DSR in hybrid mode, with no per-service SNAT. */
  CiliumHybridMode: 'CiliumHybridMode',
  /**
   * The node's Cilium re-created (or removed) a pinned lb map that kube-lb held; until the map pinned now is
   * re-opened and fully programmed, the node does not carry the claim.
   */
  CiliumMapsReplaced: 'CiliumMapsReplaced',
} as const satisfies Record<string, string> & Record<RefusalReason, RefusalReason>;

export const HEALTH_REASONS = {
  AllHealthy: 'AllHealthy',
  SomeUnhealthy: 'SomeUnhealthy',
  /** Every backend fails; the last healthy set keeps receiving traffic rather than none. */
  AllUnhealthy: 'AllUnhealthy',
  /** No port can be checked (UDP only, externalTrafficPolicy Cluster). */
  NotChecked: 'NotChecked',
  NoBackends: 'NoBackends',
} as const;

export interface NodeReport {
  /** What the node published; undefined when it published nothing readable (yet). */
  readonly state: PublishedState | undefined;
}

export interface StatusInput {
  readonly claim: VIPClaim;
  /** This node's plan for the claim. */
  readonly plan: ClaimPlan;
  /** Bucket digests of every claim this node expects to be programmed (published.ts bucketDigests). */
  readonly expectedBuckets: readonly string[];
  readonly self: string;
  /**
   * Whether this node's maps hold the claim, or why the dataplane refused it; `code`, when given, is the
   * Programmed reason to use (a node-wide refusal from the Cilium configuration).
   */
  readonly selfProgrammed:
    | { readonly ok: true }
    | { readonly ok: false; readonly reason: string; readonly code?: string };
  readonly selfFailing: ReadonlySet<string>;
  /** Live LB nodes, self included. */
  readonly live: readonly string[];
  readonly peers: ReadonlyMap<string, NodeReport>;
  /**
   * Buckets in which a peer's published digest differs from the expected one only since recently (the peer has
   * not caught up with a change yet, usually of another claim in the same bucket). For those, a peer that the
   * claim's current status lists as programmed stays listed, so one claim's change does not make the status of
   * its bucket neighbours flap. Past the grace period the mismatch counts.
   */
  readonly settling?: ReadonlyMap<string, ReadonlySet<number>>;
  /** The Announced part (core/l2/report.ts), when the L2 side decided for this VIP. */
  readonly announced: AnnouncedStatus | undefined;
}

export interface WantedStatus {
  readonly programmedNodes: readonly string[];
  /** Absent when the L2 side has not decided for the VIP yet: announcedBy is then left as it is. */
  readonly announced: { readonly by: string | undefined } | undefined;
  readonly backendHealth: readonly BackendHealth[];
  readonly conditions: readonly ConditionInput[];
}

function programmedOn(input: StatusInput, key: string): string[] {
  const bucket = bucketOf(key);
  const { claim } = input;
  // What the status says now holds only if it was computed for this generation of the claim.
  const current =
    findCondition(claim.status?.conditions, CLAIM_CONDITIONS.Programmed)?.observedGeneration ===
    claim.metadata.generation
      ? new Set(claim.status?.programmedNodes ?? [])
      : new Set<string>();
  const nodes: string[] = [];
  for (const node of input.live) {
    if (node === input.self) {
      if (input.selfProgrammed.ok) nodes.push(node);
      continue;
    }
    const state = input.peers.get(node)?.state;
    if (state && state.buckets[bucket] === input.expectedBuckets[bucket]) nodes.push(node);
    else if (current.has(node) && input.settling?.get(node)?.has(bucket)) nodes.push(node);
  }
  return nodes.sort();
}

/** Backends the speakers refuse to program (backend-guard.ts), by address: why. */
function refusedBackends(plan: ClaimPlan): Map<string, string> {
  const out = new Map<string, string>();
  if (plan.serve)
    for (const p of plan.ports) for (const b of p.backends) if (b.refused !== undefined) out.set(b.address, b.refused);
  return out;
}

function programmedCondition(input: StatusInput, nodes: readonly string[], owner: string | undefined): ConditionInput {
  const condition = programmedOnNodes(input, nodes, owner);
  const refused = refusedBackends(input.plan);
  if (refused.size === 0) return condition;
  const list = [...refused].map(([address, why]) => `${address} ${why}`).join('; ');
  return { ...condition, message: `${condition.message}; backends not programmed: ${list}` };
}

function programmedOnNodes(input: StatusInput, nodes: readonly string[], owner: string | undefined): ConditionInput {
  const { plan } = input;
  const type = CLAIM_CONDITIONS.Programmed;
  if (!plan.serve) {
    const reason =
      plan.reason === 'FrontendConflict' || plan.reason === 'NotApproved'
        ? PROGRAMMED_REASONS[plan.reason]
        : PROGRAMMED_REASONS.NotServed;
    return { type, status: 'False', reason, message: plan.message };
  }
  if (!input.selfProgrammed.ok && nodes.length === 0) {
    const reason = input.selfProgrammed.code ?? PROGRAMMED_REASONS.Rejected;
    return { type, status: 'False', reason, message: input.selfProgrammed.reason };
  }
  const live = input.live.length;
  const missing = input.live.filter((n) => !nodes.includes(n));
  const carrying = owner !== undefined ? nodes.includes(owner) : nodes.length > 0;
  if (!carrying) {
    const why = owner !== undefined ? `the announcing node ${owner} does not hold it yet` : 'no LB node holds it yet';
    return {
      type,
      status: 'False',
      reason: PROGRAMMED_REASONS.NotProgrammed,
      message: `programmed on ${nodes.length} of ${live} LB nodes; ${why}`,
    };
  }
  if (missing.length === 0) {
    return {
      type,
      status: 'True',
      reason: PROGRAMMED_REASONS.Programmed,
      message: `programmed on all ${live} live LB nodes`,
    };
  }
  return {
    type,
    status: 'True',
    reason: PROGRAMMED_REASONS.PartiallyProgrammed,
    message: `programmed on ${nodes.length} of ${live} LB nodes; not yet on ${missing.join(', ')}`,
  };
}

function failingFrom(input: StatusInput, targets: ReadonlySet<string>): string[] {
  const nodes: string[] = [];
  for (const node of input.live) {
    const failing = node === input.self ? input.selfFailing : new Set(input.peers.get(node)?.state?.failing ?? []);
    if ([...targets].some((t) => failing.has(t))) nodes.push(node);
  }
  return nodes.sort();
}

function healthPart(input: StatusInput): { backendHealth: BackendHealth[]; condition: ConditionInput } {
  const type = CLAIM_CONDITIONS.BackendsHealthy;
  const { plan, claim } = input;
  const refused = refusedBackends(plan);
  // The approved backends, which are what is programmed (serveDecision); a served claim always has an approval.
  const backends = (claim.status?.approved?.backends ?? []).filter((b) => !refused.has(b.address));
  if (backends.length === 0) {
    return {
      backendHealth: [],
      condition: {
        type,
        status: 'False',
        reason: HEALTH_REASONS.NoBackends,
        message: 'the Service has no backend nodes',
      },
    };
  }
  const targetsByAddress = new Map<string, Set<string>>();
  if (plan.serve) {
    for (const p of plan.ports) {
      for (const b of p.backends) {
        const set = targetsByAddress.get(b.address) ?? new Set<string>();
        for (const t of b.targets) set.add(t);
        targetsByAddress.set(b.address, set);
      }
    }
  }
  const backendHealth: BackendHealth[] = [...backends]
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
    .map((b) => {
      const from = failingFrom(input, targetsByAddress.get(b.address) ?? new Set());
      return from.length > 0
        ? { address: b.address, healthy: false, failingFrom: from }
        : { address: b.address, healthy: true };
    });
  const checked = [...targetsByAddress.values()].some((s) => s.size > 0);
  if (!checked) {
    return {
      backendHealth,
      condition: {
        type,
        status: 'True',
        reason: HEALTH_REASONS.NotChecked,
        message: 'no port can be health-checked (no TCP port, no healthCheckNodePort)',
      },
    };
  }
  const bad = backendHealth.filter((b) => !b.healthy);
  const nodeOf = new Map(backends.map((b) => [b.address, b.nodeName] as const));
  const describe = (b: BackendHealth): string =>
    `${nodeOf.get(b.address) ?? b.address} (${b.address}) from ${(b.failingFrom ?? []).join(', ')}`;
  if (bad.length === 0) {
    return {
      backendHealth,
      condition: {
        type,
        status: 'True',
        reason: HEALTH_REASONS.AllHealthy,
        message: `${backends.length} of ${backends.length} backends pass health checks`,
      },
    };
  }
  if (bad.length === backendHealth.length) {
    return {
      backendHealth,
      condition: {
        type,
        status: 'False',
        reason: HEALTH_REASONS.AllUnhealthy,
        message: `every backend fails health checks (${bad.map(describe).join('; ')}); the last healthy set keeps receiving traffic`,
      },
    };
  }
  return {
    backendHealth,
    condition: {
      type,
      status: 'False',
      reason: HEALTH_REASONS.SomeUnhealthy,
      message: `${bad.length} of ${backends.length} backends fail health checks and get no new flows: ${bad.map(describe).join('; ')}`,
    },
  };
}

export function wantedStatus(input: StatusInput): WantedStatus {
  const generation = input.claim.metadata.generation;
  const withGeneration = (c: ConditionInput): ConditionInput =>
    generation === undefined ? c : { ...c, observedGeneration: generation };
  const { plan } = input;
  if (!plan.serve) {
    // A claim that holds a VIP but is not served: nothing is programmed, announced or checked for it.
    const why = { reason: PROGRAMMED_REASONS.NotServed, message: plan.message };
    const conditions: ConditionInput[] = [
      programmedCondition(input, [], undefined),
      { type: CLAIM_CONDITIONS.Announced, status: 'False', ...why },
      { type: CLAIM_CONDITIONS.BackendsHealthy, status: 'Unknown', ...why },
    ];
    return {
      programmedNodes: [],
      announced: { by: undefined },
      backendHealth: [],
      conditions: conditions.map(withGeneration),
    };
  }
  const owner = input.announced?.announcedBy;
  const programmedNodes = programmedOn(input, plan.key);
  const health = healthPart(input);
  const conditions = [programmedCondition(input, programmedNodes, owner), health.condition];
  if (input.announced) conditions.push(input.announced.condition);
  return {
    programmedNodes,
    announced: input.announced ? { by: owner } : undefined,
    backendHealth: health.backendHealth,
    conditions: conditions.map(withGeneration),
  };
}

function sameList<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
}

/** Whether writing `want` would change anything but condition timestamps. */
export function statusDiffers(cur: VIPClaimStatus | undefined, want: WantedStatus): boolean {
  return (
    !sameList(cur?.programmedNodes, want.programmedNodes) ||
    (want.announced !== undefined && cur?.announcedBy !== want.announced.by) ||
    !sameList(cur?.backendHealth, want.backendHealth) ||
    want.conditions.some((c) => !conditionUnchanged(cur?.conditions, c))
  );
}

/** The claim with `want` applied to its status (other fields, like the allocator's, untouched). */
export function applyStatus(cur: VIPClaim, want: WantedStatus, now: Date): VIPClaim {
  const status: VIPClaimStatus = { ...(cur.status ?? {}) };
  let conditions = status.conditions;
  for (const c of want.conditions) conditions = setCondition(conditions, c, now);
  status.conditions = conditions ?? [];
  status.programmedNodes = [...want.programmedNodes];
  status.backendHealth = [...want.backendHealth];
  if (want.announced?.by) status.announcedBy = want.announced.by;
  else if (want.announced) delete status.announcedBy;
  return { ...cur, status };
}
