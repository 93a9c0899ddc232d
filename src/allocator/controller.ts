// The allocator's controller: informers on pools, tenants and claims (kept warm on every replica so a takeover
// is fast), and, on the leader only, one Allocator rebuilt from every claim's status.approved.vip (the
// allocator's own record; a status.vip without it is not adopted) before anything new is decided, a work queue, and status writes when the allocator's part of a status changed.
//
// Queue keys: "claim:NS/NAME" (decide and write), "model" (re-validate pools and tenants, then re-decide every
// claim), "pool:NAME" and "tenant:NAME" (status, debounced). Claims that could not get what they asked for
// are remembered as pending and re-queued, oldest first, whenever capacity may have appeared: a VIP freed, a
// pool or tenant changed.
import { setTimeout as sleep } from 'node:timers/promises';
import type * as k8s from '@kubernetes/client-node';
import type { BFDProfile, BGPAdvertisement, BGPPeer, ConsumerCluster, VIPClaim, VIPPool } from '../api/v1alpha1.ts';
import { API_VERSION } from '../api/v1alpha1.ts';
import { Allocator, type AllocationReason, type Decision } from '../core/allocation/allocator.ts';
import {
  claimStatus,
  currentClaimFingerprint,
  poolStatus,
  tenantStatus,
  type OwnedStatus,
} from '../core/allocation/status.ts';
import { byAge, toClaimRequest, validate } from '../core/allocation/validate.ts';
import { apiStatus, isNotFound, isTransientApiError, apiMessage } from '../kube/client.ts';
import { resourceClient, type Kind, type ResourceClient } from '../kube/custom-objects.ts';
import type { EventRecorder } from '../kube/events.ts';
import { BackendDenyList } from '../kube/backend-deny-list.ts';
import type { TypedInformer } from '../kube/informer.ts';
import { customInformer } from '../kube/cluster-informers.ts';
import { DEFAULT_PAGE_SIZE, listAllPages } from '../kube/paging.ts';
import { WorkQueue, done, retry, type HandlerResult, type WorkQueueOptions } from '../kube/workqueue.ts';
import { Backoff, WATCH_BACKOFF } from '../shared/backoff.ts';
import { assertNever } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { trimClaim, trimConfig } from './cache-trim.ts';
import type { AllocatorMetrics } from './metrics.ts';
import type { StatusWriter } from './status-writer.ts';

/** The kinds of the allocator queue's keys: "model", "claim:NAMESPACE/NAME", "pool:NAME", "tenant:NAME". */
const QUEUE_KEY_KINDS = ['model', 'claim', 'pool', 'tenant'] as const;
type QueueKeyKind = (typeof QUEUE_KEY_KINDS)[number];

function parseQueueKey(key: string): { kind: QueueKeyKind; name: string } | undefined {
  const colon = key.indexOf(':');
  const kind = colon === -1 ? key : key.slice(0, colon);
  const known = QUEUE_KEY_KINDS.find((k) => k === kind);
  return known === undefined ? undefined : { kind: known, name: key.slice(colon + 1) };
}

export interface AllocatorControllerOptions {
  kubeConfig: k8s.KubeConfig;
  writer: StatusWriter;
  events: EventRecorder;
  metrics: AllocatorMetrics;
  logger: Logger;
  workers: number;
  resyncMs: number;
  /** Pool and tenant status are written at most this often per object. */
  statusDebounceMs: number;
  now?: () => Date;
  /** Reconcile latency (src/kube/reconcile-metrics.ts). */
  onReconciled?: WorkQueueOptions['onProcessed'];
  /** client-go's workqueue metrics (src/kube/workqueue-metrics.ts). */
  queueMetrics?: WorkQueueOptions['metrics'];
  /** Objects per page of the claim LISTs (default 500). */
  listPageSize?: number;
  /** Namespace of the backend deny-list ConfigMap (default kube-lb-system). */
  namespace?: string;
}

