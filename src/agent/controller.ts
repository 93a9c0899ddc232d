// Wires the agent: four informers (consumer Services, Nodes, EndpointSlices; this agent's VIPClaims in its tenant
// namespace), the indexes the reconciler asks, the triggers that turn events into work-queue keys, and the
// start-up sweep. Only the leader runs a controller.
//
// Triggers:
// - a Service event (ours, or carrying our finalizer, or with a claim) queues its key at once;
// - a claim event queues its Service's key at once (that is how the VIP comes back);
// - a Node change that matters to backends (readiness, InternalIP, exclusion label, zone, autoscaler taint)
//   queues every served Service after the debounce window; heartbeat-only Node updates queue nothing;
// - an EndpointSlice change queues its Service after the debounce window, and only for eTP Local Services whose
//   per-node endpoint summary actually changed, so a rolling update costs a reconcile per real change at most.
import * as k8s from '@kubernetes/client-node';
import type { VIPClaim } from '../api/v1alpha1.ts';
import { resourceClient } from '../kube/custom-objects.ts';
import type { EventRecorder } from '../kube/events.ts';
import { nodeInformer } from '../kube/cluster-informers.ts';
import { createInformer, type TypedInformer } from '../kube/informer.ts';
import { WorkQueue, type WorkQueueOptions } from '../kube/workqueue.ts';
import type { Logger } from '../shared/logger.ts';
import { localEndpointsByNode, nodeCandidate } from '../core/agent/backends.ts';
import { FINALIZER, claimSelector } from '../core/agent/naming.ts';
import { canonical, type AgentIdentity } from '../core/agent/plan.ts';
import { selectService } from '../core/agent/selection.ts';
import { parseServiceKey, serviceKey, type EndpointSliceView, type ServiceView } from '../core/agent/views.ts';
import { ASSUME_CURRENT, capabilitiesOf, type ConsumerCapabilities } from '../core/agent/capabilities.ts';
import { apiMessage } from '../kube/client.ts';
import { FreshCache } from './fresh-cache.ts';
import type { AgentMetrics } from './metrics.ts';
import { claimPort, serviceView, servicePort } from './ports.ts';
import { ServiceReconciler } from './reconciler.ts';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const REDISCOVERY_MS = 10 * 60_000;

/** The consumer apiserver's version and what it implies (capabilities.ts); undefined when it cannot be asked. */
async function discoverCapabilities(
  consumer: k8s.KubeConfig,
  logger: Logger,
): Promise<ConsumerCapabilities | undefined> {
  try {
    const info = await consumer.makeApiClient(k8s.VersionApi).getCode();
    const caps = capabilitiesOf(info.gitVersion);
    logger.info({ kubernetes: caps.version, ipMode: caps.ipMode }, 'consumer cluster discovered');
    return caps;
  } catch (err) {
    logger.warn(
      { err: apiMessage(err) },
      'consumer cluster version unknown; assuming ipMode until a status write shows otherwise',
    );
    return undefined;
  }
}

export interface AgentControllerOptions {
  consumer: k8s.KubeConfig;
  lb: k8s.KubeConfig;
  identity: AgentIdentity;
  debounceMs: number;
  resyncMs: number;
  rejectionRetryMs: number;
  concurrency: number;
  events: EventRecorder;
  metrics: AgentMetrics;
  logger: Logger;
  /** Reconcile latency (src/kube/reconcile-metrics.ts). */
  onReconciled?: WorkQueueOptions['onProcessed'];
  /** client-go's workqueue metrics (src/kube/workqueue-metrics.ts). */
  queueMetrics?: WorkQueueOptions['metrics'];
}

export class AgentController {
  readonly #opts: AgentControllerOptions;
  #informers: Array<TypedInformer<never>> = [];
  #queue: WorkQueue | undefined;
  #running = false;
  readonly #claimIndex = new Map<string, Set<string>>();
  readonly #sliceIndex = new Map<string, Map<string, EndpointSliceView>>();
  readonly #endpointDigests = new Map<string, string>();
  readonly #nodeDigests = new Map<string, string>();
  /** Every Service key we serve or hold a claim for; set once the caches are synced. */
  #allKeys: () => Set<string> = () => new Set();
  #capabilities: ConsumerCapabilities = ASSUME_CURRENT;

  /** What the agent found of the consumer cluster; undefined until it could ask (heartbeats report it). */
  get consumerCluster(): ConsumerCapabilities | undefined {
    return this.#capabilities === ASSUME_CURRENT ? undefined : this.#capabilities;
  }
  #rediscovery: NodeJS.Timeout | undefined;

  constructor(opts: AgentControllerOptions) {
    this.#opts = opts;
  }

