// The admission webhook's verdicts, pure: the object under review is put into the snapshot the allocator's
// caches hold, and the same validate() the controller uses says what is wrong with it. The webhook is a
// courtesy that refuses mistakes early with a clear message; the allocator re-checks everything itself.
//
// Rules across objects (what the CRDs' CEL cannot see):
//  - VIPPool: no address in another pool (and no reserved block, no entry above the size limit, no overlap
//    inside the pool, no IPv6 range reversed); shrinking or deleting a pool warns about claims left outside.
//  - ConsumerCluster: its tenantNamespace is not another tenant's, and its backend ranges overlap no other
//    tenant's unless both list each other in spec.sharedBackendsWith.
//  - VIPClaim: its namespace is one tenant's, spec.service.cluster names that tenant, backends lie inside the
//    tenant's allowedBackendCIDRs, requested IPs lie in pools the claim may use, a named pool exists and may
//    serve it, and no claim of the tenant with the same sharing key uses one of its ports.
//  - BGPPeer, BGPAdvertisement, BFDProfile: src/core/bgp/validate.ts (duplicate sessions, names of missing
//    objects, communities; a BFDProfile in use is not deleted).
import type { BFDProfile, BGPAdvertisement, BGPPeer, ConsumerCluster, VIPClaim, VIPPool } from '../../api/v1alpha1.ts';
import { checkAdvertisement, checkPeer, checkProfileDeletion, type Findings } from '../bgp/validate.ts';
import { ipInAny, parseIP } from '../ip/index.ts';
import { checkClaim, problemsOf, sharingProblems, toClaimRequest, validate } from './validate.ts';
import type { DeniedRange } from './deny-list.ts';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionInput {
  operation: Operation;
  kind: string;
  object?: unknown;
  oldObject?: unknown;
}

export interface World {
  pools: readonly VIPPool[];
  tenants: readonly ConsumerCluster[];
  claims: readonly VIPClaim[];
  /** The LB cluster's own addresses and the operator's deny-list (deny-list.ts). */
  denied?: readonly DeniedRange[];
  bgpPeers: readonly BGPPeer[];
  bgpAdvertisements: readonly BGPAdvertisement[];
  bfdProfiles: readonly BFDProfile[];
}

export interface Verdict {
  allowed: boolean;
  /** Why it was refused: every problem, each naming the object and the field. */
  message?: string;
  warnings: string[];
}

const allow = (warnings: string[] = []): Verdict => ({ allowed: true, warnings });
const deny = (messages: string[]): Verdict => ({ allowed: false, message: messages.join('; '), warnings: [] });

/** Newest possible creation time: an object under CREATE review is younger than everything stored. */
const NEWEST = '9999-12-31T23:59:59Z';

function withCreated<T extends { metadata: { creationTimestamp?: string } }>(o: T, old: T | undefined): T {
  const created = o.metadata.creationTimestamp ?? old?.metadata.creationTimestamp ?? NEWEST;
  return { ...o, metadata: { ...o.metadata, creationTimestamp: created } };
}

export function admit(input: AdmissionInput, world: World): Verdict {
  switch (input.kind) {
    case 'VIPPool':
      return admitPool(input, world);
    case 'ConsumerCluster':
      return admitTenant(input, world);
    case 'VIPClaim':
      return admitClaim(input, world);
    case 'BGPPeer':
      return input.operation === 'DELETE' ? allow() : verdictOf(checkPeer(input.object as BGPPeer, bgpOf(world)));
    case 'BGPAdvertisement':
      return input.operation === 'DELETE'
        ? allow()
        : verdictOf(checkAdvertisement(input.object as BGPAdvertisement, bgpOf(world)));
    case 'BFDProfile':
      return input.operation === 'DELETE' && input.oldObject
        ? verdictOf(checkProfileDeletion(input.oldObject as BFDProfile, bgpOf(world)))
        : allow();
    default:
      return allow();
  }
}

const bgpOf = (w: World) => ({ peers: w.bgpPeers, advertisements: w.bgpAdvertisements, profiles: w.bfdProfiles });
const verdictOf = (f: Findings): Verdict => (f.refusals.length > 0 ? deny(f.refusals) : allow(f.warnings));