interface Leading {
  readonly allocator: Allocator;
  readonly queue: WorkQueue;
  /** Claims waiting for something another claim or the model may change, with the reason they wait. */
  readonly pending: Map<string, AllocationReason>;
  /**
   * Per claim: what we last applied (its fingerprint and VIP), and the resourceVersion the cache showed then
   * (to spot a stale cache).
   */
  readonly written: Map<string, { fingerprint: string; vip: string | undefined; baseRV: string | undefined }>;
  /**
   * Claims whose status on the apiserver still shows a VIP the allocator has taken from them (moved, or
   * refused): VIP → those claims, and claim → that VIP. Until their write lands no other claim's status may
   * show that VIP, or two claims would show one VIP at once (status writes are several in flight, in any order).
   */
  readonly vacating: Map<string, Set<string>>;
  readonly vacatingBy: Map<string, string>;
  /** Claims whose write waits for a VIP to be vacated, by VIP: queued again when it is. */
  readonly blocked: Map<string, Set<string>>;
  readonly statusWritten: Map<string, string>;
  /** The spec generation last decided per claim, to tell an edit from a re-check. */
  readonly generations: Map<string, number>;
}

/** What makes a pool or tenant matter to allocation: status-only updates (ours, the agent's) do not. */
const specDigest = (o: VIPPool | ConsumerCluster): string =>
  JSON.stringify([o.metadata.uid, o.metadata.generation, o.metadata.labels ?? {}, o.metadata.creationTimestamp]);

export class AllocatorController {
  readonly #opts: AllocatorControllerOptions;
  readonly pools: TypedInformer<VIPPool & k8s.KubernetesObject>;
  readonly tenants: TypedInformer<ConsumerCluster & k8s.KubernetesObject>;
  readonly claims: TypedInformer<VIPClaim & k8s.KubernetesObject>;
  /** The LB cluster's own addresses and the operator's deny-list: never backends (the webhook reads it too). */
  readonly denyList: BackendDenyList;
  /** BGP mode's objects, for the webhook alone (allocation does not depend on them). */
  readonly bgpPeers: TypedInformer<BGPPeer & k8s.KubernetesObject>;
  readonly bgpAdvertisements: TypedInformer<BGPAdvertisement & k8s.KubernetesObject>;
  readonly bfdProfiles: TypedInformer<BFDProfile & k8s.KubernetesObject>;
  #leading: Leading | undefined;
  readonly #digests = new Map<string, string>();
  readonly #now: () => Date;
  readonly #claimClient: ResourceClient<VIPClaim>;

  constructor(opts: AllocatorControllerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => new Date());
    const { kubeConfig, logger, resyncMs } = opts;
    const informer = <T extends { metadata: { name?: string } }>(
      kind: Kind,
      transform: (o: T & k8s.KubernetesObject) => T & k8s.KubernetesObject,
    ) => customInformer<T>(kubeConfig, kind, { transform, resyncMs, logger: logger.child({ informer: kind }) });
    this.#claimClient = resourceClient<VIPClaim>(kubeConfig, 'VIPClaim');
    this.pools = informer<VIPPool>('VIPPool', trimConfig);
    this.tenants = informer<ConsumerCluster>('ConsumerCluster', trimConfig);
    this.claims = informer<VIPClaim>('VIPClaim', trimClaim);
    this.bgpPeers = informer<BGPPeer>('BGPPeer', trimConfig);
    this.bgpAdvertisements = informer<BGPAdvertisement>('BGPAdvertisement', trimConfig);
    this.bfdProfiles = informer<BFDProfile>('BFDProfile', trimConfig);
    this.denyList = new BackendDenyList(
      kubeConfig,
      opts.namespace ?? 'kube-lb-system',
      logger.child({ part: 'deny-list' }),
    );
    this.denyList.onChange(() => this.#leading?.queue.add('model'));

    const onConfig = (kind: string) => ({
      onUpsert: (o: VIPPool | ConsumerCluster) => {
        const key = `${kind}:${o.metadata.name}`;
        const digest = specDigest(o);
        if (this.#digests.get(key) !== digest) {
          this.#digests.set(key, digest);
          this.#leading?.queue.add('model');
        }
        this.#leading?.queue.addAfter(key, 0);
      },
      onDelete: (o: VIPPool | ConsumerCluster) => {
        this.#digests.delete(`${kind}:${o.metadata.name}`);
        this.#leading?.queue.add('model');
      },
    });
    this.pools.on(onConfig('pool'));
    this.tenants.on(onConfig('tenant'));
    this.claims.on({
      onUpsert: (c) => this.#leading?.queue.add(`claim:${c.metadata.namespace}/${c.metadata.name}`),
      onDelete: (c) => this.#leading?.queue.add(`claim:${c.metadata.namespace}/${c.metadata.name}`),
    });
  }