  /** Starts the informers, waits for their first lists, sweeps every Service and claim, then follows events. */
  async start(signal?: AbortSignal): Promise<void> {
    const { consumer, lb, identity, logger } = this.#opts;
    const core = consumer.makeApiClient(k8s.CoreV1Api);
    const discovery = consumer.makeApiClient(k8s.DiscoveryV1Api);
    const claimsApi = resourceClient<VIPClaim>(lb, 'VIPClaim');
    const selector = claimSelector(identity.cluster);
    const resyncMs = this.#opts.resyncMs;

    const services = createInformer<k8s.V1Service>({
      kubeConfig: consumer,
      path: '/api/v1/services',
      list: () => core.listServiceForAllNamespaces(),
      resyncMs,
      logger: logger.child({ informer: 'services' }),
    });
    const nodes = nodeInformer(consumer, { logger: logger.child({ informer: 'nodes' }) });
    const slices = createInformer<k8s.V1EndpointSlice>({
      kubeConfig: consumer,
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      list: () => discovery.listEndpointSliceForAllNamespaces(),
      logger: logger.child({ informer: 'endpointslices' }),
    });
    const claims = createInformer<VIPClaim & k8s.KubernetesObject>({
      kubeConfig: lb,
      path: claimsApi.path(identity.tenantNamespace),
      list: () =>
        claimsApi.list(identity.tenantNamespace, selector) as Promise<
          k8s.KubernetesListObject<VIPClaim & k8s.KubernetesObject>
        >,
      labelSelector: selector,
      resyncMs,
      logger: logger.child({ informer: 'vipclaims' }),
    });
    this.#informers = [services, nodes, slices, claims] as Array<TypedInformer<never>>;

    const serviceCache = new FreshCache<ServiceView>((name, ns) => {
      const s = services.get(name, ns);
      return s ? serviceView(s) : undefined;
    });
    const claimCache = new FreshCache<VIPClaim>((name, ns) => claims.get(name, ns));
    this.#capabilities = (await discoverCapabilities(consumer, logger)) ?? ASSUME_CURRENT;
    this.#opts.metrics.consumerCapabilities(this.#capabilities);
    // An upgraded consumer apiserver (1.29 → 1.30 gains ipMode) is noticed without restarting the agent.
    this.#rediscovery = setInterval(() => {
      void discoverCapabilities(consumer, logger).then((found) => {
        if (!found || found.version === this.#capabilities.version) return;
        logger.info(
          { from: this.#capabilities.version, to: found.version },
          'consumer cluster Kubernetes version changed',
        );
        this.#adopt(found);
      });
    }, REDISCOVERY_MS);
    this.#rediscovery.unref();
    const reconciler = new ServiceReconciler({
      identity,
      cluster: () => this.#capabilities,
      ipModeDropped: () => {
        if (!this.#capabilities.ipMode) return;
        logger.warn(
          { kubernetes: this.#capabilities.version },
          'the consumer cluster drops status.loadBalancer.ingress[].ipMode (LoadBalancerIPMode off): Services get kube-lb.io/IPModeProxy=False; see docs/compatibility.md#ipmode',
        );
        this.#adopt({ ...this.#capabilities, ipMode: false });
      },
      services: serviceCache,
      claims: claimCache,
      claimNamesFor: (key) => this.#claimIndex.get(key) ?? [],
      nodes: () => nodes.list(),
      slicesFor: (key) => [...(this.#sliceIndex.get(key)?.values() ?? [])],
      servicePort: servicePort(consumer),
      claimPort: claimPort(lb, identity.tenantNamespace),
      events: this.#opts.events,
      metrics: this.#opts.metrics,
      logger,
      rejectionRetryMs: this.#opts.rejectionRetryMs,
    });
    const queue = new WorkQueue(reconciler.handle, {
      concurrency: this.#opts.concurrency,
      maxBackoffMs: 5_000,
      onError: (key, err) => logger.error({ err, service: key }, 'reconcile threw'),
      onProcessed: this.#opts.onReconciled,
      metrics: this.#opts.queueMetrics,
    });
    this.#queue = queue;

    const served = (svc: ServiceView): boolean => {
      const key = keyOf(svc);
      return (
        selectService(svc, identity).ours ||
        svc.metadata?.finalizers?.includes(FINALIZER) === true ||
        this.#claimIndex.has(key)
      );
    };
    const later = (key: string): void => {
      if (this.#running) queue.addAfter(key, this.#opts.debounceMs);
    };
    const now = (key: string): void => {
      if (this.#running) queue.add(key);
    };

    const serviceEvent = (raw: k8s.V1Service): void => {
      const s = serviceView(raw);
      if (served(s)) now(keyOf(s));
    };
    services.on({ onUpsert: serviceEvent, onDelete: serviceEvent });
    const ourServices = (): ServiceView[] =>
      services
        .list()
        .map(serviceView)
        .filter((s) => selectService(s, identity).ours);
    claims.on({
      onUpsert: (c) => {
        const key = this.#indexClaim(c, true);
        if (key) now(key);
      },
      onDelete: (c) => {
        const key = this.#indexClaim(c, false);
        if (key) now(key);
      },
    });
    const nodeChanged = (node: k8s.V1Node, deleted: boolean): void => {
      const name = node.metadata?.name ?? '';
      const digest = deleted ? undefined : canonical(nodeCandidate(node));
      if (this.#nodeDigests.get(name) === digest) return;
      if (digest === undefined) this.#nodeDigests.delete(name);
      else this.#nodeDigests.set(name, digest);
      for (const s of ourServices()) later(keyOf(s));
    };
    nodes.on({ onUpsert: (n) => nodeChanged(n, false), onDelete: (n) => nodeChanged(n, true) });
    const sliceChanged = (slice: k8s.V1EndpointSlice, deleted: boolean): void => {
      const key = this.#indexSlice(slice, deleted);
      if (!key) return;
      const { namespace, name } = parseServiceKey(key);
      const raw = services.get(name, namespace);
      const svc = raw && serviceView(raw);
      if (svc?.spec?.externalTrafficPolicy !== 'Local' || !selectService(svc, identity).ours) return;
      const digest = canonical([...localEndpointsByNode([...(this.#sliceIndex.get(key)?.values() ?? [])])].sort());
      if (this.#endpointDigests.get(key) === digest) return;
      this.#endpointDigests.set(key, digest);
      later(key);
    };
    slices.on({ onUpsert: (s) => sliceChanged(s, false), onDelete: (s) => sliceChanged(s, true) });

    await Promise.all(this.#informers.map((i) => i.start()));
    await Promise.race([
      Promise.all(this.#informers.map((i) => i.synced)),
      new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true })),
    ]);
    if (signal?.aborted) return;
    for (const n of nodes.list()) this.#nodeDigests.set(n.metadata?.name ?? '', canonical(nodeCandidate(n)));

    // The sweep: every Service we serve or once served and every claim we hold, so what changed while no agent
    // was leading (Services created, deleted, re-classed; claims orphaned) is put right now.
    this.#running = true;
    this.#allKeys = () => {
      const keys = new Set<string>();
      for (const s of services.list().map(serviceView)) if (served(s)) keys.add(keyOf(s));
      for (const key of this.#claimIndex.keys()) keys.add(key);
      return keys;
    };
    const keys = this.#allKeys();
    logger.info(
      { services: keys.size, claims: claims.list().length, nodes: nodes.list().length },
      'caches synced; reconciling everything once',
    );
    for (const key of keys) queue.add(key);
  }

  /**
   * Reconciles every Service again now, e.g. when the LB cluster is reachable again after an outage: keys that
   * were backing off are retried at once (adding a key cancels its backoff timer).
   */
  /** Services are queued or being reconciled (Normal Events wait meanwhile: src/kube/paced-events.ts). */
  get busy(): boolean {
    return this.#queue?.busy ?? false;
  }

  kick(): void {
    if (!this.#running) return;
    for (const key of this.#allKeys()) this.#queue?.add(key);
  }

  /** Resolves when no key is queued or being processed. */
  async idle(): Promise<void> {
    await this.#queue?.idle();
  }

  /** New knowledge of the consumer cluster: the metric says it, and every Service is planned again with it. */
  #adopt(caps: ConsumerCapabilities): void {
    this.#capabilities = caps;
    this.#opts.metrics.consumerCapabilities(caps);
    this.kick();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#queue?.stop();
    clearInterval(this.#rediscovery);
    await this.#queue?.idle();
    await Promise.all(this.#informers.map((i) => i.stop()));
  }

  #indexClaim(c: VIPClaim, present: boolean): string | undefined {
    const ref = c.spec?.service;
    const name = c.metadata?.name;
    if (!ref?.namespace || !ref.name || !name) return undefined;
    const key = serviceKey(ref.namespace, ref.name);
    const names = this.#claimIndex.get(key) ?? new Set<string>();
    if (present) names.add(name);
    else names.delete(name);
    if (names.size > 0) this.#claimIndex.set(key, names);
    else this.#claimIndex.delete(key);
    return key;
  }

  #indexSlice(slice: k8s.V1EndpointSlice, deleted: boolean): string | undefined {
    const svcName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    const sliceName = slice.metadata?.name;
    if (!svcName || !sliceName) return undefined;
    const key = serviceKey(slice.metadata?.namespace ?? '', svcName);
    const byName = this.#sliceIndex.get(key) ?? new Map<string, EndpointSliceView>();
    if (deleted) byName.delete(sliceName);
    else byName.set(sliceName, slice);
    if (byName.size > 0) this.#sliceIndex.set(key, byName);
    else {
      this.#sliceIndex.delete(key);
      this.#endpointDigests.delete(key);
    }
    return key;
  }
}

function keyOf(svc: ServiceView): string {
  return serviceKey(svc.metadata?.namespace ?? '', svc.metadata?.name ?? '');
}
