// One pure function from a snapshot of custom resources to the validated model, used by the allocator's
// controller and by its admission webhook alike, so admission and reconciliation can never disagree. It
// re-checks what the CRDs' CEL rules check (an object may predate them, or come from a restore) and adds the
// rules across objects: pool overlap, one tenant per namespace, backends and requested IPs of a claim inside
// what its tenant may use.
import { MAX_ADDRESSES_PER_ENTRY, type ConsumerCluster, type VIPClaim, type VIPPool } from '../../api/v1alpha1.ts';
import { matchesSelector } from '../labels.ts';
import {
  formatRange,
  parseIP,
  parsePoolEntry,
  parseStrictCIDR,
  rangeIntersection,
  rangesOverlap,
  reservedOverlap,
  usableCount,
  ipInAny,
  formatIP,
  rangeSize,
  reservedBlockOf,
  type IPAddr,
  type IPRange,
} from '../ip/index.ts';
import { recordedVIP } from './approval.ts';
import { deniedBy, type DeniedRange } from './deny-list.ts';
import { tenantLimits } from './limits.ts';
import type { ClaimRequest, ContestedRange, Model, PoolModel, Problem, ProblemCode, TenantModel } from './model.ts';
import type { ObjectRef } from '../../shared/errors.ts';

export interface Snapshot {
  readonly pools: readonly VIPPool[];
  readonly tenants: readonly ConsumerCluster[];
  /** The LB cluster's own addresses and the operator's deny-list (deny-list.ts); never backends. */
  readonly denied?: readonly DeniedRange[];
}

export const DEFAULT_PRIORITY = 1000;

const problem = (code: ProblemCode, object: ObjectRef, message: string): Problem => ({ code, object, message });
const subject = (o: ObjectRef): string =>
  `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name} ${o.field ?? ''}`.trim();