  /** Starts the informers (every replica) and resolves when their first lists are in the caches. */
  async startInformers(): Promise<void> {
    await Promise.all([...this.#informers().map((i) => i.start()), this.denyList.start()]);
    await this.synced;
  }

  get synced(): Promise<void> {
    return Promise.all(this.#informers().map((i) => i.synced)).then(() => undefined);
  }

  #informers() {
    return [this.pools, this.tenants, this.claims, this.bgpPeers, this.bgpAdvertisements, this.bfdProfiles] as const;
  }

  /** Keys are queued or being handled (Normal Events wait meanwhile: src/kube/paced-events.ts). */
  get busy(): boolean {
    return this.#leading?.queue.busy ?? false;
  }

  get isLeading(): boolean {
    return this.#leading !== undefined;
  }

  /** The allocator of the current term, for tests and the benchmark. */
  get allocator(): Allocator | undefined {
    return this.#leading?.allocator;
  }

  /** Runs the leader's loop until `signal` aborts: rebuild from claims' status, then follow events. */
  async lead(signal: AbortSignal): Promise<void> {
    await this.synced;
    if (signal.aborted) return;
    const { logger } = this.#opts;
    const allocator = new Allocator();
    allocator.setModel(this.#snapshotModel());
    const pending = new Map<string, AllocationReason>();
    const queue = new WorkQueue((key) => this.#handle(key), {
      concurrency: this.#opts.workers,
      onError: (key, err) => logger.warn({ err, key }, 'reconcile failed'),
      onProcessed: this.#opts.onReconciled,
      metrics: this.#opts.queueMetrics,
    });
    const leading: Leading = {
      allocator,
      queue,
      pending,
      written: new Map(),
      statusWritten: new Map(),
      generations: new Map(),
      vacating: new Map(),
      vacatingBy: new Map(),
      blocked: new Map(),
    };

    // Rebuild: every VIP the allocator recorded in a claim's status is held again before anything new is handed out.
    const keys = await this.#rebuild(allocator, signal);
    if (keys === undefined) return;
    this.#leading = leading;
    this.#opts.metrics.leading(true);
    // Events that arrived while listing found no leader and were dropped: "model" re-reads pools and tenants
    // from the caches and queues every cached claim (those created during the list too); the listed ones are
    // queued as well, so a claim deleted meanwhile is released.
    queue.add('model');
    for (const key of keys) queue.add(`claim:${key}`);
    keys.length = 0; // the queue has them; the frame below lives for the whole term

    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    queue.stop();
    if (this.#leading === leading) this.#leading = undefined;
    this.#opts.metrics.leading(false);
  }

  /**
   * Adopts every VIP the allocator recorded in a claim's status (status.approved.vip), oldest claim first, and returns the claims' keys (undefined
   * when `signal` aborted first). From a fresh list, not the informer cache: a stand-by's cache may not have
   * seen the last writes of the leader it replaces, and adopting from it would hand those VIPs out a second
   * time. A method of its own so the listed objects are garbage once it returns: lead() lives as long as the
   * term, and whatever its frame holds with it.
   */
  async #rebuild(allocator: Allocator, signal: AbortSignal): Promise<string[] | undefined> {
    const { logger } = this.#opts;
    const backoff = new Backoff(WATCH_BACKOFF);
    let listed: VIPClaim[];
    for (;;) {
      try {
        listed = (
          await listAllPages((page) => this.#claimClient.list(undefined, undefined, page), {
            pageSize: this.#opts.listPageSize ?? DEFAULT_PAGE_SIZE,
            transform: trimClaim,
            onRestart: (restarts, err) =>
              logger.info({ err, restarts }, 'claim list continue token expired; listing again'),
          })
        ).items;
        break;
      } catch (err) {
        const delayMs = backoff.fail(performance.now());
        logger.warn({ err, attempt: backoff.attempts, delayMs }, 'listing claims to rebuild failed; retrying');
        if (signal.aborted) return undefined;
        await sleep(delayMs);
        if (signal.aborted) return undefined;
      }
    }
    const claims = listed.sort((a, b) => byAge(claimAge(a), claimAge(b)));
    let adopted = 0;
    for (const c of claims) {
      const r = allocator.adopt(toClaimRequest(c));
      if (r.kind === 'adopted') adopted++;
      if (r.kind === 'conflict') this.#conflict(c, r.vip, r.holder);
    }
    logger.info({ claims: claims.length, adopted, vips: allocator.size }, 'rebuilt allocations from claim status');
    return claims.map((c) => `${c.metadata.namespace}/${c.metadata.name}`);
  }

  async stop(): Promise<void> {
    this.#leading?.queue.stop();
    this.#leading = undefined;
    await Promise.all([...this.#informers().map((i) => i.stop()), this.denyList.stop()]);
  }

  /** Resolves when the leader's queue has nothing to do (tests, benchmark). */
  async idle(): Promise<void> {
    await this.#leading?.queue.idle();
  }

  #snapshotModel() {
    return validate({ pools: this.pools.list(), tenants: this.tenants.list(), denied: this.denyList.denied() });
  }

  async #handle(key: string): Promise<HandlerResult> {
    const leading = this.#leading;
    if (!leading) return done;
    const parsed = parseQueueKey(key);
    if (!parsed) {
      // Only this file adds keys, so this is a bug; retrying could not help, and dropping it must not be silent.
      this.#opts.logger.error({ key }, 'dropping a queue key of unknown kind');
      return done;
    }
    const { kind, name } = parsed;
    switch (kind) {
      case 'model':
        return this.#remodel(leading);
      case 'claim':
        return this.#reconcileClaim(leading, name);
      case 'pool':
        return this.#writePoolStatus(leading, name);
      case 'tenant':
        return this.#writeTenantStatus(leading, name);
      default:
        return assertNever(kind, 'allocator queue key kind');
    }
  }

  #remodel(leading: Leading): HandlerResult {
    leading.allocator.setModel(this.#snapshotModel());
    // Eligibility, quotas and pool contents may all have changed: decide every claim again (cheap; a write
    // happens only where the outcome changed), oldest first so freed capacity goes to who waited longest.
    const claims = [...this.claims.list()].sort((a, b) => byAge(claimAge(a), claimAge(b)));
    for (const c of claims) leading.queue.add(`claim:${c.metadata.namespace}/${c.metadata.name}`);
    this.#scheduleStatus(leading, undefined);
    return done;
  }

  /** Re-queues waiting claims, oldest first: all of them, or those of one namespace waiting for one reason. */
  #retryPending(leading: Leading, only?: { namespace: string; reason: AllocationReason }): void {
    const waiting = [...leading.pending]
      .filter(([k, reason]) => !only || (reason === only.reason && k.startsWith(`${only.namespace}/`)))
      .map(([k]) => this.#claimByKey(k))
      .filter((c): c is VIPClaim & k8s.KubernetesObject => c !== undefined)
      .sort((a, b) => byAge(claimAge(a), claimAge(b)));
    for (const c of waiting) leading.queue.add(`claim:${c.metadata.namespace}/${c.metadata.name}`);
  }

  #claimByKey(key: string): (VIPClaim & k8s.KubernetesObject) | undefined {
    const slash = key.indexOf('/');
    return this.claims.get(key.slice(slash + 1), key.slice(0, slash));
  }

