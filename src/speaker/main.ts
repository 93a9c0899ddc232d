// kube-lb speaker: runs on every LB node (privileged, host network). It programs every served VIPClaim into
// the node's Cilium lb4 maps, answers ARP for the VIPs this node owns, health-checks the backends from here,
// publishes what it holds on its node-state Lease, and writes the status of the claims whose VIP it owns.
//   node src/speaker/main.ts --node-name lb-1 --kubeconfig K [--map-dir DIR] [--state-socket PATH] ...
// SIGTERM hands the VIPs over to the other LB nodes before exiting; the map entries stay (a restart must not
// disturb traffic), and the next speaker re-adopts them.
import { performance } from 'node:perf_hooks';
import type { VIPClaim } from '../api/v1alpha1.ts';
import { loadApiKubeConfig } from '../kube/api-client.ts';
import { resourceClient } from '../kube/custom-objects.ts';
import { createEventRecorder } from '../kube/events.ts';
import { tokenAuthorizer } from '../kube/request-auth.ts';
import { metricsOn } from '../shared/metrics.ts';
import { startProgram, type StatusEndpoints } from '../shared/program.ts';
import { ClusterView } from './cluster-view.ts';
import { SpeakerController } from './controller.ts';
import { declaredProtoDiff, parseCiliumConfig } from '../core/cilium/config.ts';
import { readCiliumConfigDir } from './cilium-config-dir.ts';
import { openLb4Maps, watchPinDirectory, type OpenedLb4Maps } from './dataplane/native-maps.ts';
import { DataplaneReconciler } from './dataplane/reconciler.ts';
import { openChangeFeed } from './dataplane/change-feed.ts';
import { HealthChecker } from './health/checker.ts';
import { addressInUseEvents, announcementEvents } from './events.ts';
import { registerDataplaneMetrics } from './metrics.ts';
import { bgpMetrics, buildBgpSpeaker } from './bgp/wiring.ts';
import type { BgpSpeaker } from './bgp/speaker.ts';
import { buildL2Speaker } from './l2/wiring.ts';
import type { L2Speaker } from './l2/speaker.ts';
import { SPEAKER_OPTIONS } from './options.ts';
import { NodeStatePublisher } from './state/node-state.ts';
import { ClaimStatusWriter } from './status/claim-status.ts';

const program = startProgram({
  name: 'speaker',
  options: SPEAKER_OPTIONS,
  logFields: (config) => ({ node: config['node-name'] }),
});
const { config, logger, registry, version } = program;
const nodeName = config['node-name'];
const now = (): number => performance.now();

const metrics = metricsOn(registry);
const apiRequests = metrics.counter('kube_lb_speaker_api_requests_total', 'API requests by method and resource.', [
  'method',
  'resource',
]);
const kubeConfig = loadApiKubeConfig(
  { kubeconfig: config.kubeconfig },
  {
    timeoutMs: config['request-timeout'],
    userAgent: program.userAgent,
    onRequest: (info) => apiRequests.inc({ method: info.method, resource: info.resource }),
  },
);

// Cilium's configuration says what the datapath does with kube-lb's entries (algorithm, maglev table size and
// seed, forwarding mode, ...); it is read once: Cilium itself applies a changed ConfigMap only on restart.
const ciliumConfigDir = config['cilium-config-dir'];
const ciliumEntries = readCiliumConfigDir(ciliumConfigDir);
const openMaps = (ciliumVersion: string): OpenedLb4Maps =>
  openLb4Maps({
    dir: config['map-dir'],
    ciliumVersion,
    protoDiff: declaredProtoDiff(ciliumEntries),
    cilium: (line) => parseCiliumConfig(ciliumEntries, line, ciliumConfigDir),
  });
const opened = openMaps(config['cilium-version']);
const cilium = opened.cilium!;
const changes = config['change-events'] ? openChangeFeed({ writeBack: config['kernel-write-back'] }) : undefined;
const dataplane = new DataplaneReconciler({
  changes,
  verifyPeriodMs: config['verify-period'],
  maps: opened.maps,
  pins: opened.pins,
  pinEvents: watchPinDirectory(opened.dir),
  // A map Cilium re-created is opened again with the line decided now (its entries may be gone: no evidence).
  reopen: () => openMaps(opened.profile.version),
  profile: opened.profile,
  cilium,
  logger: logger.child({ part: 'dataplane' }),
  periodMs: config['reconcile-period'],
  registry,
});
const ciliumFacts = Object.fromEntries(cilium.settings.map((x) => [x.key, x.value]));
logger.info(
  { dir: opened.dir, cilium: opened.profile.version, config: ciliumConfigDir, settings: ciliumFacts },
  'lb4 maps opened',
);
if (!dataplane.servability.ok) {
  logger.error(
    { reason: dataplane.servability.reason },
    `kube-lb cannot serve this node and programs nothing: ${dataplane.servability.message}`,
  );
}
registerDataplaneMetrics(registry, {
  maps: () => dataplane.maps(),
  profile: dataplane.profile,
  servability: dataplane.servability,
  onPass: (l) => dataplane.onPass(l),
});

const view = new ClusterView(kubeConfig, logger.child({ part: 'cluster' }), config.namespace);
const health = new HealthChecker({
  intervalMs: config['health-interval'],
  timeoutMs: config['health-timeout'],
  thresholds: { rise: config['health-rise'], fall: config['health-fall'] },
  logger: logger.child({ part: 'health' }),
  registry,
  now,
});
const publisher = new NodeStatePublisher({
  kubeConfig,
  namespace: config.namespace,
  nodeName,
  minIntervalMs: config['state-min-interval'],
  logger: logger.child({ part: 'node-state' }),
  now,
});

