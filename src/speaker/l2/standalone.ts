// Runs L2 announcement alone, as its own process: used by the netns tests and the failover benchmark, and
// until the full speaker (which wires the same parts next to the dataplane) exists.
//   node src/speaker/l2/standalone.ts --node-name lb-1 --kubeconfig K [--vips 192.0.2.10,... --interfaces eth0]
// SIGTERM and SIGINT hand the VIPs over to peers before exiting.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type * as k8s from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { loadKubeConfig } from '../../kube/client.ts';
import { ArpListener, PacketSocket, TapLink } from '../../native/arp.ts';
import type { AddressInUse } from '../../core/l2/duplicate-address.ts';
import { describeOptions, parseConfig, type OptionSpec } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { startStatusServer } from '../../shared/http-status.ts';
import { createLogger, LOG_LEVELS, type LogLevel, type Logger } from '../../shared/logger.ts';
import { createRegistry } from '../../shared/metrics.ts';
import { Announcer } from './announcer.ts';
import { L2_OPTIONS } from './config.ts';
import { DuplicateAddressGate } from './dad.ts';
import { GarpSender } from './garp.ts';
import { createL2Observer } from './metrics.ts';
import { KubeInputs, StaticInputs, type L2Inputs } from './inputs.ts';
import { LeaseMembership } from './membership.ts';
import { ProbeChannel } from './probes.ts';
import { openRtnl, type Rtnl } from './rtnl.ts';
import { L2Speaker, type L2StatusSink } from './speaker.ts';
import { AnnouncedStatusWriter } from './status.ts';

const OPTIONS = {
  ...L2_OPTIONS,
  kubeconfig: { kind: 'string', env: 'KUBECONFIG', help: 'kubeconfig file (default: in-cluster)' },
  'log-level': { kind: 'string', default: 'info', oneOf: LOG_LEVELS, help: 'log level' },
  'metrics-bind-address': {
    kind: 'string',
    default: '0',
    check: (v: string) => (v === '0' || /^[^\s]*:\d{1,5}$/.test(v) ? undefined : 'must be HOST:PORT or 0'),
    help: 'HOST:PORT of /metrics ("0", the default: none)',
  },
} satisfies Record<string, OptionSpec>;

type Config = ReturnType<typeof parseConfig<typeof OPTIONS>>;

async function peerAddress(cfg: Config, rtnl: Rtnl): Promise<string | undefined> {
  if (cfg['peer-port'] === 0) return undefined;
  let host = cfg['peer-address'];
  if (!host) {
    const ifname = await rtnl.defaultRouteInterface();
    const link = (await rtnl.links()).find((l) => l.name === ifname);
    host = link ? await rtnl.firstAddress(link.index) : undefined;
  }
  return host ? `${host}:${cfg['peer-port']}` : undefined;
}

/** The least key length: 128 bits of an HMAC-SHA256 key. */
const MIN_PEER_KEY_BYTES = 16;

/** The peers' shared key from --peer-key-file; without one, the control traffic is unauthenticated, and that is said. */
function peerKey(file: string | undefined, logger: Logger): Uint8Array | undefined {
  if (!file) {
    logger.warn('L2 control traffic (heartbeats, byes, acks) is not authenticated: no --peer-key-file; a host on the segment could force failovers');
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError('peer-key-file', file, (err as Error).message);
  }
  if (Buffer.byteLength(text) < MIN_PEER_KEY_BYTES) {
    throw new ConfigError('peer-key-file', file, `the key has ${Buffer.byteLength(text)} bytes, at least ${MIN_PEER_KEY_BYTES} are needed`);
  }
  return Buffer.from(text);
}

/** Parts the full speaker shares with the L2 side instead of letting it build its own. */
export interface SharedParts {
  readonly kubeConfig?: k8s.KubeConfig;
  readonly inputs?: L2Inputs;
  readonly status?: L2StatusSink;
  /** Where to register the L2 metrics (src/speaker/l2/metrics.ts); unset: none. */
  readonly registry?: Registry;
  /** Root of the node's sysctls (default /proc/sys). */
  readonly procSysDir?: string;
  /** Called with the VIPs this node has just started answering for (the speaker records Events). */
  readonly onAcquired?: (vips: readonly string[]) => void;
  /** Called when a duplicate-address probe found a VIP in use by another host (the speaker records an Event). */
  readonly onAddressInUse?: (conflict: AddressInUse) => void;
}

