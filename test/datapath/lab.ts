// A small network in namespaces for the dataplane tests: a client, an LB node running the test datapath on
// Cilium-shaped maps, and backend nodes serving HTTP and UDP on NodePorts, all on one L2 segment.
//   client 10.10.0.10 ── br0 ── lb 10.10.0.2 (tc: test datapath)      VIPs 10.20.0.0/24 routed via the LB node
//                           └── backend-i 10.10.0.(21+i), tcp/30080 udp/30053
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PROFILES, type CiliumVersion, type Lb4Profile } from '../../src/core/lb4/profile.ts';
import { mountBpffs, type Bpffs } from '../../lab/bpffs.ts';
import { createCiliumMaps, type CiliumMaps } from '../../lab/cilium-maps.ts';
import { Ledger } from '../../lab/ledger.ts';
import { L2Segment, Netns } from '../../lab/netns.ts';
import type { TrackedProcess } from '../../lab/process.ts';
import { attachTestDatapath, TEST_DATAPATH_MAGLEV_M, type AttachedDatapath } from './loader.ts';
import type { Tally, Target } from './client-agent.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const LB_NODE = '10.10.0.2';
export const CLIENT = '10.10.0.10';
export const VIP_NET = '10.20.0.0/24';
export const NODE_PORT_TCP = 30080;
export const NODE_PORT_UDP = 30053;

export interface LabOptions {
  readonly version: CiliumVersion;
  readonly maglev?: boolean;
  readonly backends?: number;
}

export interface LabBackend {
  readonly name: string;
  readonly address: string;
  readonly ns: Netns;
}

export interface Lab {
  readonly ledger: Ledger;
  readonly profile: Lb4Profile;
  readonly bpffs: Bpffs;
  /** Directory of the Cilium-shaped maps (what the reconciler gets as its map directory). */
  readonly mapDir: string;
  readonly maps: CiliumMaps;
  readonly logDir: string;
  readonly backends: readonly LabBackend[];
  readonly lb: Netns;
  readonly client: Netns;
  /**
   * Requests from the client, one after the other, each a new flow. A request fails without an answer within
   * `timeoutMs` (default 3 s, generous for a loaded VM; pass less where failure is the expected outcome).
   */
  request(proto: 'tcp' | 'udp', vip: string, port: number, count?: number, timeoutMs?: number): Promise<Tally>;
  /** A background loop of requests; a request counts as failed without an answer within `timeoutMs`. */
  startLoop(proto: 'tcp' | 'udp', vip: string, port: number, intervalMs?: number, timeoutMs?: number): Promise<void>;
  loop(): Promise<Tally>;
  stopLoop(): Promise<Tally>;
  destroy(): Promise<void>;
}

function call(socketPath: string, path: string, body?: unknown): Promise<Tally> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: body === undefined ? 'GET' : 'POST' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(JSON.parse(text) as Tally));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export async function createLab(label: string, options: LabOptions): Promise<Lab> {
  const ledger = Ledger.open(label);
  const cleanups: Array<() => Promise<void> | void> = [];
  const logDir = mkdtempSync(join(tmpdir(), `klb-${label}-`));
  ledger.record('dir', logDir);
  cleanups.push(() => {
    rmSync(logDir, { recursive: true, force: true });
    ledger.release('dir', logDir);
  });
  const destroy = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    const bpffs = mountBpffs(ledger, label);
    cleanups.push(() => bpffs.dispose());
    const mapDir = join(bpffs.dir, 'tc', 'globals');
    mkdirSync(mapDir, { recursive: true });
    const profile = PROFILES[options.version];
    const maps = createCiliumMaps(mapDir, {
      profile,
      ...(options.maglev ? { maglevTableSize: TEST_DATAPATH_MAGLEV_M } : {}),
    });

    const segment = await L2Segment.create(ledger, 'sw');
    cleanups.push(() => segment.destroy());
    const hosts: Netns[] = [];
    const host = async (prefix: string, address: string): Promise<Netns> => {
      const ns = await Netns.create(ledger, prefix);
      hosts.push(ns);
      cleanups.push(() => ns.destroy());
      await segment.attach(ns, `${address}/24`);
      return ns;
    };
    const client = await host('cl', CLIENT);
    await client.addRoute(VIP_NET, LB_NODE);
    const lb = await host('lb', LB_NODE);
    // Forwarding on: bpf_fib_lookup refuses to route for a device that does not forward.
    await lb.sysctl('net.ipv4.conf.all.forwarding', 1);
    await lb.sysctl('net.ipv4.conf.eth0.forwarding', 1);
    const backends: LabBackend[] = [];
    const servers: TrackedProcess[] = [];
    for (let i = 0; i < (options.backends ?? 2); i++) {
      const address = `10.10.0.${21 + i}`;
      const ns = await host(`be${i}`, address);
      const name = `backend-${i + 1}`;
      servers.push(
        ns.spawn(
          name,
          process.execPath,
          [join(here, 'backend-server.ts'), name, String(NODE_PORT_TCP), String(NODE_PORT_UDP)],
          logDir,
        ),
      );
      backends.push({ name, address, ns });
    }
    cleanups.push(async () => {
      for (const s of servers) await s.stop(1000);
    });

    const datapath: AttachedDatapath = await attachTestDatapath({
      maps,
      pinDir: bpffs.dir,
      ns: lb,
      dev: 'eth0',
      nodeAddress: LB_NODE,
    });
    cleanups.push(() => datapath.detach());

    const socketPath = join(logDir, 'client.sock');
    const agent = client.spawn('client-agent', process.execPath, [join(here, 'client-agent.ts'), socketPath], logDir);
    cleanups.push(() => agent.stop(1000));
    await waitFor('the client agent', async () => (await call(socketPath, '/loop')).ok === 0);
    for (const b of backends) {
      await waitFor(`${b.name} to listen`, async () =>
        (await b.ns.exec('ss', '-Hltn', `sport = :${NODE_PORT_TCP}`)).includes('LISTEN'),
      );
    }

    const target = (proto: 'tcp' | 'udp', host: string, port: number, timeoutMs = 3000): Target => ({
      proto,
      host,
      port,
      timeoutMs,
    });
    return {
      ledger,
      profile,
      bpffs,
      mapDir,
      maps,
      logDir,
      backends,
      lb,
      client,
      request: (proto, vip, port, count = 1, timeoutMs = 3000) =>
        call(socketPath, '/request', { ...target(proto, vip, port, timeoutMs), count }),
      startLoop: async (proto, vip, port, intervalMs = 50, timeoutMs = 1000) => {
        await call(socketPath, '/loop/start', { ...target(proto, vip, port, timeoutMs), intervalMs });
      },
      loop: () => call(socketPath, '/loop'),
      stopLoop: () => call(socketPath, '/loop/stop', {}),
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}

export { waitFor };
