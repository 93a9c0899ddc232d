// The speaker's one view of the LB cluster: informers over VIPClaims (every tenant namespace), VIPPools,
// ConsumerClusters, L2Announcements and Nodes. The dataplane side and the L2 side read the same caches (it implements the L2
// component's L2Inputs), so every object is watched once per speaker.
import type * as k8s from '@kubernetes/client-node';
import type { ConsumerCluster, L2Announcement, VIPClaim, VIPPool } from '../api/v1alpha1.ts';
import { backendGuard, type BackendGuard } from '../core/speaker/backend-guard.ts';
import type { AnnouncementRule } from '../core/l2/ownership.ts';
import { serveDecision } from '../core/speaker/claims.ts';
import { BackendDenyList } from '../kube/backend-deny-list.ts';
import type { TypedInformer } from '../kube/informer.ts';
import { customInformer, nodeInformer } from '../kube/cluster-informers.ts';
import type { Logger } from '../shared/logger.ts';
import { trimClaimSpec } from './claim-trim.ts';
import { parseRules, vipsFromClaims, type ClaimRef, type L2Inputs, type VipEntry } from './l2/inputs.ts';

type Custom<T> = T & k8s.KubernetesObject;

export class ClusterView implements L2Inputs {
  readonly #logger: Logger;
  readonly #claims: TypedInformer<Custom<VIPClaim>>;
  readonly #pools: TypedInformer<Custom<VIPPool>>;
  readonly #tenants: TypedInformer<Custom<ConsumerCluster>>;
  /** Built from pools, tenants and nodes when first asked for after one of them changed. */
  #guard: BackendGuard | undefined;
  readonly #announcements: TypedInformer<Custom<L2Announcement>>;
  readonly #nodes: TypedInformer<k8s.V1Node>;
  /** The LB cluster's Service ranges and apiservers, and the operator's deny-list: never backends. */
  readonly #denyList: BackendDenyList;
  readonly #listeners: (() => void)[] = [];
  readonly #claimListeners: (() => void)[] = [];
  #vipSignature = '';
  #started: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;

  constructor(kubeConfig: k8s.KubeConfig, logger: Logger, namespace = 'kube-lb-system') {
    this.#logger = logger;
    this.#denyList = new BackendDenyList(kubeConfig, namespace, logger.child({ part: 'deny-list' }));
    // A periodic replay repairs anything a dropped watch event left stale.
    const replay = { logger, resyncMs: 60_000 };
    this.#claims = customInformer<VIPClaim>(kubeConfig, 'VIPClaim', { ...replay, transform: trimClaimSpec });
    this.#pools = customInformer<VIPPool>(kubeConfig, 'VIPPool', replay);
    this.#tenants = customInformer<ConsumerCluster>(kubeConfig, 'ConsumerCluster', replay);
    this.#announcements = customInformer<L2Announcement>(kubeConfig, 'L2Announcement', replay);
    this.#nodes = nodeInformer(kubeConfig, { logger });
  }

  /** Idempotent: the speaker starts the view before the L2 side, which starts its inputs too. */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  stop(): Promise<void> {
    this.#stopped ??= Promise.all(
      [this.#claims, this.#pools, this.#tenants, this.#announcements, this.#nodes, this.#denyList].map((inf) =>
        inf.stop(),
      ),
    ).then(() => undefined);
    return this.#stopped;
  }

  async #start(): Promise<void> {
    this.#claims.on({ onUpsert: () => this.#emitClaims(), onDelete: () => this.#emitClaims() });
    for (const inf of [this.#pools, this.#announcements, this.#nodes] as const) {
      inf.on({ onUpsert: () => this.#emit(), onDelete: () => this.#emit() });
    }
    // A tenant's ranges decide which backends are programmed: a change re-plans like a claim change.
    const tenantChanged = (): void => {
      this.#guard = undefined;
      this.#emitClaims();
    };
    this.#tenants.on({ onUpsert: tenantChanged, onDelete: tenantChanged });
    this.#denyList.onChange(tenantChanged);
    const all = [this.#claims, this.#pools, this.#tenants, this.#announcements, this.#nodes] as const;
    await Promise.all([...all.map((inf) => inf.start()), this.#denyList.start()]);
    await Promise.all(all.map((inf) => inf.synced));
  }

  /** Any input of the L2 side changed (claims included). */
  onChange(fn: () => void): void {
    this.#listeners.push(fn);
  }

  /** A claim changed. */
  onClaims(fn: () => void): void {
    this.#claimListeners.push(fn);
  }

  claims(): readonly VIPClaim[] {
    return this.#claims.list();
  }

  /**
   * VIPs of served claims only: a VIP kept for a refused claim, or held in a namespace no tenant owns, is neither
   * programmed nor announced.
   */
  vips(): VipEntry[] {
    const pools = new Map(this.#pools.list().map((p) => [p.metadata.name ?? '', p] as const));
    const guard = this.guard();
    return vipsFromClaims(
      this.#claims.list().filter((c) => serveDecision(c).serve && guard.check(c).ok),
      pools,
    );
  }

  /** The check of claims' tenants and backends against this view's pools, tenants and LB node addresses. */
  guard(): BackendGuard {
    this.#guard ??= backendGuard({
      pools: this.#pools.list(),
      tenants: this.#tenants.list(),
      denied: this.#denyList.denied(),
      lbNodes: new Map(
        this.#nodes
          .list()
          .flatMap((n) =>
            (n.status?.addresses ?? [])
              .filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP')
              .map((a) => [a.address, n.metadata?.name ?? ''] as const),
          ),
      ),
    });
    return this.#guard;
  }

  rules(): AnnouncementRule[] {
    return parseRules(this.#announcements.list(), this.#logger);
  }

  hasNode(name: string): boolean {
    return this.#nodes.get(name) !== undefined;
  }

  nodeLabels(name: string): Readonly<Record<string, string>> {
    return this.#nodes.get(name)?.metadata?.labels ?? {};
  }

  claim(ref: ClaimRef): VIPClaim | undefined {
    return this.#claims.get(ref.name, ref.namespace);
  }

  /**
   * Claims change all the time (the speakers write their status); the L2 side only cares when the set of served
   * VIPs or their pools change, and each of its reconciles costs netlink dumps, so it hears of those changes only.
   */
  #emitClaims(): void {
    for (const fn of this.#claimListeners) fn();
    const signature = JSON.stringify(this.vips().map((v) => [v.vip, v.pool, v.claims.length]));
    if (signature === this.#vipSignature) return;
    this.#vipSignature = signature;
    this.#emit();
  }

  #emit(): void {
    this.#guard = undefined;
    for (const fn of this.#listeners) fn();
  }
}
