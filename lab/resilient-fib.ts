// The lab router's forwarding plane with resilient ECMP, as data-centre switches have it: BIRD installs its
// multipath routes in a table of their own, and this mirror installs each of them in the main table through a
// resilient nexthop group (Linux 5.13+). When a next hop leaves a resilient group, only its hash buckets move; the
// buckets of the others stay, so flows through the surviving LB nodes stay where they are. With the kernel's
// plain multipath routes (hash-threshold) a removed next hop shifts the boundaries of every other one, and some
// flows of surviving nodes move too (docs/bgp.md, "ECMP, maglev and SNAT").
// Driven by `ip monitor route` (no polling): every route event re-reads BIRD's table and converges the mirror.
import { run, type Netns } from './netns.ts';
import type { TrackedProcess } from './process.ts';

export interface ResilientFib {
  /** Converges now (also runs on every route event). */
  sync(): Promise<void>;
  /**
   * The gateways that hold their share of `prefix`'s hash buckets in the main table (all but one of an even share):
   * what the router forwards by, which lags BIRD's table by one mirror pass (until then the router reaches a VIP on
   * the LB segment through its connected route, i.e. through the VIP's L2 owner alone), and a member that joined
   * gets its buckets a moment later still. Sorted; empty when the prefix is not mirrored.
   */
  forwarding(prefix: string): Promise<string[]>;
  stop(): Promise<void>;
}

interface KernelRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  nexthops?: { gateway: string; dev: string }[];
}

const BUCKETS = 64;

/** Nexthop object IDs: one per gateway (from its address), one group per prefix (from a counter). */
function gatewayId(gateway: string): number {
  const [a, b, c, d] = gateway.split('.').map(Number);
  return 1 + ((((a! << 24) | (b! << 16) | (c! << 8) | d!) >>> 0) % 1_000_000);
}

export async function startResilientFib(netns: Netns, table: number, logDir: string): Promise<ResilientFib> {
  const ip = (...args: string[]): Promise<string> => run('ip', ['-n', netns.name, ...args]);
  const groups = new Map<string, { id: number; members: string }>();
  const gateways = new Set<string>();
  const gatewayOf = new Map<number, string>();
  let nextGroup = 2_000_000;
  let running: Promise<void> | undefined;
  let again = false;

  const converge = async (): Promise<void> => {
    const routes = JSON.parse((await ip('-j', 'route', 'show', 'table', String(table))) || '[]') as KernelRoute[];
    const want = new Map<string, { gateway: string; dev: string }[]>();
    for (const r of routes) {
      const hops = r.nexthops ?? (r.gateway && r.dev ? [{ gateway: r.gateway, dev: r.dev }] : []);
      if (hops.length > 0) want.set(r.dst.includes('/') ? r.dst : `${r.dst}/32`, hops);
    }
    for (const [dst, hops] of want) {
      // Only what changed is written: every write is a route event of its own, which would wake this loop again.
      for (const h of hops) {
        if (gateways.has(h.gateway)) continue;
        await ip('nexthop', 'replace', 'id', String(gatewayId(h.gateway)), 'via', h.gateway, 'dev', h.dev);
        gateways.add(h.gateway);
        gatewayOf.set(gatewayId(h.gateway), h.gateway);
      }
      const members = hops
        .map((h) => gatewayId(h.gateway))
        .sort((a, b) => a - b)
        .join('/');
      const g = groups.get(dst) ?? { id: nextGroup++, members: '' };
      if (g.members !== members) {
        // replace keeps the buckets of members that stay (idle timer long, so nothing is rebalanced behind them).
        // A member that joins gets its share after the group has been unbalanced for 1 s, active buckets or not, as
        // a switch's resilient hashing gives a new path its share: without that, buckets move only once idle for
        // the idle timer, and a node that joins a group made before it (paths arrive one by one) got nothing.
        await ip(
          'nexthop',
          'replace',
          'id',
          String(g.id),
          'group',
          members,
          'type',
          'resilient',
          'buckets',
          String(BUCKETS),
          'idle_timer',
          '3600',
          'unbalanced_timer',
          '1',
        );
        if (g.members === '') await ip('route', 'replace', dst, 'nhid', String(g.id));
        groups.set(dst, { id: g.id, members });
      }
    }
    for (const [dst, g] of groups) {
      if (want.has(dst)) continue;
      await ip('route', 'del', dst, 'nhid', String(g.id)).catch(() => undefined);
      await ip('nexthop', 'del', 'id', String(g.id)).catch(() => undefined);
      groups.delete(dst);
    }
  };
  const sync = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = converge()
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          void sync();
        }
      });
    return running;
  };
  const monitor: TrackedProcess = netns.spawn('resilient-fib-monitor', 'ip', ['monitor', 'route'], logDir);
  monitor.child.stdout?.on('data', () => void sync());
  await sync();
  return {
    sync,
    async forwarding(prefix) {
      const g = groups.get(prefix);
      if (!g) return [];
      const buckets = JSON.parse((await ip('-j', 'nexthop', 'bucket', 'show', 'id', String(g.id))) || '[]') as {
        bucket?: { nhid?: number };
      }[];
      const held = new Map<string, number>();
      for (const b of buckets) {
        const gateway = gatewayOf.get(b.bucket?.nhid ?? -1);
        if (gateway) held.set(gateway, (held.get(gateway) ?? 0) + 1);
      }
      const share = Math.floor(BUCKETS / g.members.split('/').length) - 1;
      return [...held]
        .filter(([, n]) => n >= share)
        .map(([gateway]) => gateway)
        .sort();
    },
    async stop() {
      await monitor.stop(1000);
    },
  };
}