  async #reconcileClaim(leading: Leading, key: string): Promise<HandlerResult> {
    const { allocator, pending, written } = leading;
    const claim = this.#claimByKey(key);
    if (!claim) {
      pending.delete(key);
      written.delete(key);
      leading.generations.delete(key);
      this.#vacated(leading, key); // the object is gone, and with it the VIP it showed
      const namespace = key.slice(0, key.indexOf('/'));
      const held = allocator.holding(key);
      const freed = allocator.release(key);
      if (freed) {
        this.#opts.logger.debug({ claim: key, vip: freed }, 'released');
        this.#retryPending(leading);
      } else if (held) {
        // It left a shared VIP: a claim refused for a port clash on it may fit now.
        this.#retryPending(leading, { namespace, reason: 'SharingConflict' });
      }
      this.#scheduleStatus(leading, key.slice(0, key.indexOf('/')));
      this.#reportState(leading);
      return done;
    }
    const request = toClaimRequest(claim);
    const adopted = allocator.adopt(request);
    if (adopted.kind === 'conflict') this.#conflict(claim, adopted.vip, adopted.holder);
    const before = allocator.holding(key)?.vip;
    const decision = allocator.assign(request);
    const after = allocator.holding(key)?.vip;
    // One VIP per claim on the apiserver too, with writes in flight in any order: note the VIP this claim's
    // status still shows and is leaving before anything else runs. (Re-queued claims below may be handled
    // right away, inside queue.add, and must see the mark.)
    const last = written.get(key);
    // The cache still shows the version our last write was based on: it has not caught up with that write.
    const stale = last !== undefined && last.baseRV === claim.metadata.resourceVersion;
    const shown = stale ? last.vip : claim.status?.vip;
    if (shown !== undefined && shown !== after) this.#vacating(leading, key, shown);
    else this.#vacated(leading, key);
    if (isPending(decision)) pending.set(key, decision.reason);
    else pending.delete(key);
    const generation = claim.metadata.generation ?? 0;
    const edited = leading.generations.get(key) !== generation;
    leading.generations.set(key, generation);
    if (before !== undefined && before !== after) {
      if (allocator.holdersOf(before).length === 0) this.#retryPending(leading);
      else this.#retryPending(leading, { namespace: claim.metadata.namespace!, reason: 'SharingConflict' });
    } else if (edited && before !== undefined && request.sharingKey !== undefined) {
      // A sharer's spec changed (ports, say): claims refused for a clash on its group may fit now.
      this.#retryPending(leading, { namespace: claim.metadata.namespace!, reason: 'SharingConflict' });
    }
    this.#reportState(leading);