/** Older first, then by name: the order that decides which of two conflicting objects keeps working. */
export function byAge<T extends { created: string; name: string }>(a: T, b: T): number {
  return a.created < b.created ? -1 : a.created > b.created ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

interface ParsedPool {
  name: string;
  created: string;
  entries: Array<{ index: number; text: string; range: IPRange }>;
  problems: Problem[];
}

function parsePool(pool: VIPPool): ParsedPool {
  const name = pool.metadata.name ?? '';
  const problems: Problem[] = [];
  const entries: ParsedPool['entries'] = [];
  (pool.spec?.addresses ?? []).forEach((text, index) => {
    const ref: ObjectRef = { kind: 'VIPPool', name, field: `spec.addresses[${index}]` };
    const parsed = parsePoolEntry(text);
    if (!parsed.ok) {
      problems.push(problem('InvalidAddress', ref, `${subject(ref)}: ${parsed.reason}`));
      return;
    }
    if (rangeSize(parsed.value) > BigInt(MAX_ADDRESSES_PER_ENTRY)) {
      problems.push(
        problem('PoolTooLarge', ref, `${subject(ref)}: ${text} holds more than ${MAX_ADDRESSES_PER_ENTRY} addresses`),
      );
      return;
    }
    const reserved = reservedOverlap(parsed.value);
    if (reserved) {
      problems.push(
        problem(
          'ReservedAddress',
          ref,
          `${subject(ref)}: ${text} overlaps the ${reserved} block, which is never a VIP`,
        ),
      );
      return;
    }
    for (const other of entries) {
      if (rangesOverlap(other.range, parsed.value)) {
        problems.push(
          problem(
            'AddressOverlap',
            ref,
            `${subject(ref)}: ${text} overlaps spec.addresses[${other.index}] ${other.text} of the same pool`,
          ),
        );
        return;
      }
    }
    entries.push({ index, text, range: parsed.value });
  });
  if ((pool.spec?.addresses ?? []).length === 0) {
    problems.push(
      problem(
        'InvalidAddress',
        { kind: 'VIPPool', name, field: 'spec.addresses' },
        `VIPPool ${name} spec.addresses: at least one address is required`,
      ),
    );
  }
  return { name, created: pool.metadata.creationTimestamp ?? '', entries, problems };
}

function poolModel(pool: VIPPool, parsed: ParsedPool, overlapsOlder: boolean): PoolModel {
  const avoidBuggyIPs = pool.spec.avoidBuggyIPs ?? false;
  const capacity = parsed.entries.reduce((n, e) => n + usableCount(e.range, avoidBuggyIPs), 0n);
  return {
    name: parsed.name,
    created: parsed.created,
    generation: pool.metadata.generation ?? 0,
    labels: pool.metadata.labels ?? {},
    ranges: parsed.entries.map((e) => e.range),
    autoAssign: pool.spec.autoAssign ?? true,
    avoidBuggyIPs,
    priority: pool.spec.priority ?? DEFAULT_PRIORITY,
    allocateTo: pool.spec.allocateTo,
    capacity: Number(capacity),
    usable: !overlapsOlder && parsed.entries.length > 0,
    problems: parsed.problems,
  };
}

function tenantModel(cc: ConsumerCluster, namespaceOwner: string | undefined): TenantModel {
  const name = cc.metadata.name ?? '';
  const problems: Problem[] = [];
  const backendRanges: IPRange[] = [];
  (cc.spec?.allowedBackendCIDRs ?? []).forEach((text, i) => {
    const parsed = parseStrictCIDR(text);
    const ref: ObjectRef = { kind: 'ConsumerCluster', name, field: `spec.allowedBackendCIDRs[${i}]` };
    if (parsed.ok) backendRanges.push(parsed.value);
    else problems.push(problem('InvalidCIDR', ref, `${subject(ref)}: ${parsed.reason}`));
  });
  const namespace = cc.spec?.tenantNamespace ?? '';
  if (namespaceOwner !== undefined && namespaceOwner !== name) {
    const ref: ObjectRef = { kind: 'ConsumerCluster', name, field: 'spec.tenantNamespace' };
    problems.push(
      problem(
        'NamespaceConflict',
        ref,
        `${subject(ref)}: namespace ${namespace} is already the tenant namespace of ConsumerCluster ${namespaceOwner}`,
      ),
    );
  }
  return {
    name,
    created: cc.metadata.creationTimestamp ?? '',
    labels: cc.metadata.labels ?? {},
    namespace,
    backendRanges,
    contested: [],
    maxVIPs: cc.spec?.maxVIPs,
    poolSelector: cc.spec?.poolSelector,
    limits: tenantLimits(cc.spec?.limits),
    usable: namespaceOwner === name,
    problems,
  };
}

/**
 * A tenant's backend ranges that overlap an older tenant's without both agreeing (each lists the other in
 * spec.sharedBackendsWith): the older keeps those addresses, as with overlapping pools, and this one gets a
 * BackendRangeOverlap problem naming both fields. Without the rule, a tenant could name another's nodes as its
 * backends simply by writing their network into its own ConsumerCluster.
 */
function withContestedRanges(
  model: TenantModel,
  cc: ConsumerCluster,
  older: readonly TenantModel[],
  all: readonly ConsumerCluster[],
): TenantModel {
  // A tenant that is not served (another owns its namespace) neither holds nor loses addresses.
  if (!model.usable) return model;
  const specOf = (name: string): ConsumerCluster | undefined => all.find((x) => x.metadata.name === name);
  const agrees = (a: ConsumerCluster | undefined, b: string): boolean =>
    (a?.spec?.sharedBackendsWith ?? []).includes(b);
  const contested: ContestedRange[] = [];
  const problems = [...model.problems];
  const mine = backendCIDRs(cc);
  for (const other of older) {
    if (!other.usable) continue;
    const theirSpec = specOf(other.name);
    if (agrees(cc, other.name) && agrees(theirSpec, model.name)) continue;
    for (const m of mine) {
      for (const o of backendCIDRs(theirSpec)) {
        const shared = rangeIntersection(m.range, o.range);
        if (!shared) continue;
        contested.push({ range: shared, holder: other.name });
        // Two CIDRs overlap only by nesting: the shared part is the smaller one.
        const sharedText = rangeSize(m.range) <= rangeSize(o.range) ? m.text : o.text;
        const ref: ObjectRef = {
          kind: 'ConsumerCluster',
          name: model.name,
          field: `spec.allowedBackendCIDRs[${m.index}]`,
        };
        problems.push(
          problem(
            'BackendRangeOverlap',
            ref,
            `${subject(ref)}: ${m.text} overlaps ConsumerCluster ${other.name} spec.allowedBackendCIDRs[${o.index}] ${o.text} (${sharedText}); ` +
              `${other.name} is older and keeps these addresses, this tenant gets no backends there unless both list each other in spec.sharedBackendsWith`,
          ),
        );
      }
    }
  }
  return contested.length === 0 ? model : { ...model, contested, problems };
}

/** The valid entries of a tenant's spec.allowedBackendCIDRs, with their index and text for messages. */
function backendCIDRs(cc: ConsumerCluster | undefined): Array<{ index: number; text: string; range: IPRange }> {
  return (cc?.spec?.allowedBackendCIDRs ?? []).flatMap((text, index) => {
    const parsed = parseStrictCIDR(text);
    return parsed.ok ? [{ index, text, range: parsed.value }] : [];
  });
}

/** The validated model of a snapshot. Never throws: everything wrong becomes a Problem on its object. */
export function validate(snapshot: Snapshot): Model {
  const parsedPools = snapshot.pools
    .map((p) => ({ pool: p, parsed: parsePool(p) }))
    .sort((a, b) => byAge(a.parsed, b.parsed));
  const pools = new Map<string, PoolModel>();
  const problems: Problem[] = [];
  for (let i = 0; i < parsedPools.length; i++) {
    const { pool, parsed } = parsedPools[i]!;
    let overlapsOlder = false;
    for (let j = 0; j < parsedPools.length; j++) {
      if (i === j) continue;
      const other = parsedPools[j]!.parsed;
      for (const mine of parsed.entries) {
        const theirs = other.entries.find((e) => rangesOverlap(e.range, mine.range));
        if (!theirs) continue;
        if (j < i) overlapsOlder = true;
        const ref: ObjectRef = { kind: 'VIPPool', name: parsed.name, field: `spec.addresses[${mine.index}]` };
        const shared = formatRange(rangeIntersection(mine.range, theirs.range)!);
        parsed.problems.push(
          problem(
            'PoolOverlap',
            ref,
            `${subject(ref)}: ${mine.text} overlaps VIPPool ${other.name} spec.addresses[${theirs.index}] ${theirs.text} (${shared})${j < i ? `; VIPPool ${other.name} is older and keeps these addresses, this pool hands out none until the overlap is removed` : ''}`,
          ),
        );
        break;
      }
    }
    const model = poolModel(pool, parsed, overlapsOlder);
    pools.set(model.name, model);
    problems.push(...model.problems);
  }

  const sortedTenants = [...snapshot.tenants].sort((a, b) =>
    byAge(
      { created: a.metadata.creationTimestamp ?? '', name: a.metadata.name ?? '' },
      { created: b.metadata.creationTimestamp ?? '', name: b.metadata.name ?? '' },
    ),
  );
  const namespaceOwner = new Map<string, string>();
  for (const cc of sortedTenants) {
    const ns = cc.spec?.tenantNamespace ?? '';
    if (!namespaceOwner.has(ns)) namespaceOwner.set(ns, cc.metadata.name ?? '');
  }
  const tenants = new Map<string, TenantModel>();
  const tenantByNamespace = new Map<string, TenantModel>();
  const parsedTenants = sortedTenants.map((cc) => tenantModel(cc, namespaceOwner.get(cc.spec?.tenantNamespace ?? '')));
  for (const [i, parsed] of parsedTenants.entries()) {
    const model = withContestedRanges(parsed, sortedTenants[i]!, parsedTenants.slice(0, i), sortedTenants);
    tenants.set(model.name, model);
    if (model.usable) tenantByNamespace.set(model.namespace, model);
    problems.push(...model.problems);
  }
  return { pools, tenants, tenantByNamespace, problems, denied: snapshot.denied ?? [] };
}

/** Problems of one object, for the webhook and for conditions. */
export function problemsOf(model: Model, kind: 'VIPPool' | 'ConsumerCluster', name: string): Problem[] {
  return model.problems.filter((p) => p.object.kind === kind && p.object.name === name);
}

// ---------------------------------------------------------------- claims

/** The allocator's view of a VIPClaim. IPs are canonicalised so that equal addresses are equal strings. */
export function toClaimRequest(claim: VIPClaim): ClaimRequest {
  const namespace = claim.metadata.namespace ?? '';
  const name = claim.metadata.name ?? '';
  const spec = claim.spec;
  // The allocator's own record of the VIP (approval.ts), not status.vip alone.
  const recorded = recordedVIP(claim.status);
  const recordedIP = recorded ? parseIP(recorded) : undefined;
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    uid: claim.metadata.uid ?? '',
    created: claim.metadata.creationTimestamp ?? '',
    generation: claim.metadata.generation ?? 0,
    cluster: spec.service?.cluster ?? '',
    serviceNamespace: spec.service?.namespace ?? '',
    serviceName: spec.service?.name ?? '',
    serviceLabels: spec.serviceLabels ?? {},
    pool: spec.pool || undefined,
    requestedIPs: (spec.requestedIPs ?? []).map((t) => {
      const ip = parseIP(t);
      return ip ? formatIP(ip) : t;
    }),
    sharingKey: spec.sharingKey || undefined,
    ports: (spec.ports ?? []).map((p) => ({ protocol: p.protocol, port: p.port })),
    backends: (spec.backends ?? []).map((b) => ({ address: b.address, ip: parseIP(b.address) })),
    recorded: recordedIP
      ? {
          vip: formatIP(recordedIP),
          pool: claim.status?.pool || undefined,
          backends: (claim.status?.approved ? (claim.status.approved.backends ?? []) : (spec.backends ?? [])).map(
            (b) => b.address,
          ),
        }
      : undefined,
  };
}