function admitPool(input: AdmissionInput, world: World): Verdict {
  const old = input.oldObject as VIPPool | undefined;
  if (input.operation === 'DELETE') {
    const name = old?.metadata.name ?? '';
    const holders = world.claims.filter((c) => c.status?.vip && c.status.pool === name);
    return allow(holders.length > 0 ? [outsideWarning(name, holders.length, 'is deleted')] : []);
  }
  const pool = withCreated(input.object as VIPPool, old);
  const name = pool.metadata.name ?? '';
  const model = validate({
    pools: [...world.pools.filter((p) => p.metadata.name !== name), pool],
    tenants: world.tenants,
  });
  const problems = problemsOf(model, 'VIPPool', name);
  if (problems.length > 0) return deny(problems.map((p) => p.message));
  const ranges = model.pools.get(name)?.ranges ?? [];
  const outside = world.claims.filter((c) => {
    const ip = c.status?.vip ? parseIP(c.status.vip) : undefined;
    return ip !== undefined && c.status?.pool === name && !ipInAny(ip, ranges);
  });
  return allow(outside.length > 0 ? [outsideWarning(name, outside.length, 'no longer contains their VIPs')] : []);
}

function outsideWarning(pool: string, n: number, what: string): string {
  return `VIPPool ${pool} ${what}: ${n} VIPClaim(s) keep their VIPs and are marked Allocated=False/OutsidePool; re-add the addresses to a pool, or recreate those Services to get new VIPs`;
}

function admitTenant(input: AdmissionInput, world: World): Verdict {
  if (input.operation === 'DELETE') return allow();
  const cc = input.object as ConsumerCluster;
  const name = cc.metadata.name ?? '';
  const messages: string[] = [];
  const others = world.tenants.filter(
    (t) => t.metadata.name !== name && t.spec.tenantNamespace === cc.spec.tenantNamespace,
  );
  if (others.length > 0) {
    messages.push(
      `ConsumerCluster ${name} spec.tenantNamespace: namespace ${cc.spec.tenantNamespace} is already the tenant namespace of ConsumerCluster ${others.map((o) => o.metadata.name).join(', ')}`,
    );
  }
  const admitted = withCreated(cc, input.oldObject as ConsumerCluster | undefined);
  const model = validate({ pools: [], tenants: [admitted] });
  messages.push(...problemsOf(model, 'ConsumerCluster', name).map((p) => p.message));
  messages.push(...newRangeOverlaps(admitted, world.tenants));
  return messages.length > 0 ? deny(messages) : allow();
}

/**
 * Backend ranges this change makes overlap another tenant's without both agreeing, whichever is older: in the
 * model the older tenant keeps contested addresses, so admitting an older tenant's widening would take a younger
 * tenant's backends away from under its running Services.
 */
function newRangeOverlaps(cc: ConsumerCluster, tenants: readonly ConsumerCluster[]): string[] {
  const name = cc.metadata.name ?? '';
  const others = tenants.filter((t) => t.metadata.name !== name);
  const overlaps = (m: ReturnType<typeof validate>): string[] =>
    m.problems
      .filter(
        (p) =>
          p.code === 'BackendRangeOverlap' &&
          (p.object.name === name || p.message.includes(`ConsumerCluster ${name} spec.`)),
      )
      .map((p) => p.message);
  const before = new Set(overlaps(validate({ pools: [], tenants: others })));
  return overlaps(validate({ pools: [], tenants: [...others, cc] })).filter((m) => !before.has(m));
}

function admitClaim(input: AdmissionInput, world: World): Verdict {
  if (input.operation === 'DELETE') return allow();
  const claim = input.object as VIPClaim;
  const model = validate({ pools: world.pools, tenants: world.tenants, denied: world.denied ?? [] });
  const request = toClaimRequest(claim);
  const others = world.claims.filter((c) => c.metadata.namespace === claim.metadata.namespace).map(toClaimRequest);
  const problems = [...checkClaim(model, request), ...sharingProblems(request, others)];
  return problems.length > 0 ? deny(problems.map((p) => p.message)) : allow();
}
