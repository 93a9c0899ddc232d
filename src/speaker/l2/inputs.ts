// What the L2 speaker decides from besides membership: the VIPs (from VIPClaims' status), their pools' labels,
// the L2Announcements, and the LB nodes' labels. KubeInputs watches them; StaticInputs serves a fixed list
// (tests, and running the L2 part alone).
import type * as k8s from '@kubernetes/client-node';
import { CLAIM_CONDITIONS, type L2Announcement, type VIPClaim, type VIPPool } from '../../api/v1alpha1.ts';
import { ANNOUNCED_REASONS } from '../../core/l2/report.ts';
import type { TypedInformer } from '../../kube/informer.ts';
import { customInformer, nodeInformer } from '../../kube/cluster-informers.ts';
import { parseInterfaceSelection, type InterfacePatternError } from '../../core/l2/interfaces.ts';
import type { AnnouncementRule, VipInput } from '../../core/l2/ownership.ts';
import type { Logger } from '../../shared/logger.ts';

/** A claim that carries a VIP, as far as the Announced status needs it. */
export interface ClaimRef {
  readonly namespace: string;
  readonly name: string;
}

export interface VipEntry extends VipInput {
  readonly claims: readonly ClaimRef[];
  /**
   * What the claims' Announced conditions say the fleet did with the VIP: `announced` (some LB node answered for
   * it: a new owner takes it over without a duplicate-address probe) or `addressInUse` (its owner's probe heard
   * another host). Undefined for VIPs never reported, and static ones.
   */
  readonly fleet?: 'announced' | 'addressInUse' | undefined;
}

/** What a claim's Announced condition says about the fleet and its VIP (see VipEntry.fleet). */
function fleetReport(c: VIPClaim): VipEntry['fleet'] {
  const announced = c.status?.conditions?.find((x) => x.type === CLAIM_CONDITIONS.Announced);
  if (announced?.status === 'True') return 'announced';
  if (announced?.reason === ANNOUNCED_REASONS.AddressInUse) return 'addressInUse';
  return undefined;
}

export interface L2Inputs {
  start(): Promise<void>;
  stop(): Promise<void>;
  onChange(fn: () => void): void;
  vips(): VipEntry[];
  rules(): AnnouncementRule[];
  nodeLabels(name: string): Readonly<Record<string, string>>;
  /** The current claim object, for status writes; undefined for static VIPs. */
  claim(ref: ClaimRef): VIPClaim | undefined;
}

