// What the announcer's changes tell the rest of the speaker: metrics (VIPs this node answers ARP for, ownership
// changes — a VIP taken over is a failover onto this node, a VIP given up one away from it — and gratuitous ARP
// frames sent) and a callback with the VIPs just acquired (the speaker records Events for them). ARP replies
// themselves are sent by the kernel from the proxy neighbour entries, so they are not counted here.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ApplyResult } from './announcer.ts';
import type { GarpSender } from './garp.ts';

export interface L2Observer {
  /** Announcer hook: compares the VIPs announced now with those before. */
  applied(result: ApplyResult, announced: ReadonlyMap<string, readonly string[]>): void;
}

export interface L2ObserverOptions {
  readonly garp: Pick<GarpSender, 'sent'>;
  /** Where to register the metrics; unset: none. */
  readonly registry?: Registry | undefined;
  /** VIPs this node started answering for, after each change. */
  readonly onAcquired?: ((vips: readonly string[]) => void) | undefined;
}

export function createL2Observer(o: L2ObserverOptions): L2Observer {
  const registers = o.registry ? [o.registry] : [];
  const owned = new Gauge({ name: 'kube_lb_l2_announced_vips', help: 'VIPs this LB node answers ARP for.', registers });
  const changes = new Counter({
    name: 'kube_lb_l2_ownership_changes_total',
    help: 'VIPs this LB node started (acquired: takeover or failover onto it) or stopped (released) answering ARP for.',
    labelNames: ['change'] as const,
    registers,
  });
  let counted = 0;
  new Counter({
    name: 'kube_lb_l2_gratuitous_arp_frames_total',
    help: 'Gratuitous ARP frames sent (requests and replies) on takeovers and refreshes.',
    registers,
    collect() {
      const sent = o.garp.sent;
      if (sent > counted) this.inc(sent - counted);
      counted = sent;
    },
  });
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
