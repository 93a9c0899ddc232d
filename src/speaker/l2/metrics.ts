// L2 announcement metrics: VIPs this node answers ARP for, ownership changes (a VIP taken over is a failover
// onto this node, a VIP given up one away from it), and gratuitous ARP frames sent. ARP replies themselves are
// sent by the kernel from the proxy neighbour entries, so they are not counted here.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ApplyResult } from './announcer.ts';
import type { GarpSender } from './garp.ts';

export interface L2Metrics {
  /** Announcer hook: compares the VIPs announced now with those before. */
  applied(result: ApplyResult, announced: ReadonlyMap<string, readonly string[]>): void;
}

export function createL2Metrics(registry: Registry, garp: Pick<GarpSender, 'sent'>): L2Metrics {
  const owned = new Gauge({ name: 'kube_lb_l2_announced_vips', help: 'VIPs this LB node answers ARP for.', registers: [registry] });
  const changes = new Counter({
    name: 'kube_lb_l2_ownership_changes_total',
    help: 'VIPs this LB node started (acquired: takeover or failover onto it) or stopped (released) answering ARP for.',
    labelNames: ['change'] as const,
    registers: [registry],
  });
  let counted = 0;
  new Counter({
    name: 'kube_lb_l2_gratuitous_arp_frames_total',
    help: 'Gratuitous ARP frames sent (requests and replies) on takeovers and refreshes.',
    registers: [registry],
    collect() {
      const sent = garp.sent;
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
      let acquired = 0;
      let released = 0;
      for (const vip of now) if (!before.has(vip)) acquired++;
      for (const vip of before) if (!now.has(vip)) released++;
      if (acquired) changes.inc({ change: 'acquired' }, acquired);
      if (released) changes.inc({ change: 'released' }, released);
      owned.set(now.size);
      before = now;
    },
  };
}
