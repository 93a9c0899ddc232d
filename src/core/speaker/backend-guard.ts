// The speaker's own check of a claim's backends, before anything is programmed. The allocator refuses claims
// whose backends a tenant may not use, and a speaker programs only what the allocator approved (status.approved,
// serveDecision), never a spec edited ahead of it. This is defence in depth beside that: against an allocator bug,
// an approval written by hand, a tenant's ranges narrowed after the approval, or an LB node's address (which the
// allocator does not know) among the backends. So every LB node checks what it would program, with the same rules
// (validate.ts backendRefusal) over its own view of the pools and tenants, plus the LB nodes' own addresses, and
// the tenant's limits (limits.ts). Pure.
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../api/v1alpha1.ts';
import type { DeniedRange } from '../allocation/deny-list.ts';
import { backendRefusal, limitProblems, resolveTenant, toClaimRequest, validate } from '../allocation/validate.ts';
import { formatIP, parseIP, reservedBlockOf } from '../ip/index.ts';

export type GuardVerdict =
  /**
   * The claim may be served; `refused` names its backends that may not be programmed, with why. `tenant` and
   * `backendEntries`: whose claims it counts with against which limit (limits.ts), which the planner sums.
   */
  | {
      readonly ok: true;
      readonly refused: ReadonlyMap<string, string>;
      readonly tenant: string;
      readonly backendEntries: number;
    }
  | {
      readonly ok: false;
      readonly reason: 'TenantNotAllowed' | 'LimitExceeded' | 'VIPNotAllowed';
      readonly message: string;
    };

export interface BackendGuard {
  check(claim: VIPClaim): GuardVerdict;
}

export interface GuardInputs {
  readonly pools: readonly VIPPool[];
  readonly tenants: readonly ConsumerCluster[];
  /** The LB cluster's Service ranges and apiservers, and the operator's deny-list (deny-list.ts). */
  readonly denied?: readonly DeniedRange[];
  /** Addresses of the LB cluster's nodes, by address: node name. Traffic to them would loop into the LB cluster. */
  readonly lbNodes: ReadonlyMap<string, string>;
}

const NONE: ReadonlyMap<string, string> = new Map();

export function backendGuard(inputs: GuardInputs): BackendGuard {
  const model = validate({ pools: inputs.pools, tenants: inputs.tenants, denied: inputs.denied ?? [] });
  const lbNodes = new Map<string, string>();
  for (const [address, node] of inputs.lbNodes) {
    const ip = parseIP(address);
    if (ip) lbNodes.set(formatIP(ip), node);
  }
  // Informers replace an object when it changes, so a verdict holds for the object it was made for: the L2 side's
  // VIP list (on every claim event) and each plan ask for every claim, and a claim is judged once per change.
  const verdicts = new WeakMap<VIPClaim, GuardVerdict>();
  return {
    check(claim) {
      let verdict = verdicts.get(claim);
      if (!verdict) verdicts.set(claim, (verdict = judge(claim)));
      return verdict;
    },
  };

  function judge(claim: VIPClaim): GuardVerdict {
    // The VIP itself: the allocator only hands out pool addresses, but a pool may overlap a node, and a VIP an LB
    // node answers ARP for must never be a node's own address or a special-purpose one.
    const vip = claim.status?.vip ? parseIP(claim.status.vip) : undefined;
    if (vip) {
      const node = lbNodes.get(formatIP(vip));
      const reserved = reservedBlockOf(vip);
      if (node !== undefined || reserved) {
        const what = node !== undefined ? `the address of LB node ${node}` : reserved;
        return {
          ok: false,
          reason: 'VIPNotAllowed',
          message: `status.vip ${formatIP(vip)} is ${what}: never programmed or announced`,
        };
      }
    }
    // What would be programmed: the approved ports and backends (none without an approval), not the spec.
    const approved = claim.status?.approved;
    const request = toClaimRequest({
      ...claim,
      spec: { ...claim.spec, ports: approved?.ports ?? [], backends: approved?.backends ?? [] },
    });
    const tenancy = resolveTenant(model, request);
    if (!tenancy.ok) return { ok: false, reason: 'TenantNotAllowed', message: tenancy.problem.message };
    const tenant = tenancy.tenant;
    const over = limitProblems(request, tenant, (field) => ({
      kind: 'VIPClaim',
      name: request.name,
      namespace: request.namespace,
      field,
    }));
    if (over.length > 0) return { ok: false, reason: 'LimitExceeded', message: over.map((p) => p.message).join('; ') };
    let refused: Map<string, string> | undefined;
    for (const b of request.backends) {
      // An LB node first: a tenant's ranges that cover the LB nodes are a misconfiguration, not a permission.
      const node = b.ip ? lbNodes.get(formatIP(b.ip)) : undefined;
      const why = !b.ip
        ? 'is not an IP address'
        : node !== undefined
          ? `is LB node ${node}: traffic to it would loop into the LB cluster`
          : // What it programs is approved by definition: a range overlap between tenants is the allocator's to
            // judge (it keeps backends approved before the overlap arose), so the speaker does not re-judge it.
            backendRefusal(model, tenant, b.ip, true);
      if (why) (refused ??= new Map()).set(b.address, why);
    }
    return { ok: true, refused: refused ?? NONE, tenant: tenant.name, backendEntries: tenant.limits.backendEntries };
  }
}
