// kube-lb allocator: runs in the LB cluster, owns every VIP. Two replicas: both keep their informers warm, the
// Lease holder alone decides and writes claim, pool and tenant status. Every replica serves the validating
// webhook (it only reads caches), so admission keeps working through a leader change.
import { hostname } from 'node:os';
import { loadApiKubeConfig } from '../kube/api-client.ts';
import { createEventRecorder } from '../kube/events.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { startStatusServer, type StatusServer } from '../shared/http-status.ts';
import { createLogger, type LogLevel } from '../shared/logger.ts';
import { createRegistry } from '../shared/metrics.ts';
import { reconcileDurationObserver } from '../kube/reconcile-metrics.ts';
import { workQueueMetrics } from '../kube/workqueue-metrics.ts';
import { packageVersion, parseFlagsOrExit } from '../shared/program.ts';
import { AllocatorController } from './controller.ts';
import { registerInventoryMetrics } from './inventory-metrics.ts';
import { createAllocatorMetrics } from './metrics.ts';
import { ALLOCATOR_OPTIONS } from './options.ts';
import { PacedEvents } from '../kube/paced-events.ts';
import { createStatusWriter } from './status-writer.ts';
import { startWebhook, type RunningWebhook } from './webhook/start.ts';

const version = packageVersion();
const config = parseFlagsOrExit('allocator', ALLOCATOR_OPTIONS, version);

const logger = createLogger({ program: 'allocator', level: config['log-level'] as LogLevel });
const registry = createRegistry('allocator');
const metrics = createAllocatorMetrics(registry);
const identity = config.identity ?? `${hostname()}-${process.pid}`;
const kubeConfig = loadApiKubeConfig(
  { kubeconfig: config.kubeconfig },
  { timeoutMs: config['request-timeout'], userAgent: `kube-lb-allocator/${version}`, onRequest: (info) => metrics.apiRequest(info) },
);

const controller = new AllocatorController({
  kubeConfig,
  writer: createStatusWriter(kubeConfig),
  events: new PacedEvents({
    recorder: createEventRecorder({ kubeConfig, component: 'kube-lb-allocator', instance: identity, logger }),
    concurrency: 2,
    maxBacklog: 1000,
    onDropped: () => metrics.eventDropped(),
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
let shuttingDown = false;
let webhook: RunningWebhook | undefined;

const hostAndPort = (v: string): { host: string; port: number } => {
  const colon = v.lastIndexOf(':');
  return { host: v.slice(0, colon) || '0.0.0.0', port: Number(v.slice(colon + 1)) };
};

let statusServer: StatusServer | undefined;
if (config['metrics-bind-address'] !== '0') {
  statusServer = await startStatusServer({
    ...hostAndPort(config['metrics-bind-address']),
    registry,
    readiness: [
      { name: 'caches', check: () => (synced ? undefined : 'informers not synced') },
      { name: 'webhook', check: () => (!config.webhook || webhook ? undefined : 'webhook not serving') },
    ],
    logger,
  });
  logger.info({ port: statusServer.port }, 'status server listening');
}

logger.info({ version, identity, namespace: config.namespace, leaderElection: config['leader-elect'], webhook: config.webhook }, 'kube-lb allocator starting');
await controller.startInformers();
synced = true;
logger.info('informers synced');

if (config.webhook) {
  webhook = await startWebhook({
    kubeConfig,
    controller,
    namespace: config.namespace,
    bind: hostAndPort(config['webhook-bind-address']),
    url: config['webhook-url'],
    service: config['webhook-service'],
    configurationName: config['webhook-configuration'],
    secretName: config['webhook-secret'],
    certDir: config['webhook-cert-dir'],
    metrics,
    logger: logger.child({ part: 'webhook' }),
  });
}

const elector = config['leader-elect']
  ? new LeaderElector({
      kubeConfig,
      namespace: config.namespace,
      name: config['leader-election-id'],
      identity,
      leaseDurationMs: config['lease-duration'],
      renewDeadlineMs: config['renew-deadline'],
      retryPeriodMs: config['retry-period'],
      logger,
      onStartedLeading: (signal) => controller.lead(signal),
      onStoppedLeading: () => {
        if (shuttingDown) return;
        // A replica that lost the Lease may hold decisions it could not write: start over clean, and let the
        // new leader rebuild from the claims' status.
        logger.error('lost the leader Lease; exiting so a fresh process campaigns again');
        process.exit(1);
      },
    })
  : undefined;
if (elector) elector.start();
else void controller.lead(new AbortController().signal);

async function shutdown(sig: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal: sig }, 'shutting down');
  await elector?.stop();
  await webhook?.close();
  await controller.stop();
  await statusServer?.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
