// The VIP allocator: plain data and plain methods, no I/O. It holds which claim has which VIP, and decides
// for one claim at a time, returning a decision with a reason. The Kubernetes layer writes the decision to
// the claim's status; on start (and on a leader change) it rebuilds this state from every claim's
// status.approved.vip with `adopt` before it decides anything, so a claim keeps its VIP across restarts. Only its own
// record counts (approval.ts): a status.vip that no approval of the allocator's carries is not adopted.
//
// Rules, in the order `assign` applies them:
//  1. Tenancy: the claim's namespace must be the tenantNamespace of exactly one ConsumerCluster, and
//     spec.service.cluster must name it; backends must lie inside its allowedBackendCIDRs.
//  2. A claim that holds a VIP keeps it unless its own spec asks for another one (requestedIPs, pool,
//     sharingKey); then the new target is allocated first and the old VIP released only on success.
//     A VIP left outside every pool the claim may use (pool shrunk, deleted, or no longer eligible) is kept
//     and reported as OutsidePool, never silently revoked.
//  3. Sharing: per tenant, one sharing key names one VIP; claims with the key share it when no two use the
//     same port and protocol, otherwise the newcomer is refused with SharingConflict.
//  4. Requested IPs in order of preference, then the lowest free address of the eligible pools by
//     priority. A new VIP counts against the tenant's maxVIPs; sharing an existing one does not.
import type { ALLOCATION_REASONS } from '../../api/v1alpha1.ts';
import { firstAcceptable, formatIP, ipInAny, isBuggyIP, parseIP, rangeContains, type IPAddr } from '../ip/index.ts';
import type { ClaimRequest, Model, PoolModel, PortKey, Problem, TenantModel } from './model.ts';
import { byAge, checkClaim, eligiblePools, portClash, resolveTenant } from './validate.ts';

export type AllocationReason = keyof typeof ALLOCATION_REASONS;

/**
 * - allocated: the claim has `vip` and may be served (Allocated=True).
 * - held: the claim keeps `vip` (nobody else gets it) but its condition is False with `reason`.
 * - refused: the claim has no VIP.
 */
export type Decision =
  | {
      kind: 'allocated';
      vip: string;
      pool: string;
      reason: 'Allocated';
      message: string;
      change: 'none' | 'new' | 'moved';
      from?: string;
    }
  | { kind: 'held'; vip: string; pool: string | undefined; reason: AllocationReason; message: string }
  | { kind: 'refused'; reason: AllocationReason; message: string };

/** Reasons with which a claim that holds a VIP is still served: its VIP is valid, a change could not be applied. */
export const SERVED_WHILE_FALSE: ReadonlySet<string> = new Set<AllocationReason>([
  'OutsidePool',
  'RequestedIPUnavailable',
  'PoolExhausted',
  'QuotaExceeded',
]);

export type AdoptResult =
  | { kind: 'adopted'; vip: string }
  | { kind: 'unchanged' }
  | { kind: 'none' }
  | { kind: 'conflict'; vip: string; holder: string };

interface Holding {
  readonly key: string;
  readonly namespace: string;
  readonly created: string;
  readonly vip: string;
  readonly pool: string | undefined;
  readonly sharingKey: string | undefined;
  readonly ports: readonly PortKey[];
}

interface Cursor {
  entry: number;
  next: bigint;
}

const groupKey = (namespace: string, sharingKey: string): string => `${namespace}\u0000${sharingKey}`;

export class Allocator {
  #model: Model = { pools: new Map(), tenants: new Map(), tenantByNamespace: new Map(), problems: [] };
  readonly #holdings = new Map<string, Holding>();
  /** VIP → keys of the claims that hold it (more than one only when shared). */
  readonly #holders = new Map<string, Set<string>>();
  /** tenant namespace → VIP → number of its claims holding it (the size is the quota usage). */
  readonly #tenantVIPs = new Map<string, Map<string, number>>();
  /** pool name (as recorded when the VIP was handed out or last confirmed) → VIP → holders. */
  readonly #poolVIPs = new Map<string, Map<string, number>>();
  /** tenant namespace + sharing key → VIP → holders. */
  readonly #groups = new Map<string, Map<string, number>>();
  /** Per pool, the lowest position that may be free, so repeated allocations do not rescan taken addresses. */
  readonly #cursors = new Map<string, Cursor>();