export type TenancyResult = { ok: true; tenant: TenantModel } | { ok: false; problem: Problem };

/** A claim is served only in the namespace of exactly one tenant, and only for that tenant's cluster name. */
export function resolveTenant(model: Model, claim: ClaimRequest): TenancyResult {
  const ref: ObjectRef = { kind: 'VIPClaim', name: claim.name, namespace: claim.namespace };
  const tenant = model.tenantByNamespace.get(claim.namespace);
  if (!tenant) {
    const contested = [...model.tenants.values()].filter((t) => t.namespace === claim.namespace);
    const message =
      contested.length > 0
        ? `${subject(ref)}: namespace ${claim.namespace} is claimed by several ConsumerClusters (${contested.map((t) => t.name).join(', ')})`
        : `${subject(ref)}: namespace ${claim.namespace} is not the tenantNamespace of any ConsumerCluster`;
    return { ok: false, problem: problem('UnknownTenant', ref, message) };
  }
  if (claim.cluster !== tenant.name) {
    const f: ObjectRef = { ...ref, field: 'spec.service.cluster' };
    return {
      ok: false,
      problem: problem(
        'ClusterMismatch',
        f,
        `${subject(f)}: "${claim.cluster}" is not the tenant of namespace ${claim.namespace} (ConsumerCluster ${tenant.name})`,
      ),
    };
  }
  return { ok: true, tenant };
}

