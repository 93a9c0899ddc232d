// kube-lb agent: runs in a consumer cluster, turns its LoadBalancer Services into VIPClaims in its tenant namespace
// of the LB cluster, and writes the VIP and conditions back. Two replicas, one leading (a Lease in the consumer
// cluster); only the leader watches, writes and heartbeats.
import * as k8s from '@kubernetes/client-node';
import { loadApiKubeConfig, type ApiClientOptions } from '../kube/api-client.ts';
import { apiMessage } from '../kube/client.ts';
import { createEventRecorder } from '../kube/events.ts';
import { startLeadership } from '../kube/leadership.ts';
import { PacedEvents } from '../kube/paced-events.ts';
import { reconcileDurationObserver } from '../kube/reconcile-metrics.ts';
import { workQueueMetrics } from '../kube/workqueue-metrics.ts';
import { ConfigError, KubeLbError } from '../shared/errors.ts';
import { startProgram } from '../shared/program.ts';
import { AgentController } from './controller.ts';
import { Heartbeat } from './heartbeat.ts';
import { createAgentMetrics } from './metrics.ts';
import { AGENT_OPTIONS } from './options.ts';

const program = startProgram({ name: 'agent', options: AGENT_OPTIONS });
const { config, logger, registry, identity, version } = program;
const metrics = createAgentMetrics(registry);
const clientOptions = (cluster: 'consumer' | 'lb'): ApiClientOptions => ({
  timeoutMs: config['request-timeout'],
  userAgent: program.userAgent,
  onRequest: (info) => metrics.apiRequest(cluster, info),
});

const consumer = loadApiKubeConfig({ kubeconfig: config.kubeconfig }, clientOptions('consumer'));
const lb = await loadLbKubeConfig();

async function loadLbKubeConfig(): Promise<k8s.KubeConfig> {
  const secret = config['lb-kubeconfig-secret'];
  const file = config['lb-kubeconfig'];
  if (!secret === !file)
    throw new ConfigError('lb-kubeconfig', file, 'set exactly one of --lb-kubeconfig and --lb-kubeconfig-secret');
  if (file) return loadApiKubeConfig({ kubeconfig: file }, clientOptions('lb'));
  const [namespace, name] = secret!.split('/') as [string, string];
  try {
    const s = await consumer.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ name, namespace });
    const data = s.data?.kubeconfig;
    if (!data)
      throw new KubeLbError('LB_CREDENTIALS', 'the Secret has no "kubeconfig" key', {
        object: { kind: 'Secret', namespace, name, field: 'data.kubeconfig' },
      });
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
    // The controller is made with these Events; it exists before any Event is recorded.
    busy: (): boolean => controller.busy,
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

async function lead(signal: AbortSignal): Promise<void> {
  leading = true;
  metrics.leading(true);
  heartbeat.start();
  await controller.start(signal);
  synced = !signal.aborted;
}

await program.serveStatus(config['metrics-bind-address'], {
  readiness: [{ name: 'caches', check: () => (leading && !synced ? 'leader waiting for caches' : undefined) }],
});

program.starting({
  cluster: config['cluster-name'],
  tenantNamespace: config['tenant-namespace'],
  identity,
  leaderElection: config['leader-elect'],
});
startLeadership(program, {
  kubeconfig: { kubeconfig: config.kubeconfig },
  client: clientOptions('consumer'),
  namespace: config['leader-election-namespace'],
  lead,
  onStoppedLeading: () => metrics.leading(false),
});

program.stopOnSignals(
  () => heartbeat.stop(),
  () => controller.stop(),
);