/** Parses L2Announcements; ones with bad interface patterns are skipped (the CRD's validation should stop them). */
export function parseRules(list: readonly L2Announcement[], logger: Logger): AnnouncementRule[] {
  const rules: AnnouncementRule[] = [];
  for (const a of list) {
    try {
      rules.push({
        name: a.metadata.name ?? '',
        poolSelector: a.spec?.poolSelector,
        nodeSelector: a.spec?.nodeSelector,
        interfaces: parseInterfaceSelection(a.spec?.interfaces),
      });
    } catch (err) {
      logger.warn(
        { err, announcement: a.metadata.name, pattern: (err as InterfacePatternError).pattern },
        'L2Announcement ignored',
      );
    }
  }
  return rules.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/** Groups claims by VIP (claims sharing a VIP share its announcement). */
export function vipsFromClaims(claims: readonly VIPClaim[], pools: ReadonlyMap<string, VIPPool>): VipEntry[] {
  const byVip = new Map<string, { pool: string; claims: ClaimRef[]; fleet: VipEntry['fleet'] }>();
  for (const c of claims) {
    const vip = c.status?.vip;
    if (!vip || c.metadata.deletionTimestamp) continue;
    const entry = byVip.get(vip) ?? { pool: c.status?.pool ?? '', claims: [], fleet: undefined };
    entry.claims.push({ namespace: c.metadata.namespace ?? '', name: c.metadata.name ?? '' });
    // One claim that saw the VIP announced is enough (claims sharing a VIP are reported together).
    const report = fleetReport(c);
    if (report === 'announced' || (report && !entry.fleet)) entry.fleet = report;
    byVip.set(vip, entry);
  }
  return [...byVip]
    .map(([vip, e]) => ({
      vip,
      pool: e.pool,
      poolLabels: pools.get(e.pool)?.metadata.labels ?? {},
      claims: e.claims,
      ...(e.fleet ? { fleet: e.fleet } : {}),
    }))
    .sort((a, b) => (a.vip < b.vip ? -1 : 1));
}

export class KubeInputs implements L2Inputs {
  readonly #logger: Logger;
  readonly #claims: TypedInformer<VIPClaim & k8s.KubernetesObject>;
  readonly #pools: TypedInformer<VIPPool & k8s.KubernetesObject>;
  readonly #announcements: TypedInformer<L2Announcement & k8s.KubernetesObject>;
  readonly #nodes: TypedInformer<k8s.V1Node>;
  readonly #listeners: (() => void)[] = [];
  readonly #fingerprints = new Map<string, string>();

  constructor(kubeConfig: k8s.KubeConfig, logger: Logger) {
    this.#logger = logger;
    this.#claims = customInformer<VIPClaim>(kubeConfig, 'VIPClaim', { logger });
    this.#pools = customInformer<VIPPool>(kubeConfig, 'VIPPool', { logger });
    this.#announcements = customInformer<L2Announcement>(kubeConfig, 'L2Announcement', { logger });
    this.#nodes = nodeInformer(kubeConfig, { logger });
  }

  async start(): Promise<void> {
    // Only what decides announcements counts as a change: a claim's VIP and pool (not its status conditions,
    // which the speakers themselves keep writing), pool and node labels, announcement specs.
    this.#watch(
      'claim',
      this.#claims,
      (c) => `${c.status?.vip ?? ''}|${c.status?.pool ?? ''}|${c.metadata.deletionTimestamp ? 'deleting' : ''}`,
    );
    this.#watch('pool', this.#pools, (p) => JSON.stringify(p.metadata.labels ?? {}));
    this.#watch('announcement', this.#announcements, (a) => JSON.stringify(a.spec ?? {}));
    this.#watch('node', this.#nodes, (n) => JSON.stringify(n.metadata?.labels ?? {}));
    const all = [this.#claims, this.#pools, this.#announcements, this.#nodes] as const;
    await Promise.all(all.map((inf) => inf.start()));
    await Promise.all(all.map((inf) => inf.synced));
  }

  async stop(): Promise<void> {
    await Promise.all([this.#claims, this.#pools, this.#announcements, this.#nodes].map((inf) => inf.stop()));
  }

  onChange(fn: () => void): void {
    this.#listeners.push(fn);
  }

  vips(): VipEntry[] {
    const pools = new Map(this.#pools.list().map((p) => [p.metadata.name ?? '', p] as const));
    return vipsFromClaims(this.#claims.list(), pools);
  }

  rules(): AnnouncementRule[] {
    return parseRules(this.#announcements.list(), this.#logger);
  }

  nodeLabels(name: string): Readonly<Record<string, string>> {
    return this.#nodes.get(name)?.metadata?.labels ?? {};
  }

  claim(ref: ClaimRef): VIPClaim | undefined {
    return this.#claims.get(ref.name, ref.namespace);
  }

  #watch<T extends k8s.KubernetesObject>(
    kind: string,
    informer: TypedInformer<T>,
    fingerprint: (o: T) => string,
  ): void {
    const key = (o: T) => `${kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    informer.on({
      onUpsert: (o) => {
        const fp = fingerprint(o);
        if (this.#fingerprints.get(key(o)) === fp) return;
        this.#fingerprints.set(key(o), fp);
        this.#emit();
      },
      onDelete: (o) => {
        this.#fingerprints.delete(key(o));
        this.#emit();
      },
    });
  }

  #emit(): void {
    for (const fn of this.#listeners) fn();
  }
}

/** A fixed set of VIPs announced on fixed interface patterns by every node (pool "static"). */
export class StaticInputs implements L2Inputs {
  readonly #entries: VipEntry[];
  readonly #rule: AnnouncementRule;

  constructor(vips: readonly string[], interfaces: readonly string[]) {
    this.#entries = [...new Set(vips)].sort().map((vip) => ({ vip, pool: 'static', poolLabels: {}, claims: [] }));
    this.#rule = { name: 'static', interfaces: parseInterfaceSelection(interfaces) };
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  onChange(): void {}
  vips(): VipEntry[] {
    return this.#entries;
  }
  rules(): AnnouncementRule[] {
    return [this.#rule];
  }
  nodeLabels(): Readonly<Record<string, string>> {
    return {};
  }
  claim(): VIPClaim | undefined {
    return undefined;
  }
}