export async function buildL2Speaker(cfg: Config, logger: Logger, shared: SharedParts = {}): Promise<L2Speaker> {
  const now = () => performance.now();
  const kubeConfig = shared.kubeConfig ?? loadKubeConfig({ kubeconfig: cfg.kubeconfig });
  const rtnl = openRtnl();
  const packets = PacketSocket.open();
  const garp = new GarpSender(
    packets,
    { burstCount: cfg['garp-count'], burstIntervalMs: cfg['garp-interval'], refreshMs: cfg['garp-refresh'], ratePerS: cfg['garp-rate'] },
    logger.child({ part: 'garp' }),
  );
  garp.start();
  const peer = await peerAddress(cfg, rtnl);
  const key = peer === undefined ? undefined : peerKey(cfg['peer-key-file'], logger);
  const probes =
    peer === undefined
      ? undefined
      : new ProbeChannel({
          nodeName: cfg['node-name'],
          bindAddress: peer.split(':')[0]!,
          port: cfg['peer-port'],
          intervalMs: cfg['probe-interval'],
          timeoutMs: cfg['probe-timeout'],
          key,
          logger: logger.child({ part: 'probes' }),
        });
  const observer = createL2Observer({ garp, probes, registry: shared.registry, onAcquired: shared.onAcquired });
  const announcer = new Announcer({
    rtnl,
    garp,
    logger: logger.child({ part: 'announcer' }),
    sinkName: cfg['sink-link'],
    openSink: (n) => TapLink.create(n),
    onApplied: observer.applied,
    ...(shared.procSysDir ? { procSysDir: shared.procSysDir } : {}),
  });
  const membership = new LeaseMembership({
    kubeConfig,
    namespace: cfg.namespace,
    nodeName: cfg['node-name'],
    leaseDurationMs: cfg['lease-duration'],
    renewPeriodMs: cfg['renew-period'],
    logger: logger.child({ part: 'membership' }),
    now,
  });
  const inputs = shared.inputs ?? (cfg.vips ? new StaticInputs(cfg.vips, cfg.interfaces) : new KubeInputs(kubeConfig, logger.child({ part: 'inputs' })));
  const status =
    shared.status ??
    (cfg.vips
      ? undefined
      : new AnnouncedStatusWriter({ kubeConfig, inputs, self: cfg['node-name'], logger: logger.child({ part: 'status' }), settleMs: cfg['status-settle'], now }));
  // Filled in below: a finished probe or a due retry asks the speaker to decide again.
  let speaker: L2Speaker | undefined;
  const dad =
    cfg['dad-probes'] > 0
      ? new DuplicateAddressGate({
          config: { probes: cfg['dad-probes'], intervalMs: cfg['dad-interval'], waitMs: cfg['dad-wait'], retry: { minMs: 1000, maxMs: cfg['dad-retry-max'] } },
          sender: packets,
          listen: (ifindex) => ArpListener.open(ifindex),
          logger: logger.child({ part: 'dad' }),
          now,
          onSettled: () => speaker?.schedule(),
          onInUse: shared.onAddressInUse,
        })
      : undefined;
  speaker = new L2Speaker(
    {
      nodeName: cfg['node-name'],
      peerAddress: peer,
      probeTimeoutMs: probes && cfg['probe-interval'] > 0 ? cfg['probe-timeout'] : undefined,
      handoverTimeoutMs: cfg['handover-timeout'],
      handoverGraceMs: cfg['handover-grace'],
      // Silence is noticed within an eighth of the timeout of crossing it (a tick reads shared memory, no I/O).
      tickMs: Math.max(10, Math.min(100, Math.floor(cfg['probe-timeout'] / 8))),
      resyncMs: cfg.resync,
    },
    { membership, probes, inputs, rtnl, announcer, status, dad, logger, now },
  );
  return speaker;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(`usage: standalone.ts [flags]\n${describeOptions(OPTIONS)}`);
    return;
  }
  const cfg = parseConfig(OPTIONS, argv, process.env);
  const logger = createLogger({ program: 'speaker-l2', level: cfg['log-level'] as LogLevel }).child({ node: cfg['node-name'] });
  const bind = cfg['metrics-bind-address'];
  const registry = bind === '0' ? undefined : createRegistry('speaker-l2');
  const speaker = await buildL2Speaker(cfg, logger, registry ? { registry } : {});
  if (registry) {
    const colon = bind.lastIndexOf(':');
    await startStatusServer({ host: bind.slice(0, colon) || '127.0.0.1', port: Number(bind.slice(colon + 1)), registry, logger });
  }
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: handing over');
    speaker.handover().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'handover failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  await speaker.start();
  logger.info({ peer: cfg['peer-port'] }, 'L2 speaker started');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
