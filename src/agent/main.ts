// kube-lb agent: runs in a consumer cluster, turns its LoadBalancer Services into VIPClaims in its tenant namespace
// of the LB cluster, and writes the VIP and conditions back. Two replicas, one leading (a Lease in the consumer
// cluster); only the leader watches, writes and heartbeats.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { loadApiKubeConfig, type ApiClientOptions } from '../kube/api-client.ts';
import { apiMessage } from '../kube/client.ts';
import { createEventRecorder } from '../kube/events.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { describeOptions, parseConfig, type ConfigOf } from '../shared/config.ts';
import { ConfigError, KubeLbError } from '../shared/errors.ts';
import { startStatusServer, type StatusServer } from '../shared/http-status.ts';
import { createLogger, type LogLevel } from '../shared/logger.ts';
import { createRegistry } from '../shared/metrics.ts';
import { reconcileDurationObserver } from '../kube/reconcile-metrics.ts';
import { workQueueMetrics } from '../kube/workqueue-metrics.ts';
import { PacedEvents } from '../kube/paced-events.ts';
import { AgentController } from './controller.ts';
import { Heartbeat } from './heartbeat.ts';
import { createAgentMetrics } from './metrics.ts';
import { AGENT_OPTIONS } from './options.ts';

const here = dirname(fileURLToPath(import.meta.url));
const version = (JSON.parse(readFileSync(join(here, '../../package.json'), 'utf8')) as { version: string }).version;

function parseFlags(): ConfigOf<typeof AGENT_OPTIONS> {
  try {
    return parseConfig(AGENT_OPTIONS, process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${err.message}\n\nusage: kube-lb agent [flags]\n${describeOptions(AGENT_OPTIONS)}`);
      process.exit(2);
    }
    throw err;
  }
}
if (process.argv.includes('--help')) {
  console.log(`kube-lb agent ${version}\n${describeOptions(AGENT_OPTIONS)}`);
  process.exit(0);
}
const config = parseFlags();

const logger = createLogger({ program: 'agent', level: config['log-level'] as LogLevel });
const registry = createRegistry('agent');
const metrics = createAgentMetrics(registry);
const identity = config.identity ?? `${hostname()}-${process.pid}`;
const clientOptions = (cluster: 'consumer' | 'lb'): ApiClientOptions => ({
  timeoutMs: config['request-timeout'],
  userAgent: `kube-lb-agent/${version}`,
  onRequest: (info) => metrics.apiRequest(cluster, info),
});

const consumer = loadApiKubeConfig({ kubeconfig: config.kubeconfig }, clientOptions('consumer'));
const lb = await loadLbKubeConfig();

async function loadLbKubeConfig(): Promise<k8s.KubeConfig> {
  const secret = config['lb-kubeconfig-secret'];
  const file = config['lb-kubeconfig'];
  if (!secret === !file) throw new ConfigError('lb-kubeconfig', file, 'set exactly one of --lb-kubeconfig and --lb-kubeconfig-secret');
  if (file) return loadApiKubeConfig({ kubeconfig: file }, clientOptions('lb'));
  const [namespace, name] = secret!.split('/') as [string, string];
  try {
    const s = await consumer.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ name, namespace });
    const data = s.data?.['kubeconfig'];
    if (!data) throw new KubeLbError('LB_CREDENTIALS', 'the Secret has no "kubeconfig" key', { object: { kind: 'Secret', namespace, name, field: 'data.kubeconfig' } });
    return loadApiKubeConfig({ text: Buffer.from(data, 'base64').toString('utf8') }, clientOptions('lb'));
  } catch (err) {
    throw new KubeLbError('LB_CREDENTIALS', `reading the LB kubeconfig from Secret ${secret}: ${apiMessage(err)}`, {
      object: { kind: 'Secret', namespace, name },
      cause: err,
    });
  }
}

const controller = new AgentController({
  consumer,
  lb,
  identity: {
    cluster: config['cluster-name'],
    tenantNamespace: config['tenant-namespace'],
    defaultClass: config['default-class'],
  },
  debounceMs: config.debounce,
  resyncMs: config.resync,
  rejectionRetryMs: config['rejection-retry'],
  concurrency: config.concurrency,
  events: new PacedEvents({
    recorder: createEventRecorder({ kubeConfig: consumer, component: 'kube-lb-agent', instance: identity, logger }),
    concurrency: 2,
    maxBacklog: 1000,
    onDropped: () => metrics.eventDropped(),
  }),
  metrics,
  logger,
  onReconciled: reconcileDurationObserver(registry, 'agent'),
  queueMetrics: workQueueMetrics(registry, 'agent'),
});
const heartbeat = new Heartbeat({
  kubeConfig: lb,
  cluster: config['cluster-name'],
  version,
  periodMs: config['heartbeat-period'],
  metrics,
  logger,
  onRecovered: () => {
    logger.info('LB cluster reachable again; reconciling everything');
    controller.kick();
  },
  consumer: () => controller.consumerCluster,
});

let leading = false;
let synced = false;
let shuttingDown = false;

async function lead(signal: AbortSignal): Promise<void> {
  leading = true;
  metrics.leading(true);
  heartbeat.start();
  await controller.start(signal);
  synced = !signal.aborted;
}

let statusServer: StatusServer | undefined;
const bind = config['metrics-bind-address'];
if (bind !== '0') {
  const colon = bind.lastIndexOf(':');
  statusServer = await startStatusServer({
    host: bind.slice(0, colon) || '0.0.0.0',
    port: Number(bind.slice(colon + 1)),
    registry,
    readiness: [{ name: 'caches', check: () => (leading && !synced ? 'leader waiting for caches' : undefined) }],
    logger,
  });
  logger.info({ port: statusServer.port }, 'status server listening');
}

// Lease requests get a deadline of a third of the renew deadline, so one hung request leaves time for retries
// before the leader has to step down (and exit).
const leaseTimeoutMs = Math.max(500, Math.min(config['request-timeout'], Math.floor(config['renew-deadline'] / 3)));
const elector = config['leader-elect']
  ? new LeaderElector({
      kubeConfig: loadApiKubeConfig({ kubeconfig: config.kubeconfig }, { ...clientOptions('consumer'), timeoutMs: leaseTimeoutMs }),
      namespace: config['leader-election-namespace'],
      name: config['leader-election-id'],
      identity,
      leaseDurationMs: config['lease-duration'],
      renewDeadlineMs: config['renew-deadline'],
      retryPeriodMs: config['retry-period'],
      logger,
      onStartedLeading: lead,
      onStoppedLeading: () => {
        metrics.leading(false);
        if (shuttingDown) return;
        // A replica that lost the Lease may be behind on everything: start over clean, as client-go programs do.
        logger.error('lost the leader Lease; exiting so a fresh process campaigns again');
        process.exit(1);
      },
    })
  : undefined;

logger.info(
  { version, cluster: config['cluster-name'], tenantNamespace: config['tenant-namespace'], identity, leaderElection: !!elector },
  'kube-lb agent starting',
);
if (elector) elector.start();
else void lead(new AbortController().signal);

async function shutdown(sig: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal: sig }, 'shutting down');
  heartbeat.stop();
  await controller.stop();
  await elector?.stop();
  await statusServer?.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