    const desired = claimStatus(claim, decision, this.#now());
    if (desired.fingerprint === currentClaimFingerprint(claim) || (stale && last.fingerprint === desired.fingerprint)) {
      this.#vacated(leading, key); // the apiserver shows what we want: no other VIP
      return done;
    }
    // Wait if the VIP this claim gets is still shown by a claim leaving it.
    const wanted = desired.status.vip;
    if (wanted !== undefined && wanted !== shown && [...(leading.vacating.get(wanted) ?? [])].some((k) => k !== key)) {
      setAdd(leading.blocked, wanted, key);
      return done;
    }
    try {
      await this.#opts.writer.apply('VIPClaim', claim.metadata.name!, claim.metadata.namespace, desired.status);
    } catch (err) {
      // Not written: the apiserver still shows `shown`, which stays marked as being vacated.
      return this.#writeFailed('VIPClaim', key, err);
    }
    written.set(key, { fingerprint: desired.fingerprint, vip: wanted, baseRV: claim.metadata.resourceVersion });
    this.#vacated(leading, key);
    this.#opts.metrics.statusWrite('VIPClaim', 'ok');
    this.#opts.metrics.decided(decision.kind, decision.reason);
    this.#announce(claim, decision);
    this.#scheduleStatus(leading, claim.metadata.namespace);
    return done;
  }