/** Pools the claim may be given addresses from, by priority then name; `forAuto` also requires autoAssign. */
export function eligiblePools(model: Model, tenant: TenantModel, claim: ClaimRequest, forAuto: boolean): PoolModel[] {
  return [...model.pools.values()]
    .filter((p) => poolAllowed(p, tenant, claim) === undefined && (!forAuto || p.autoAssign || claim.pool === p.name))
    .sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Why `pool` may not serve `claim`, or undefined when it may. */
export function poolAllowed(pool: PoolModel, tenant: TenantModel, claim: ClaimRequest): string | undefined {
  if (claim.pool !== undefined && claim.pool !== pool.name) return `the claim asks for pool ${claim.pool}`;
  if (tenant.poolSelector && !matchesSelector(tenant.poolSelector, pool.labels)) {
    return `ConsumerCluster ${tenant.name} spec.poolSelector does not select VIPPool ${pool.name}`;
  }
  const to = pool.allocateTo;
  if (to?.clusterSelector && !matchesSelector(to.clusterSelector, tenant.labels)) {
    return `VIPPool ${pool.name} spec.allocateTo.clusterSelector does not select ConsumerCluster ${tenant.name}`;
  }
  if (to?.namespaces && to.namespaces.length > 0 && !to.namespaces.includes(claim.serviceNamespace)) {
    return `VIPPool ${pool.name} spec.allocateTo.namespaces does not include ${claim.serviceNamespace}`;
  }
  if (to?.serviceSelector && !matchesSelector(to.serviceSelector, claim.serviceLabels)) {
    return `VIPPool ${pool.name} spec.allocateTo.serviceSelector does not select the Service's labels`;
  }
  return undefined;
}

/**
 * Why `ip` may not be a backend of `tenant` ("is …", to follow the address), or undefined when it may. Whatever a
 * tenant's ranges say, a special-purpose address or a VIP would send the traffic into the LB nodes themselves (or
 * nowhere), never to a consumer node; the LB cluster's own Service ranges and apiservers, and the operator's
 * deny-list (model.denied, deny-list.ts), are refused for the same reason. The allocator refuses such claims; the speakers check again before
 * programming (src/core/speaker/backend-guard.ts), so a spec that moved ahead of the allocator is never served.
 */
export function backendRefusal(
  model: Model,
  tenant: TenantModel,
  ip: IPAddr,
  approvedBefore = false,
): string | undefined {
  const reserved = reservedBlockOf(ip);
  if (reserved) return `is ${reserved}, never a backend`;
  const denied = deniedBy(ip, model.denied);
  if (denied) return `is ${denied.what}: never a backend`;
  const vipPool = [...model.pools.values()].find((p) => ipInAny(ip, p.ranges));
  if (vipPool) return `is in VIPPool ${vipPool.name}: a VIP is never a backend`;
  if (!ipInAny(ip, tenant.backendRanges)) return `is outside ConsumerCluster ${tenant.name} spec.allowedBackendCIDRs`;
  // A backend the claim was approved for before the overlap arose keeps being served: the overlap is the
  // operator's to resolve, and refusing it would stop the younger tenant's running Services (approvedBefore).
  const held = approvedBefore ? undefined : tenant.contested.find((c) => ipInAny(ip, [c.range]));
  if (held)
    return `is in ConsumerCluster ${held.holder}'s backend ranges, which ${tenant.name} overlaps without both listing each other in spec.sharedBackendsWith`;
  return undefined;
}

/** A claim over its tenant's per-claim limits (limits.ts): the LB nodes would program all of it on every node. */
export function limitProblems(
  claim: Pick<ClaimRequest, 'ports' | 'backends'>,
  tenant: TenantModel,
  ref: (field: string) => ObjectRef,
): Problem[] {
  const out: Problem[] = [];
  const over = (field: string, count: number, what: string, limit: string, max: number): void => {
    const f = ref(field);
    out.push(
      problem(
        'LimitExceeded',
        f,
        `${subject(f)}: ${count} ${what}, ConsumerCluster ${tenant.name} spec.limits.${limit} is ${max}`,
      ),
    );
  };
  if (claim.ports.length > tenant.limits.portsPerClaim)
    over('spec.ports', claim.ports.length, 'ports', 'portsPerClaim', tenant.limits.portsPerClaim);
  if (claim.backends.length > tenant.limits.backendsPerClaim) {
    over('spec.backends', claim.backends.length, 'backends', 'backendsPerClaim', tenant.limits.backendsPerClaim);
  }
  return out;
}

/**
 * What is wrong with a claim given the model, independent of what other claims hold: tenancy, backends
 * outside the tenant's networks, malformed or unusable requested IPs, an unknown or forbidden pool.
 */
export function checkClaim(model: Model, claim: ClaimRequest): Problem[] {
  const tenancy = resolveTenant(model, claim);
  if (!tenancy.ok) return [tenancy.problem];
  const tenant = tenancy.tenant;
  const out: Problem[] = [];
  const ref = (field: string): ObjectRef => ({ kind: 'VIPClaim', name: claim.name, namespace: claim.namespace, field });
  out.push(...limitProblems(claim, tenant, ref));
  // Only a tenant with contested ranges needs to know what was approved before (rare: built only then).
  const approvedBefore = tenant.contested.length > 0 ? new Set(claim.recorded?.backends) : undefined;
  claim.backends.forEach((b, i) => {
    const f = ref(`spec.backends[${i}].address`);
    if (!b.ip) {
      out.push(problem('InvalidIP', f, `${subject(f)}: ${b.address} is not an IP address`));
      return;
    }
    const refused = backendRefusal(model, tenant, b.ip, approvedBefore?.has(b.address) ?? false);
    if (refused) out.push(problem('BackendNotAllowed', f, `${subject(f)}: ${b.address} ${refused}`));
  });
  if (claim.pool !== undefined) {
    const pool = model.pools.get(claim.pool);
    const f = ref('spec.pool');
    if (!pool) out.push(problem('UnknownPool', f, `${subject(f)}: there is no VIPPool ${claim.pool}`));
    else {
      const why = poolAllowed(pool, tenant, claim);
      if (why)
        out.push(problem('PoolNotAllowed', f, `${subject(f)}: VIPPool ${claim.pool} may not serve this claim: ${why}`));
    }
  }
  const pools = eligiblePools(model, tenant, claim, false);
  claim.requestedIPs.forEach((text, i) => {
    const f = ref(`spec.requestedIPs[${i}]`);
    const ip = parseIP(text);
    if (!ip) out.push(problem('InvalidIP', f, `${subject(f)}: ${text} is not an IP address`));
    else if (!pools.some((p) => ipInAny(ip, p.ranges))) {
      out.push(problem('RequestedIPNotAllowed', f, `${subject(f)}: ${text} is not in any VIPPool this claim may use`));
    }
  });
  return out;
}

/** Two claims of one tenant with the same sharing key that use the same port and protocol cannot share. */
export function portClash(a: Pick<ClaimRequest, 'ports'>, b: Pick<ClaimRequest, 'ports'>): string | undefined {
  for (const p of a.ports) {
    if (b.ports.some((q) => q.port === p.port && q.protocol === p.protocol)) return `${p.protocol}/${p.port}`;
  }
  return undefined;
}

/** Sharing problems of `claim` against other claims of its namespace (the webhook's courtesy check). */
export function sharingProblems(claim: ClaimRequest, others: readonly ClaimRequest[]): Problem[] {
  if (claim.sharingKey === undefined) return [];
  const f: ObjectRef = { kind: 'VIPClaim', name: claim.name, namespace: claim.namespace, field: 'spec.sharingKey' };
  for (const o of others) {
    if (o.key === claim.key || o.namespace !== claim.namespace || o.sharingKey !== claim.sharingKey) continue;
    const clash = portClash(claim, o);
    if (clash) {
      return [
        problem(
          'SharingConflict',
          f,
          `${subject(f)}: VIPClaim ${o.key} already uses ${clash} with sharing key "${claim.sharingKey}"`,
        ),
      ];
    }
  }
  return [];
}
