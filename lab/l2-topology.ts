// An L2 segment of network namespaces for the L2 tests and the failover benchmark, built on lab/netns.ts:
// one client and N LB nodes on a bridge, 10.66.0.0/24 (the same addresses in every run: namespaces isolate
// concurrent runs, and fixed addresses make the VIP → owner assignment, and every assertion about it, identical
// from run to run).
//   client  eth0 10.66.0.1      lb node i  eth0 10.66.0.(11+i), default route via 10.66.0.1
//   extra hosts (addHost) at the addresses the caller picks; VIP number i is 10.66.0.(100+i)
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Ledger } from './ledger.ts';
import { L2Segment, Netns, run } from './netns.ts';

export const L2_SUBNET = '10.66.0';

export async function inNs(ns: string, cmd: string, args: readonly string[]): Promise<string> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args]);
}

export interface L2Host {
  readonly host: Netns;
  /** The namespace's name. */
  readonly ns: string;
  readonly ip: string;
  readonly mac: string;
}

export interface L2Node extends L2Host {
  /** Node name (lb-1, lb-2, ...): Lease holder and rendezvous candidate. */
  readonly name: string;
}

export interface L2Topology {
  /** The namespace holding the bridge (br0). */
  readonly switchNs: Netns;
  readonly client: L2Host;
  readonly nodes: readonly L2Node[];
  /** Logs, kubeconfigs, captures. */
  readonly dir: string;
  vip(i: number): string;
  addHost(prefix: string, ip: string): Promise<L2Host>;
  destroy(): Promise<void>;
}

export async function createL2Topology(ledger: Ledger, nodeCount: number): Promise<L2Topology> {
  const dir = mkdtempSync(join(tmpdir(), 'klb-l2-'));
  ledger.record('dir', dir);
  const hosts: Netns[] = [];
  const segment = await L2Segment.create(ledger, 'l2sw');
  const attach = async (prefix: string, ip: string, gateway?: string): Promise<L2Host> => {
    const host = await Netns.create(ledger, prefix);
    hosts.push(host);
    await segment.attach(host, `${ip}/24`);
    if (gateway) await host.addRoute('default', gateway, 'eth0');
    return { host, ns: host.name, ip, mac: await host.macOf('eth0') };
  };
  try {
    const client = await attach('l2c', `${L2_SUBNET}.1`);
    const nodes: L2Node[] = [];
    for (let i = 0; i < nodeCount; i++)
      nodes.push({ name: `lb-${i + 1}`, ...(await attach(`l2n${i}`, `${L2_SUBNET}.${11 + i}`, client.ip)) });
    return {
      switchNs: segment.switchNs,
      client,
      nodes,
      dir,
      vip: (i) => `${L2_SUBNET}.${100 + i}`,
      addHost: (prefix, ip) => attach(prefix, ip),
      async destroy() {
        for (const h of hosts) await h.destroy();
        await segment.destroy();
        // KUBE_LB_KEEP_LOGS=DIR keeps the speakers' logs and captures for a post-mortem.
        const keep = process.env.KUBE_LB_KEEP_LOGS;
        if (keep) cpSync(dir, join(keep, `l2-${process.pid}-${Date.now()}`), { recursive: true });
        rmSync(dir, { recursive: true, force: true });
        ledger.release('dir', dir);
      },
    };
  } catch (err) {
    for (const h of hosts) await h.destroy();
    await segment.destroy();
    throw err;
  }
}

/** MACs that answered each of `count` ARP requests for `ip` from the client (one entry per reply). */
export async function arpingReplies(topo: L2Topology, ip: string, count = 3, intervalS = 0.1): Promise<string[]> {
  let out: string;
  try {
    out = await topo.client.host.exec(
      'arping',
      '-c',
      String(count),
      '-W',
      String(intervalS),
      '-w',
      String(count * intervalS + 1),
      '-i',
      'eth0',
      ip,
    );
  } catch (err) {
    // arping exits 1 when nothing answered; run() wraps the error, the output is on its cause.
    out = ((err as Error).cause as { stdout?: string } | undefined)?.stdout ?? '';
  }
  return [...out.matchAll(/bytes from ([0-9a-f:]{17}) \(/g)].map((m) => m[1]!);
}

/** arping in "dots" mode: one '!' per answered request, one '.' per unanswered one. */
export async function arpingDots(topo: L2Topology, ip: string, count: number, intervalS: number): Promise<string> {
  let out: string;
  try {
    out = await topo.client.host.exec(
      'arping',
      '-D',
      '-c',
      String(count),
      '-W',
      String(intervalS),
      '-w',
      String(count * intervalS + 2),
      '-i',
      'eth0',
      ip,
    );
  } catch (err) {
    out = ((err as Error).cause as { stdout?: string } | undefined)?.stdout ?? '';
  }
  return (/^[!.]*/.exec(out.trim()) ?? [''])[0];
}

/**
 * Undo actions for a test's setup, run in reverse. `step` awaits one setup step and records how to undo it; if
 * the step fails, everything set up so far is undone before the error propagates (top-level setup failures
 * would otherwise skip t.teardown and leave work for cleanup-stale).
 */
export class SetupStack {
  readonly #undo: (() => Promise<void>)[] = [];

  async step<T>(made: Promise<T>, undo: (value: T) => Promise<void>): Promise<T> {
    try {
      const value = await made;
      this.#undo.push(() => undo(value));
      return value;
    } catch (err) {
      await this.unwind();
      throw err;
    }
  }

  async unwind(): Promise<void> {
    for (const fn of this.#undo.splice(0).reverse()) await fn().catch(() => undefined);
  }
}
