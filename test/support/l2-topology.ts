// An L2 segment of network namespaces for the L2 tests and the failover benchmark: a "switch" namespace holding
// a bridge, one client and N LB nodes, each with eth0 (a veth into the bridge) on 10.66.0.0/24. Nothing is
// created in the root namespace except the namespaces themselves; everything is in the ledger.
//   client  eth0 10.66.0.1      lb node i  eth0 10.66.0.(11+i), default route via 10.66.0.1
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { uniqueName, type Ledger } from './ledger.ts';

const run = promisify(execFile);

export async function sh(cmd: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { maxBuffer: 16 << 20 });
  return stdout;
}

export async function inNs(ns: string, cmd: string, args: readonly string[]): Promise<string> {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

export interface L2Host {
  readonly ns: string;
  readonly ip: string;
  readonly mac: string;
}

export interface L2Topology {
  readonly prefix: string;
  readonly switchNs: string;
  readonly client: L2Host;
  readonly nodes: readonly (L2Host & { readonly name: string })[];
  readonly dir: string;
  /** VIP number i on this segment: 10.66.0.(100+i). */
  vip(i: number): string;
  destroy(): Promise<void>;
}

async function addNetns(ledger: Ledger, name: string): Promise<void> {
  ledger.record('netns', name);
  await sh('ip', ['netns', 'add', name]);
  await inNs(name, 'ip', ['link', 'set', 'lo', 'up']);
}

async function plug(switchNs: string, hostNs: string, port: string, ip: string, gateway: string | undefined): Promise<string> {
  // Both ends are created inside their namespaces; the root namespace never holds them.
  await sh('ip', ['link', 'add', 'eth0', 'netns', hostNs, 'type', 'veth', 'peer', 'name', port, 'netns', switchNs]);
  await sh('ip', ['-n', switchNs, 'link', 'set', port, 'master', 'br0', 'up']);
  await sh('ip', ['-n', hostNs, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  await sh('ip', ['-n', hostNs, 'link', 'set', 'eth0', 'up']);
  if (gateway) await sh('ip', ['-n', hostNs, 'route', 'add', 'default', 'via', gateway, 'dev', 'eth0']);
  const link = await sh('ip', ['-n', hostNs, '-o', 'link', 'show', 'eth0']);
  return /link\/ether ([0-9a-f:]{17})/.exec(link)![1]!;
}

export async function createL2Topology(ledger: Ledger, nodeCount: number): Promise<L2Topology> {
  const prefix = uniqueName('l2', 11);
  // The same subnet in every run: namespaces isolate concurrent runs, and fixed addresses make the VIP → owner
  // assignment (and so every assertion about it) identical from run to run.
  const subnet = '10.66.0';
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  ledger.record('dir', dir);
  const switchNs = `${prefix}-sw`;
  await addNetns(ledger, switchNs);
  await sh('ip', ['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
  // No STP delay, no multicast snooping surprises: ports forward as soon as they are up.
  await sh('ip', ['-n', switchNs, 'link', 'set', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
  await sh('ip', ['-n', switchNs, 'link', 'set', 'br0', 'up']);

  const clientNs = `${prefix}-c`;
  await addNetns(ledger, clientNs);
  const clientIp = `${subnet}.1`;
  const client = { ns: clientNs, ip: clientIp, mac: await plug(switchNs, clientNs, 'pc', clientIp, undefined) };
  const nodes: (L2Host & { name: string })[] = [];
  for (let i = 0; i < nodeCount; i++) {
    const ns = `${prefix}-n${i}`;
    await addNetns(ledger, ns);
    const ip = `${subnet}.${11 + i}`;
    nodes.push({ name: `lb-${i + 1}`, ns, ip, mac: await plug(switchNs, ns, `p${i}`, ip, clientIp) });
  }
  return {
    prefix,
    switchNs,
    client,
    nodes,
    dir,
    vip: (i) => `${subnet}.${100 + i}`,
    async destroy() {
      for (const ns of [clientNs, ...nodes.map((n) => n.ns), switchNs]) {
        await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
        ledger.release('netns', ns);
      }
      // KUBE_LB_KEEP_LOGS=DIR keeps the speakers' logs and captures for a post-mortem.
      const keep = process.env['KUBE_LB_KEEP_LOGS'];
      if (keep) cpSync(dir, join(keep, prefix), { recursive: true });
      rmSync(dir, { recursive: true, force: true });
      ledger.release('dir', dir);
    },
  };
}

/** MACs that answered each of `count` ARP requests for `ip` from the client (one line per reply). */
export async function arpingReplies(topo: L2Topology, ip: string, count = 3, intervalS = 0.1): Promise<string[]> {
  let out: string;
  try {
    out = await inNs(topo.client.ns, 'arping', ['-c', String(count), '-W', String(intervalS), '-w', String(count * intervalS + 1), '-i', 'eth0', ip]);
  } catch (err) {
    out = (err as { stdout?: string }).stdout ?? ''; // exit 1 when nothing answered
  }
  return [...out.matchAll(/bytes from ([0-9a-f:]{17}) \(/g)].map((m) => m[1]!);
}

/**
 * Undo actions for a test's setup, run in reverse. `step` awaits one setup step and records how to undo it; if
 * the step fails, everything set up so far is undone before the error propagates (top-level setup failures
 * would otherwise skip t.teardown and leave work for cleanup-stale).
 */
export class SetupStack {
  private readonly undo: (() => Promise<void>)[] = [];

  async step<T>(made: Promise<T>, undo: (value: T) => Promise<void>): Promise<T> {
    try {
      const value = await made;
      this.undo.push(() => undo(value));
      return value;
    } catch (err) {
      await this.unwind();
      throw err;
    }
  }

  async unwind(): Promise<void> {
    for (const fn of this.undo.splice(0).reverse()) await fn().catch(() => undefined);
  }
}