  /** `key`'s status on the apiserver shows `vip`, which the allocator no longer gives it. */
  #vacating(leading: Leading, key: string, vip: string): void {
    if (leading.vacatingBy.get(key) === vip) return;
    this.#vacated(leading, key);
    leading.vacatingBy.set(key, vip);
    setAdd(leading.vacating, vip, key);
  }

  /** `key`'s status no longer shows a VIP it was leaving: claims waiting for that VIP go again. */
  #vacated(leading: Leading, key: string): void {
    const vip = leading.vacatingBy.get(key);
    if (vip === undefined) return;
    leading.vacatingBy.delete(key);
    const leaving = leading.vacating.get(vip);
    leaving?.delete(key);
    if (leaving && leaving.size > 0) return;
    leading.vacating.delete(vip);
    const waiting = leading.blocked.get(vip);
    leading.blocked.delete(vip);
    for (const k of waiting ?? []) leading.queue.add(`claim:${k}`);
  }

  #announce(claim: VIPClaim, decision: Decision): void {
    const target = {
      apiVersion: API_VERSION,
      kind: 'VIPClaim',
      name: claim.metadata.name!,
      namespace: claim.metadata.namespace,
      uid: claim.metadata.uid,
    };
    const log = this.#opts.logger.child({
      claim: `${claim.metadata.namespace}/${claim.metadata.name}`,
      reason: decision.reason,
    });
    if (decision.kind === 'allocated') {
      log.info({ vip: decision.vip, pool: decision.pool, change: decision.change }, 'allocated');
      void this.#opts.events.record(
        target,
        'Normal',
        decision.change === 'moved' ? 'VIPMoved' : 'Allocated',
        decision.message,
      );
    } else {
      log.info({ kind: decision.kind, vip: decision.kind === 'held' ? decision.vip : undefined }, decision.message);
      void this.#opts.events.record(target, 'Warning', decision.reason, decision.message);
    }
  }

  #conflict(claim: VIPClaim, vip: string, holder: string): void {
    const message = `status.vip ${vip} is also recorded by the older VIPClaim ${holder}; this claim gets a new VIP`;
    this.#opts.logger.warn({ claim: `${claim.metadata.namespace}/${claim.metadata.name}`, vip, holder }, message);
    void this.#opts.events.record(
      {
        apiVersion: API_VERSION,
        kind: 'VIPClaim',
        name: claim.metadata.name!,
        namespace: claim.metadata.namespace,
        uid: claim.metadata.uid,
      },
      'Warning',
      'VIPConflict',
      message,
    );
  }

  #writeFailed(kind: Kind, key: string, err: unknown): HandlerResult {
    if (isNotFound(err)) {
      this.#opts.metrics.statusWrite(kind, 'gone');
      return done;
    }
    this.#opts.metrics.statusWrite(kind, 'failed');
    if (isTransientApiError(err)) return retry(apiMessage(err));
    this.#opts.logger.error({ err, key, status: apiStatus(err) }, `${kind} status refused by the apiserver`);
    return done;
  }

  /** Pool and tenant status change with allocations: write them soon, at most once per debounce window. */
  #scheduleStatus(leading: Leading, namespace: string | undefined): void {
    const ms = this.#opts.statusDebounceMs;
    for (const p of this.pools.list()) leading.queue.addAfter(`pool:${p.metadata.name}`, ms);
    for (const t of this.tenants.list()) {
      if (namespace === undefined || t.spec.tenantNamespace === namespace)
        leading.queue.addAfter(`tenant:${t.metadata.name}`, ms);
    }
  }

  async #writePoolStatus(leading: Leading, name: string): Promise<HandlerResult> {
    const pool = this.pools.get(name);
    const model = leading.allocator.getModel().pools.get(name);
    if (!pool || !model) return done;
    const desired = poolStatus(model, leading.allocator.poolUsage(model), pool.status?.conditions, this.#now());
    const s = pool.status;
    const unchanged =
      s?.capacity === desired.status.capacity &&
      s?.allocated === desired.status.allocated &&
      s?.observedGeneration === desired.status.observedGeneration &&
      conditionsMatch(s?.conditions, desired.status.conditions);
    return this.#writeOwned(leading, 'VIPPool', name, undefined, desired, unchanged);
  }

  async #writeTenantStatus(leading: Leading, name: string): Promise<HandlerResult> {
    const tenant = this.tenants.get(name);
    const model = leading.allocator.getModel().tenants.get(name);
    if (!tenant || !model) return done;
    const ns = tenant.spec.tenantNamespace;
    const claims = model.usable ? this.claims.list(ns).length : 0;
    const desired = tenantStatus(
      model,
      claims,
      model.usable ? leading.allocator.tenantUsage(ns) : 0,
      tenant.status?.conditions,
      this.#now(),
    );
    const unchanged =
      tenant.status?.claims === desired.status.claims &&
      tenant.status?.vips === desired.status.vips &&
      conditionsMatch(tenant.status?.conditions, desired.status.conditions);
    return this.#writeOwned(leading, 'ConsumerCluster', name, undefined, desired, unchanged);
  }

  async #writeOwned(
    leading: Leading,
    kind: Kind,
    name: string,
    namespace: string | undefined,
    desired: OwnedStatus<object>,
    unchanged: boolean,
  ): Promise<HandlerResult> {
    const key = `${kind}/${name}`;
    if (unchanged || leading.statusWritten.get(key) === desired.fingerprint) return done;
    try {
      await this.#opts.writer.apply(kind, name, namespace, desired.status);
    } catch (err) {
      return this.#writeFailed(kind, key, err);
    }
    leading.statusWritten.set(key, desired.fingerprint);
    this.#opts.metrics.statusWrite(kind, 'ok');
    return done;
  }

  #reportState(leading: Leading): void {
    this.#opts.metrics.state(leading.allocator.size, leading.pending.size);
  }
}

function setAdd(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

function claimAge(c: VIPClaim): { created: string; name: string } {
  return { created: c.metadata.creationTimestamp ?? '', name: `${c.metadata.namespace}/${c.metadata.name}` };
}

/**
 * Claims that wait for something that may change without them changing: capacity, quota, a freed IP, a clashing
 * sharer leaving. (Pool and tenant changes re-decide every claim anyway.)
 */
function isPending(d: Decision): boolean {
  if (d.kind === 'refused') return true;
  return d.kind === 'held' && WAITING_WHILE_HELD.has(d.reason);
}

const WAITING_WHILE_HELD: ReadonlySet<AllocationReason> = new Set<AllocationReason>([
  'SharingConflict',
  'RequestedIPUnavailable',
  'PoolExhausted',
  'QuotaExceeded',
]);

function conditionsMatch(
  have: readonly { type: string; status: string; reason: string; message: string }[] | undefined,
  want: readonly { type: string; status: string; reason: string; message: string }[],
): boolean {
  return want.every((w) =>
    have?.some((h) => h.type === w.type && h.status === w.status && h.reason === w.reason && h.message === w.message),
  );
}