  /** Replaces pools and tenants. Holdings stay: a claim whose VIP left every pool is reported, not revoked. */
  setModel(model: Model): void {
    this.#model = model;
    this.#cursors.clear();
  }

  getModel(): Model {
    return this.#model;
  }

  /** The VIP a claim holds, if any. */
  holding(key: string): { vip: string; pool: string | undefined } | undefined {
    const h = this.#holdings.get(key);
    return h && { vip: h.vip, pool: h.pool };
  }

  holdersOf(vip: string): readonly string[] {
    return [...(this.#holders.get(vip) ?? [])];
  }

  /** Number of distinct VIPs a tenant namespace holds. */
  tenantUsage(namespace: string): number {
    return this.#tenantVIPs.get(namespace)?.size ?? 0;
  }

  /** Distinct VIPs held, in total. */
  get size(): number {
    return this.#holders.size;
  }

  /**
   * Distinct VIPs handed out from a pool and still held, including any that a shrink left outside it (they
   * are the pool's until their claims go or move).
   */
  poolUsage(pool: Pick<PoolModel, 'name'>): number {
    return this.#poolVIPs.get(pool.name)?.size ?? 0;
  }

  /**
   * Records the VIP a claim's status already holds (at start, and whenever a claim is seen that the
   * allocator does not know). Call in age order: on a conflict the older claim keeps the VIP.
   */
  adopt(claim: ClaimRequest): AdoptResult {
    const current = this.#holdings.get(claim.key);
    if (current) return { kind: 'unchanged' };
    if (!claim.recorded) return { kind: 'none' };
    const vip = claim.recorded.vip;
    for (const other of this.#holders.get(vip) ?? []) {
      const h = this.#holdings.get(other)!;
      if (!this.#compatible(h, claim)) return { kind: 'conflict', vip, holder: other };
    }
    this.#hold(claim, vip, claim.recorded.pool ?? this.#poolContaining(vip)?.name);
    return { kind: 'adopted', vip };
  }

  /** Forgets a claim (it was deleted). Returns the VIP when nobody holds it any more: capacity appeared. */
  release(key: string): string | undefined {
    const h = this.#holdings.get(key);
    if (!h) return undefined;
    this.#holdings.delete(key);
    const set = this.#holders.get(h.vip)!;
    set.delete(key);
    decrement(this.#tenantVIPs, h.namespace, h.vip);
    if (h.pool !== undefined) decrement(this.#poolVIPs, h.pool, h.vip);
    if (h.sharingKey !== undefined) decrement(this.#groups, groupKey(h.namespace, h.sharingKey), h.vip);
    if (set.size > 0) return undefined;
    this.#holders.delete(h.vip);
    this.#rewindCursor(h.vip);
    return h.vip;
  }

  /** Decides for one claim, and records the outcome. Idempotent: the same claim and model give the same answer. */
  assign(claim: ClaimRequest): Decision {
    const held = this.#holdings.get(claim.key);
    const tenancy = resolveTenant(this.#model, claim);
    if (!tenancy.ok) {
      const reason = tenancy.problem.code === 'UnknownTenant' ? 'UnknownTenant' : 'NotAllowed';
      return this.#problemDecision(held, reason, tenancy.problem.message);
    }
    const tenant = tenancy.tenant;
    const problems = checkClaim(this.#model, claim);
    const blocking = problems.find((p) => p.code !== 'RequestedIPNotAllowed');
    if (blocking) return this.#problemDecision(held, reasonOf(blocking), blocking.message);
    if (held) return this.#reassess(claim, tenant, held);
    return this.#allocate(claim, tenant, undefined);
  }

  // ---------------------------------------------------------------- decisions

  #problemDecision(held: Holding | undefined, reason: AllocationReason, message: string): Decision {
    if (held)
      return {
        kind: 'held',
        vip: held.vip,
        pool: held.pool,
        reason,
        message: `keeps ${held.vip} reserved: ${message}`,
      };
    return { kind: 'refused', reason, message };
  }

  /** A claim that holds a VIP: keep it, move it (its own spec asks for another), or report why it is not valid. */
  #reassess(claim: ClaimRequest, tenant: TenantModel, held: Holding): Decision {
    const vip = held.vip;
    const retarget = this.#retargetReason(claim, held);
    if (retarget) {
      const moved = this.#allocate(claim, tenant, held);
      if (moved.kind === 'allocated') return moved;
      return {
        kind: 'held',
        vip,
        pool: held.pool,
        reason: moved.reason,
        message: `keeps ${vip}: ${retarget}, but ${moved.message}`,
      };
    }
    for (const other of this.#holders.get(vip) ?? []) {
      if (other === claim.key) continue;
      const h = this.#holdings.get(other)!;
      const clash = portClash(claim, h);
      // The claim whose ports changed loses; when neither changed (both adopted so at start), the younger.
      const unchanged = samePorts(held.ports, claim.ports);
      if (
        clash &&
        !(unchanged && byAge({ created: held.created, name: held.key }, { created: h.created, name: h.key }) < 0)
      ) {
        return {
          kind: 'held',
          vip,
          pool: held.pool,
          reason: 'SharingConflict',
          message: `keeps ${vip} reserved, not served: ${clash} is also used on it by VIPClaim ${other} (sharing key "${held.sharingKey}")`,
        };
      }
    }
    const pool = this.#acceptablePool(claim, tenant, vip, held.pool);
    // Keep the bookkeeping in step with the claim's current ports and the pool that now contains the VIP.
    this.#replaceHolding(claim, vip, pool?.name ?? held.pool);
    if (!pool) {
      return {
        kind: 'held',
        vip,
        pool: held.pool,
        reason: 'OutsidePool',
        message: `keeps ${vip}, which is no longer in any VIPPool this claim may use${held.pool ? ` (it came from VIPPool ${held.pool})` : ''}: re-add the address to a pool, or recreate the Service to get a new VIP`,
      };
    }
    return {
      kind: 'allocated',
      vip,
      pool: pool.name,
      reason: 'Allocated',
      message: `VIP ${vip} from VIPPool ${pool.name}`,
      change: 'none',
    };
  }

  /** Why the claim's own spec asks for a VIP other than the one it holds, or undefined. */
  #retargetReason(claim: ClaimRequest, held: Holding): string | undefined {
    if (claim.requestedIPs.length > 0 && !claim.requestedIPs.includes(held.vip)) {
      return `spec.requestedIPs ${claim.requestedIPs.join(', ')} does not include it`;
    }
    if (claim.pool !== undefined) {
      const pool = this.#model.pools.get(claim.pool);
      const ip = parseIP(held.vip);
      if (pool && ip && !ipInAny(ip, pool.ranges)) return `spec.pool asks for VIPPool ${claim.pool}`;
    }
    if (claim.sharingKey !== held.sharingKey) {
      const group =
        claim.sharingKey === undefined ? undefined : this.#groupVIP(claim.namespace, claim.sharingKey, claim.key);
      const sharers = [...(this.#holders.get(held.vip) ?? [])].filter((k) => k !== claim.key);
      if (sharers.length > 0 || (group !== undefined && group !== held.vip)) {
        return `spec.sharingKey changed from ${held.sharingKey === undefined ? 'none' : `"${held.sharingKey}"`} to ${claim.sharingKey === undefined ? 'none' : `"${claim.sharingKey}"`}`;
      }
    }
    return undefined;
  }

  /** The eligible pool (usable or not: a held VIP may stay in an overlapping pool) that contains `vip`. */
  #acceptablePool(
    claim: ClaimRequest,
    tenant: TenantModel,
    vip: string,
    preferred: string | undefined,
  ): PoolModel | undefined {
    const ip = parseIP(vip);
    if (!ip) return undefined;
    const pools = eligiblePools(this.#model, tenant, claim, false).filter((p) => ipInAny(ip, p.ranges));
    return pools.find((p) => p.name === preferred) ?? pools[0];
  }

  /**
   * Allocates for a claim that holds nothing, or (with `moving`) a new target for one that holds `moving.vip`:
   * the old VIP is released only when the new one is recorded.
   */
  #allocate(claim: ClaimRequest, tenant: TenantModel, moving: Holding | undefined): Decision {
    const pick = this.#pick(claim, tenant, moving);
    if (pick.kind === 'refused') return pick;
    if (moving) this.release(moving.key);
    this.#hold(claim, pick.vip, pick.pool);
    const base = `VIP ${pick.vip} from VIPPool ${pick.pool}${pick.shared ? `, shared by sharing key "${claim.sharingKey}"` : ''}`;
    return moving
      ? {
          kind: 'allocated',
          vip: pick.vip,
          pool: pick.pool,
          reason: 'Allocated',
          message: `${base} (moved from ${moving.vip})`,
          change: 'moved',
          from: moving.vip,
        }
      : { kind: 'allocated', vip: pick.vip, pool: pick.pool, reason: 'Allocated', message: base, change: 'new' };
  }

  #pick(
    claim: ClaimRequest,
    tenant: TenantModel,
    moving: Holding | undefined,
  ):
    | { kind: 'ok'; vip: string; pool: string; shared: boolean }
    | { kind: 'refused'; reason: AllocationReason; message: string } {
    const refuse = (reason: AllocationReason, message: string) => ({ kind: 'refused' as const, reason, message });
    const usable = eligiblePools(this.#model, tenant, claim, false).filter((p) => p.usable);
    const quotaLeft = (): boolean => {
      if (tenant.maxVIPs === undefined) return true;
      const used = this.tenantUsage(claim.namespace);
      // Moving off a VIP nobody else holds frees one unit of quota for the new one.
      const freed = moving && (this.#holders.get(moving.vip)?.size ?? 0) === 1 ? 1 : 0;
      return used - freed < tenant.maxVIPs;
    };
    const quotaMessage = (): string =>
      `ConsumerCluster ${tenant.name} holds ${this.tenantUsage(claim.namespace)} VIPs, its spec.maxVIPs is ${tenant.maxVIPs}`;

    // Sharing: the key's VIP, if the tenant already has one.
    if (claim.sharingKey !== undefined) {
      const vip = this.#groupVIP(claim.namespace, claim.sharingKey, claim.key);
      if (vip !== undefined) {
        for (const other of this.#holders.get(vip) ?? []) {
          if (other === claim.key) continue;
          const clash = portClash(claim, this.#holdings.get(other)!);
          if (clash)
            return refuse(
              'SharingConflict',
              `sharing key "${claim.sharingKey}" is on ${vip}, where VIPClaim ${other} already uses ${clash}`,
            );
        }
        if (claim.requestedIPs.length > 0 && !claim.requestedIPs.includes(vip)) {
          return refuse(
            'SharingConflict',
            `sharing key "${claim.sharingKey}" is on ${vip}, which is not among spec.requestedIPs (${claim.requestedIPs.join(', ')})`,
          );
        }
        const ip = parseIP(vip)!;
        const pool =
          usable.find((p) => ipInAny(ip, p.ranges)) ??
          eligiblePools(this.#model, tenant, claim, false).find((p) => ipInAny(ip, p.ranges));
        if (!pool)
          return refuse(
            'NotAllowed',
            `sharing key "${claim.sharingKey}" is on ${vip}, which is not in any VIPPool this claim may use`,
          );
        return { kind: 'ok', vip, pool: pool.name, shared: true };
      }
    }

    if (claim.requestedIPs.length > 0) {
      const why: string[] = [];
      let firstReason: AllocationReason | undefined;
      for (const text of claim.requestedIPs) {
        const r = this.#requestable(claim, text, usable);
        if (r.kind === 'ok') {
          if (!r.shared && !quotaLeft()) return refuse('QuotaExceeded', quotaMessage());
          return r;
        }
        firstReason ??= r.reason;
        why.push(`${text}: ${r.message}`);
      }
      return refuse(firstReason ?? 'RequestedIPUnavailable', `no requested IP is available (${why.join('; ')})`);
    }

    const auto = usable.filter((p) => p.autoAssign || claim.pool === p.name);
    if (auto.length === 0) {
      const message =
        claim.pool !== undefined
          ? `VIPPool ${claim.pool} hands out no addresses (it overlaps an older pool or has no valid address)`
          : `no VIPPool with autoAssign may serve this claim (ConsumerCluster ${tenant.name}, Service namespace ${claim.serviceNamespace})`;
      return refuse('NotAllowed', message);
    }
    if (!quotaLeft()) return refuse('QuotaExceeded', quotaMessage());
    for (const pool of auto) {
      const ip = this.#firstFree(pool);
      if (ip) return { kind: 'ok', vip: formatIP(ip), pool: pool.name, shared: false };
    }
    return refuse(
      'PoolExhausted',
      `every eligible VIPPool is full (${auto.map((p) => `${p.name}: ${p.capacity} addresses`).join(', ')})`,
    );
  }

  /** Whether one requested IP can go to the claim. */
  #requestable(
    claim: ClaimRequest,
    text: string,
    usable: readonly PoolModel[],
  ):
    | { kind: 'ok'; vip: string; pool: string; shared: boolean }
    | { kind: 'no'; reason: AllocationReason; message: string } {
    const ip = parseIP(text);
    if (!ip) return { kind: 'no', reason: 'InvalidSpec', message: 'not an IP address' };
    const pool = usable.find((p) => ipInAny(ip, p.ranges));
    if (!pool)
      return { kind: 'no', reason: 'RequestedIPUnavailable', message: 'not in any VIPPool this claim may use' };
    if (pool.avoidBuggyIPs && isBuggyIP(ip)) {
      return {
        kind: 'no',
        reason: 'RequestedIPUnavailable',
        message: `VIPPool ${pool.name} avoids addresses ending in .0 and .255`,
      };
    }
    const vip = formatIP(ip);
    const holders = [...(this.#holders.get(vip) ?? [])].filter((k) => k !== claim.key);
    if (holders.length === 0) return { kind: 'ok', vip, pool: pool.name, shared: false };
    const h = this.#holdings.get(holders[0]!)!;
    if (h.namespace !== claim.namespace)
      return { kind: 'no', reason: 'RequestedIPUnavailable', message: 'in use by another tenant' };
    for (const k of holders) {
      const other = this.#holdings.get(k)!;
      if (claim.sharingKey === undefined || other.sharingKey !== claim.sharingKey) {
        return {
          kind: 'no',
          reason: 'SharingConflict',
          message: `held by VIPClaim ${k}${other.sharingKey ? ` with sharing key "${other.sharingKey}"` : ' without a sharing key'}`,
        };
      }
      const clash = portClash(claim, other);
      if (clash) return { kind: 'no', reason: 'SharingConflict', message: `VIPClaim ${k} already uses ${clash} on it` };
    }
    return { kind: 'ok', vip, pool: pool.name, shared: true };
  }

  // ---------------------------------------------------------------- bookkeeping

  /**
   * Whether `claim` may keep its recorded VIP next to the holding `h`: same tenant and same sharing key.
   * A port clash inside the group is left to `assign`, which reports it without moving anyone.
   */
  #compatible(h: Holding, claim: ClaimRequest): boolean {
    return h.namespace === claim.namespace && h.sharingKey !== undefined && h.sharingKey === claim.sharingKey;
  }

  /** The VIP the tenant's sharing key is on: the one held by the oldest claim of the group. */
  #groupVIP(namespace: string, sharingKey: string, except: string): string | undefined {
    const vips = this.#groups.get(groupKey(namespace, sharingKey));
    if (!vips || vips.size === 0) return undefined;
    let best: Holding | undefined;
    for (const vip of vips.keys()) {
      for (const k of this.#holders.get(vip) ?? []) {
        if (k === except) continue;
        const h = this.#holdings.get(k)!;
        if (
          h.sharingKey === sharingKey &&
          (!best || byAge({ created: h.created, name: h.key }, { created: best.created, name: best.key }) < 0)
        )
          best = h;
      }
    }
    return best?.vip;
  }

  #hold(claim: ClaimRequest, vip: string, pool: string | undefined): void {
    const h: Holding = {
      key: claim.key,
      namespace: claim.namespace,
      created: claim.created,
      vip,
      pool,
      sharingKey: claim.sharingKey,
      ports: claim.ports,
    };
    this.#holdings.set(claim.key, h);
    let set = this.#holders.get(vip);
    if (!set) this.#holders.set(vip, (set = new Set()));
    set.add(claim.key);
    increment(this.#tenantVIPs, claim.namespace, vip);
    if (pool !== undefined) increment(this.#poolVIPs, pool, vip);
    if (claim.sharingKey !== undefined) increment(this.#groups, groupKey(claim.namespace, claim.sharingKey), vip);
  }

  #replaceHolding(claim: ClaimRequest, vip: string, pool: string | undefined): void {
    const h = this.#holdings.get(claim.key);
    if (h && h.pool === pool && h.sharingKey === claim.sharingKey && samePorts(h.ports, claim.ports)) return;
    this.release(claim.key);
    this.#hold(claim, vip, pool);
  }

  #poolContaining(vip: string): PoolModel | undefined {
    const ip = parseIP(vip);
    if (!ip) return undefined;
    for (const p of this.#model.pools.values()) if (ipInAny(ip, p.ranges)) return p;
    return undefined;
  }

  #firstFree(pool: PoolModel): IPAddr | undefined {
    let cursor = this.#cursors.get(pool.name);
    if (!cursor) this.#cursors.set(pool.name, (cursor = { entry: 0, next: pool.ranges[0]?.first ?? 0n }));
    const free = (ip: IPAddr): boolean => !this.#holders.has(formatIP(ip));
    for (; cursor.entry < pool.ranges.length; cursor.entry++) {
      const range = pool.ranges[cursor.entry]!;
      // biome-ignore lint/complexity/useMathMinMax: bigint addresses, which Math.max does not take
      const from = cursor.next < range.first ? range.first : cursor.next;
      const ip = firstAcceptable(range, from, free, pool.avoidBuggyIPs);
      if (ip) {
        cursor.next = ip.value + 1n;
        return ip;
      }
      cursor.next = pool.ranges[cursor.entry + 1]?.first ?? 0n;
    }
    return undefined;
  }

  #rewindCursor(vip: string): void {
    const ip = parseIP(vip);
    if (!ip) return;
    for (const [name, cursor] of this.#cursors) {
      const pool = this.#model.pools.get(name);
      if (!pool) continue;
      const entry = pool.ranges.findIndex((r) => rangeContains(r, ip));
      if (entry === -1) continue;
      if (entry < cursor.entry || (entry === cursor.entry && ip.value < cursor.next)) {
        cursor.entry = entry;
        cursor.next = ip.value;
      }
    }
  }
}

function reasonOf(p: Problem): AllocationReason {
  switch (p.code) {
    case 'UnknownTenant':
      return 'UnknownTenant';
    case 'InvalidIP':
      return 'InvalidSpec';
    case 'RequestedIPNotAllowed':
      return 'RequestedIPUnavailable';
    case 'SharingConflict':
      return 'SharingConflict';
    default:
      return 'NotAllowed';
  }
}

function samePorts(a: readonly PortKey[], b: readonly PortKey[]): boolean {
  return a.length === b.length && a.every((p, i) => p.port === b[i]!.port && p.protocol === b[i]!.protocol);
}

function increment(index: Map<string, Map<string, number>>, outer: string, vip: string): void {
  let m = index.get(outer);
  if (!m) index.set(outer, (m = new Map()));
  m.set(vip, (m.get(vip) ?? 0) + 1);
}

function decrement(index: Map<string, Map<string, number>>, outer: string, vip: string): void {
  const m = index.get(outer);
  if (!m) return;
  const n = (m.get(vip) ?? 0) - 1;
  if (n > 0) m.set(vip, n);
  else m.delete(vip);
  if (m.size === 0) index.delete(outer);
}
