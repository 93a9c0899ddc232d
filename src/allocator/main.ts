// kube-lb allocator: runs in the LB cluster, owns every VIP. Two replicas: both keep their informers warm, the
// Lease holder alone decides and writes claim, pool and tenant status. Every replica serves the validating
// webhook (it only reads caches), so admission keeps working through a leader change.
import { setFlagsFromString } from 'node:v8';
import { loadApiKubeConfig, type ApiClientOptions } from '../kube/api-client.ts';
import { createEventRecorder } from '../kube/events.ts';
import { startLeadership } from '../kube/leadership.ts';
import { PacedEvents } from '../kube/paced-events.ts';
import { reconcileDurationObserver } from '../kube/reconcile-metrics.ts';
import { workQueueMetrics } from '../kube/workqueue-metrics.ts';
import { listenAddress } from '../shared/host-port.ts';
import { startMemoryTrim } from '../shared/memory-trim.ts';
import { startProgram } from '../shared/program.ts';
import { AllocatorController } from './controller.ts';
import { registerInventoryMetrics } from './inventory-metrics.ts';
import { createAllocatorMetrics } from './metrics.ts';
import { ALLOCATOR_OPTIONS } from './options.ts';
import { createStatusWriter } from './status-writer.ts';
import { startWebhook, type RunningWebhook } from './webhook/start.ts';

// The allocator's live set is small (68 MB holding 13,000 claims, 185 MB holding 63,000, after a full GC), but
// every watch event and status write leaves garbage, and V8's default heap growth let the heap reach 360 MB of mostly
// garbage at 13,000 claims (RSS 472 MB). The heap grows by 20 % over the live set instead, and the young generation
// stays small. --optimize-for-size kept RSS lower (186 MB at 13,000) but slowed the allocator so much that a burst
// of 1,000 Services through the agent took 9 s at p99 instead of 1.4 s (docs/allocator.md#measured).
setFlagsFromString('--heap-growing-percent=20');
setFlagsFromString('--max-semi-space-size=4');
const program = startProgram({ name: 'allocator', options: ALLOCATOR_OPTIONS });
const { config, logger, registry, identity } = program;
const metrics = createAllocatorMetrics(registry);
const clientOptions: ApiClientOptions = {
  timeoutMs: config['request-timeout'],
  userAgent: program.userAgent,
  onRequest: (info) => metrics.apiRequest(info),
};
const kubeConfig = loadApiKubeConfig({ kubeconfig: config.kubeconfig }, clientOptions);

const controller = new AllocatorController({
  kubeConfig,
  writer: createStatusWriter(kubeConfig),
  events: new PacedEvents({
    recorder: createEventRecorder({ kubeConfig, component: 'kube-lb-allocator', instance: identity, logger }),
    concurrency: 2,
    maxBacklog: 1000,
    onDropped: () => metrics.eventDropped(),
    // The controller is made with these Events; it exists before any Event is recorded.
    busy: (): boolean => controller.busy,
  }),
  metrics,
  logger,
  workers: config.workers,
  resyncMs: config.resync,
  statusDebounceMs: config['status-debounce'],
  onReconciled: reconcileDurationObserver(registry, 'allocator'),
  queueMetrics: workQueueMetrics(registry, 'allocator'),
  namespace: config.namespace,
});
registerInventoryMetrics(registry, {
  pools: () => controller.pools.list(),
  tenants: () => controller.tenants.list(),
  claims: () => controller.claims.list(),
});

let synced = false;
let webhook: RunningWebhook | undefined;

await program.serveStatus(config['metrics-bind-address'], {
  readiness: [
    { name: 'caches', check: () => (synced ? undefined : 'informers not synced') },
    { name: 'webhook', check: () => (!config.webhook || webhook ? undefined : 'webhook not serving') },
  ],
});

program.starting({
  identity,
  namespace: config.namespace,
  leaderElection: config['leader-elect'],
  webhook: config.webhook,
});
await controller.startInformers();
synced = true;
logger.info('informers synced');

if (config.webhook) {
  webhook = await startWebhook({
    kubeConfig,
    controller,
    namespace: config.namespace,
    bind: listenAddress(config['webhook-bind-address']),
    url: config['webhook-url'],
    service: config['webhook-service'],
    configurationName: config['webhook-configuration'],
    secretName: config['webhook-secret'],
    certDir: config['webhook-cert-dir'],
    metrics,
    logger: logger.child({ part: 'webhook' }),
  });
}

startLeadership(program, {
  kubeconfig: { kubeconfig: config.kubeconfig },
  client: clientOptions,
  namespace: config.namespace,
  lead: (signal) => controller.lead(signal),
});

// After a burst (thousands of claims at once), the heap is given back once the queue is idle
// (src/shared/memory-trim.ts).
const trim = startMemoryTrim({ busy: () => controller.busy, logger });

program.stopOnSignals(
  () => webhook?.close(),
  () => controller.stop(),
  () => trim.stop(),
);
