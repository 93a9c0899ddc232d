// What the announcer's changes tell the rest of the speaker: metrics (VIPs this node answers ARP for, ownership
// changes — a VIP taken over is a failover onto this node, a VIP given up one away from it — and gratuitous ARP
// frames sent) and a callback with the VIPs just acquired (the speaker records Events for them). ARP replies
// themselves are sent by the kernel from the proxy neighbour entries, so they are not counted here.
import { Registry } from 'prom-client';
import { metricsOn } from '../../shared/metrics.ts';
import type { ApplyResult } from './announcer.ts';
import type { GarpSender } from './garp.ts';
import type { ProbeChannel } from './probes.ts';

export interface L2Observer {
  /** Announcer hook: compares the VIPs announced now with those before. */
  applied(result: ApplyResult, announced: ReadonlyMap<string, readonly string[]>): void;
}

export interface L2ObserverOptions {
  readonly garp: Pick<GarpSender, 'sent'>;
  /** The heartbeat channel, where there is one: its gaps make the jitter histogram. */
  readonly probes?: Pick<ProbeChannel, 'heartbeatGaps'> | undefined;
  /** Where to register the metrics; unset: none. */
  readonly registry?: Registry | undefined;
  /** VIPs this node started answering for, after each change. */
  readonly onAcquired?: ((vips: readonly string[]) => void) | undefined;
}

export function createL2Observer(o: L2ObserverOptions): L2Observer {
  // Without a registry the metrics go on one nobody scrapes, so the code below records them unconditionally.
  const m = metricsOn(o.registry ?? new Registry());
  const owned = m.gauge('kube_lb_l2_announced_vips', 'VIPs this LB node answers ARP for.');
  const changes = m.counter(
    'kube_lb_l2_ownership_changes_total',
    'VIPs this LB node started (acquired: takeover or failover onto it) or stopped (released) answering ARP for.',
    ['change'],
  );
  let counted = 0;
  m.counter(
    'kube_lb_l2_gratuitous_arp_frames_total',
    'Gratuitous ARP frames sent (requests and replies) on takeovers and refreshes.',
    [],
    {
      collect() {
        const sent = o.garp.sent;
        if (sent > counted) this.inc(sent - counted);
        counted = sent;
      },
    },
  );
  if (o.probes) {
    const probes = o.probes;
    m.histogram(
      'kube_lb_l2_heartbeat_gap_seconds',
      'Time between consecutive heartbeats heard from the same peer: the probe interval plus jitter. Gaps near the ' +
        'probe timeout mean a peer came close to being declared dead.',
      [],
      [0.01, 0.025, 0.04, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2, 5],
      {
        collect() {
          for (const ms of probes.heartbeatGaps()) this.observe(ms / 1000);
        },
      },
    );
  }
  changes.inc({ change: 'acquired' }, 0);
  changes.inc({ change: 'released' }, 0);
  let before = new Set<string>();
  return {
    applied(_result, announced) {
      const now = new Set(announced.keys());
      const acquired = [...now].filter((vip) => !before.has(vip));
      const released = [...before].filter((vip) => !now.has(vip));
      if (acquired.length) changes.inc({ change: 'acquired' }, acquired.length);
      if (released.length) changes.inc({ change: 'released' }, released.length);
      owned.set(now.size);
      before = now;
      if (acquired.length) o.onAcquired?.(acquired);
    },
  };
}