let l2: L2Speaker | undefined;
let bgp: BgpSpeaker | undefined;
const bgpMetricsDeclared = bgpMetrics(registry);
const live = (): readonly string[] => {
  const l = l2?.live() ?? [];
  return l.length > 0 ? l : [nodeName];
};
// The controller and the status writer refer to each other; the writer is made second, before anything runs.
let writer!: ClaimStatusWriter;
const controller = new SpeakerController({
  nodeName,
  claims: () => view.claims(),
  guard: () => view.guard(),
  dataplane,
  health,
  publish: (s) => publisher.publish(s),
  peers: () => publisher.peers(),
  live,
  invalidateStatus: (keys) => {
    writer.invalidate(keys);
    bgp?.schedule();
  },
  logger: logger.child({ part: 'controller' }),
  now,
  settleMs: Math.max(3000, 3 * config['state-min-interval']),
});
writer = new ClaimStatusWriter({
  client: resourceClient<VIPClaim>(kubeConfig, 'VIPClaim'),
  self: nodeName,
  claims: () => view.claims(),
  claim: (namespace, name) => view.claim({ namespace, name }),
  input: (claim, announced) => controller.statusInput(claim, announced),
  live,
  logger: logger.child({ part: 'status' }),
  now,
  minIntervalMs: config['status-min-interval'],
  debounceMs: config['status-debounce'],
  concurrency: config['status-concurrency'],
});

// A count of writes is a counter. The writers keep their own totals, so each scrape adds what is new since the last.
const counted = { 'claim-status': 0, 'node-state': 0 };
metrics.counter(
  'kube_lb_speaker_api_writes_total',
  'API writes made by this speaker since it started, by kind (claim-status, node-state).',
  ['kind'],
  {
    collect() {
      for (const [kind, total] of [
        ['claim-status', writer.writes],
        ['node-state', publisher.writes],
      ] as const) {
        this.inc({ kind }, total - counted[kind]);
        counted[kind] = total;
      }
    },
  },
);

let synced = false;
const state = (): unknown => ({
  version,
  ...controller.snapshot({ health: health.report() }),
  announcedVIPs: Object.entries(writer.owners())
    .filter(([, owner]) => owner === nodeName)
    .map(([vip]) => vip),
  owners: writer.owners(),
  dataplane: {
    dir: opened.dir,
    cilium: opened.profile.version,
    ciliumConfig: { dir: ciliumConfigDir, settings: cilium.settings },
    servability: dataplane.servability,
    ...dataplane.stats(),
    statuses: dataplane.statuses(),
  },
  apiWrites: { claimStatus: writer.writes, nodeState: publisher.writes },
  ...(bgp ? { bgp: bgp.snapshot() } : {}),
});
const endpoints: StatusEndpoints = {
  json: { '/state': state },
  liveness: [],
  readiness: [
    { name: 'caches', check: () => (synced ? undefined : 'informers not synced') },
    { name: 'dataplane', check: () => dataplane.stats().lastPass?.error?.message },
  ],
};
const bind = config['metrics-bind-address'];
// The host network: this port is open to the client segment, so what it tells about every tenant is protected.
const auth =
  bind !== '0' && config['metrics-auth']
    ? tokenAuthorizer(kubeConfig, { logger: logger.child({ part: 'status-auth' }) })
    : undefined;
await program.serveStatus(bind, { ...endpoints, ...(auth ? { protect: (req, path) => auth.check(req, path) } : {}) });
if (config['state-socket']) await program.serveStatusSocket(config['state-socket'], endpoints);

program.starting({ namespace: config.namespace });
await Promise.all([view.start(), publisher.start()]);
synced = true;
view.onClaims(() => controller.schedule());
publisher.onChange(() => writer.invalidate());
// The first plan is in the reconciler before its first pass: a restart must not delete what is programmed.
controller.start();
dataplane.start();
health.start();
const l2Events = createEventRecorder({ kubeConfig, component: 'kube-lb-speaker', instance: nodeName, logger });
l2 = await buildL2Speaker(config, logger.child({ part: 'l2' }), {
  kubeConfig,
  inputs: view,
  status: writer,
  registry,
  procSysDir: config['proc-sys-dir'],
  onAcquired: announcementEvents(l2Events, nodeName, () => view.claims()),
  onAddressInUse: addressInUseEvents(l2Events, nodeName, () => view.claims()),
});
await l2.start();
if (config.bgp) {
  bgp = await buildBgpSpeaker(config, logger.child({ part: 'bgp' }), {
    kubeConfig,
    controller,
    view,
    dataplane,
    metrics: bgpMetricsDeclared,
    liveNodes: live,
    nodeExists: (name) => view.hasNode(name),
  });
}
logger.info({ claims: view.claims().length }, 'kube-lb speaker started');

// The VIPs go to the other LB nodes first, while this node still forwards; the map entries stay.
program.stopOnSignals(
  async () => {
    // BGP first: routers move new flows to the other nodes while this one still forwards (its entries stay).
    const drained = bgp?.drain(config['bgp-drain-delay']);
    try {
      await l2?.handover();
    } catch (err) {
      // Not a failed stop: the peers take the VIPs over when this node's Lease and heartbeats lapse.
      logger.error({ err }, 'handover failed');
    }
    await drained;
  },
  () => controller.stop(),
  () => health.stop(),
  () => dataplane.close(),
  () => changes?.close(),
  () => publisher.stop(true),
  () => view.stop(),
);
