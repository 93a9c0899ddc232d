// The speaker's L2 announcement part, wired from its flags (L2_OPTIONS): rtnetlink, the packet socket, paced
// gratuitous ARP, the per-node membership Leases, the heartbeat channel to the peers, duplicate-address probes
// and the L2Speaker that decides. The speaker (src/speaker/main.ts) hands it the parts it shares (API client,
// claim view, status writer, registry); src/speaker/l2/standalone.ts runs it alone, with parts of its own.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type * as k8s from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { loadKubeConfig } from '../../kube/client.ts';
import { ArpListener, PacketSocket, TapLink } from '../../native/arp.ts';
import type { AddressInUse } from '../../core/l2/duplicate-address.ts';
import type { ConfigOf } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { Announcer } from './announcer.ts';
import type { L2_OPTIONS } from './config.ts';
import { DuplicateAddressGate } from './dad.ts';
import { GarpSender } from './garp.ts';
import { createL2Observer } from './metrics.ts';
import { KubeInputs, StaticInputs, type L2Inputs } from './inputs.ts';
import { LeaseMembership } from './membership.ts';
import { ProbeChannel } from './probes.ts';
import { openRtnl, type Rtnl } from './rtnl.ts';
import { L2Speaker, type L2StatusSink } from './speaker.ts';
import { AnnouncedStatusWriter } from './status.ts';

/** The flags the L2 part reads: its own, and the kubeconfig when it makes its own API client. */
export type L2Config = ConfigOf<typeof L2_OPTIONS> & { readonly kubeconfig?: string | undefined };

/** The address this node's heartbeat socket binds and the peers are told of; undefined without a peer port. */
async function peerHost(cfg: L2Config, rtnl: Rtnl): Promise<string | undefined> {
  if (cfg['peer-port'] === 0) return undefined;
  if (cfg['peer-address']) return cfg['peer-address'];
  const ifname = await rtnl.defaultRouteInterface();
  const link = (await rtnl.links()).find((l) => l.name === ifname);
  return (link && (await rtnl.firstAddress(link.index))) || undefined;
}

/** The least key length: 128 bits of an HMAC-SHA256 key. */
const MIN_PEER_KEY_BYTES = 16;

/** The peers' shared key from --peer-key-file; without one, the control traffic is unauthenticated, and that is said. */
function peerKey(file: string | undefined, logger: Logger): Uint8Array | undefined {
  if (!file) {
    logger.warn(
      'L2 control traffic (heartbeats, byes, acks) is not authenticated: no --peer-key-file; a host on the segment could force failovers',
    );
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError('peer-key-file', file, (err as Error).message);
  }
  if (Buffer.byteLength(text) < MIN_PEER_KEY_BYTES) {
    throw new ConfigError(
      'peer-key-file',
      file,
      `the key has ${Buffer.byteLength(text)} bytes, at least ${MIN_PEER_KEY_BYTES} are needed`,
    );
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

export async function buildL2Speaker(cfg: L2Config, logger: Logger, shared: SharedParts = {}): Promise<L2Speaker> {
  const now = () => performance.now();
  const kubeConfig = shared.kubeConfig ?? loadKubeConfig({ kubeconfig: cfg.kubeconfig });
  const rtnl = openRtnl();
  const packets = PacketSocket.open();
  const garp = new GarpSender(
    packets,
    {
      burstCount: cfg['garp-count'],
      burstIntervalMs: cfg['garp-interval'],
      refreshMs: cfg['garp-refresh'],
      ratePerS: cfg['garp-rate'],
    },
    logger.child({ part: 'garp' }),
  );
  garp.start();
  const host = await peerHost(cfg, rtnl);
  const key = host === undefined ? undefined : peerKey(cfg['peer-key-file'], logger);
  const probes =
    host === undefined
      ? undefined
      : new ProbeChannel({
          nodeName: cfg['node-name'],
          bindAddress: host,
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
  const inputs =
    shared.inputs ??
    (cfg.vips
      ? new StaticInputs(cfg.vips, cfg.interfaces)
      : new KubeInputs(kubeConfig, logger.child({ part: 'inputs' })));
  const status =
    shared.status ??
    (cfg.vips
      ? undefined
      : new AnnouncedStatusWriter({
          kubeConfig,
          inputs,
          self: cfg['node-name'],
          logger: logger.child({ part: 'status' }),
          settleMs: cfg['status-settle'],
          now,
        }));
  // Filled in below: a finished probe or a due retry asks the speaker to decide again.
  let speaker: L2Speaker | undefined;
  const dad =
    cfg['dad-probes'] > 0
      ? new DuplicateAddressGate({
          config: {
            probes: cfg['dad-probes'],
            intervalMs: cfg['dad-interval'],
            waitMs: cfg['dad-wait'],
            retry: { minMs: 1000, maxMs: cfg['dad-retry-max'] },
          },
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
      peerAddress: host === undefined ? undefined : `${host}:${cfg['peer-port']}`,
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
