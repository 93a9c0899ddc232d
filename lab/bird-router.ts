// A BIRD 2 router in a lab network namespace: the upstream router the speakers' FRR peers with in BGP mode. One
// BGP protocol per peer (import everything, export only the given prefixes), every BGP route into the namespace's
// kernel table with equal-cost paths merged into one multipath route (ECMP across LB nodes, hashed by L4 ports),
// and BFD when asked. bird runs in the foreground, tracked in the ledger, with its configuration, control socket
// and log in a directory of its own (in the ledger too), inside the router's namespace only.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './eventually.ts';
import { componentDir, type Ledger } from './ledger.ts';
import type { Netns } from './netns.ts';
import { awaitReady, type TrackedProcess } from './process.ts';

const execFileAsync = promisify(execFile);

export interface BirdPeer {
  readonly address: string;
  readonly as: number;
  /** TCP MD5 password. */
  readonly password?: string;
  readonly bfd?: boolean;
  /** eBGP to a peer that need not be directly connected (BIRD `multihop`). */
  readonly multihop?: boolean;
}

export interface BfdTimers {
  readonly rxMs: number;
  readonly txMs: number;
  readonly multiplier: number;
}

export interface BirdRouterOptions {
  readonly ledger: Ledger;
  readonly netns: Netns;
  readonly routerId: string;
  readonly localAs: number;
  readonly peers: readonly BirdPeer[];
  /** Prefixes the router announces to its peers (originated here), e.g. the client subnet. */
  readonly exportPrefixes?: readonly string[];
  readonly bfd?: BfdTimers;
  /** Where the router's directory goes; a fresh one in the ledger by default. */
  readonly dir?: string;
  /**
   * The kernel table BIRD installs its routes in (default: main). The lab puts them in a table of their own and
   * mirrors them into main through resilient nexthop groups (lab/resilient-fib.ts).
   */
  readonly kernelTable?: number;
}

export interface BirdRoute {
  /** The BIRD protocol the route came from (the peer's protocol name). */
  readonly from: string;
  readonly primary: boolean;
  readonly nexthops: string[];
  /** Standard communities as "ASN:VALUE". */
  readonly communities: string[];
  /** Large communities as "A:B:C". */
  readonly largeCommunities: string[];
  readonly localPref?: number;
  /** The AS path as BIRD prints it ("" for a route from the same AS). */
  readonly asPath: string;
}

export interface BirdProtocol {
  readonly name: string;
  readonly peer: string;
  /** BIRD's protocol state (up, start, down). */
  readonly state: string;
  /** The BGP state (Established, Active, Connect, Idle, OpenSent, ...). */
  readonly bgpState: string;
  /** When the protocol last changed state, as BIRD prints it. */
  readonly since: string;
  /** BIRD's "Last error" line, when there is one. */
  readonly lastError?: string;
  /** The capabilities the peer advertised, as BIRD names them ("Graceful restart", "Route refresh", ...). */
  readonly neighborCaps: readonly string[];
}

export interface BirdRouter {
  readonly dir: string;
  readonly socket: string;
  readonly logFile: string;
  readonly process: TrackedProcess;
  /** The BGP protocol name of a peer. */
  protocolOf(address: string): string;
  /** birdc with the given words; returns its output. */
  birdc(...words: string[]): Promise<string>;
  /** Every route BIRD holds for `prefix` (`show route for PREFIX all`), best first. */
  routes(prefix: string): Promise<BirdRoute[]>;
  /** The next hops of `prefix` in the namespace's kernel table (one per ECMP path). */
  kernelNexthops(prefix: string): Promise<string[]>;
  /** The state of every peer's BGP protocol. */
  protocols(): Promise<BirdProtocol[]>;
  /** Replaces the peers and reconfigures BIRD (sessions of unchanged peers stay up). */
  setPeers(peers: readonly BirdPeer[]): Promise<void>;
  stop(): Promise<void>;
}

function protocolName(address: string): string {
  return `peer_${address.replace(/[.:]/g, '_')}`;
}

function birdConfig(o: BirdRouterOptions, peers: readonly BirdPeer[]): string {
  const exports = o.exportPrefixes ?? [];
  const lines = [
    `router id ${o.routerId};`,
    'log stderr all;',
    'protocol device { scan time 10; }',
    // Only BGP routes go to the kernel; equal BGP paths become one multipath route.
    'protocol kernel {',
    ...(o.kernelTable ? [`  kernel table ${o.kernelTable};`] : []),
    '  ipv4 { import none; export where source = RTS_BGP; };',
    '  merge paths on;',
    '}',
    // Multihop sessions resolve their next hops through the connected routes.
    ...(peers.some((p) => p.multihop) ? ['protocol direct { ipv4; ipv6; }'] : []),
    'protocol static originated {',
    '  ipv4;',
    ...exports.map((p) => `  route ${p} unreachable;`),
    '}',
  ];
  if (o.bfd)
    lines.push(
      'protocol bfd {',
      '  interface "*" {',
      `    min rx interval ${o.bfd.rxMs} ms;`,
      `    min tx interval ${o.bfd.txMs} ms;`,
      `    multiplier ${o.bfd.multiplier};`,
      '  };',
      '}',
    );
  const exportFilter =
    exports.length === 0 ? 'none' : `where proto = "originated" && net ~ [ ${exports.map((p) => `${p}`).join(', ')} ]`;
  for (const p of peers) {
    const ibgp = p.as === o.localAs;
    // A session over IPv6 carries IPv6 routes (BIRD's master6 table; only IPv4 goes to the kernel).
    const channel = p.address.includes(':') ? 'ipv6' : 'ipv4';
    lines.push(
      `protocol bgp ${protocolName(p.address)} {`,
      `  local as ${o.localAs};`,
      `  neighbor ${p.address} as ${p.as};`,
      // iBGP peers are on the same segment: a direct session, with the peer as the gateway of what it sends.
      ...(ibgp ? ['  direct;'] : []),
      ...(p.password === undefined ? [] : [`  password "${p.password}";`]),
      ...(p.bfd ? ['  bfd on;'] : []),
      ...(p.multihop ? ['  multihop;'] : []),
      '  connect retry time 1;',
      // BIRD waits 60-300 s after a session error before it talks to the peer again (damping for a flapping
      // neighbour); the lab's stories misconfigure a peer on purpose and expect it back within seconds.
      '  error wait time 1, 5;',
      // A graceful-restart helper, as routers are by default (BIRD: `graceful restart aware`): the LB nodes must
      // advertise no graceful-restart capability themselves, or a helper keeps a dead node's routes for 120 s.
      '  graceful restart aware;',
      `  ${channel} {`,
      '    import all;',
      `    export ${exportFilter === 'none' || channel === 'ipv6' ? 'none' : exportFilter};`,
      '    next hop self;',
      ...(ibgp ? ['    gateway direct;'] : []),
      '  };',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Parses `birdc show route for PREFIX all` (BIRD 2): one entry per route, in BIRD's order. */
export function parseBirdRoutes(text: string): BirdRoute[] {
  const routes: BirdRoute[] = [];
  let current: (BirdRoute & { nexthops: string[] }) | undefined;
  const attrs = new Map<string, string>();
  const finish = (): void => {
    if (!current) return;
    const lp = attrs.get('BGP.local_pref');
    routes.push({
      ...current,
      communities: [...(attrs.get('BGP.community') ?? '').matchAll(/\((\d+),(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}`),
      largeCommunities: [...(attrs.get('BGP.large_community') ?? '').matchAll(/\((\d+), ?(\d+), ?(\d+)\)/g)].map(
        (m) => `${m[1]}:${m[2]}:${m[3]}`,
      ),
      ...(lp === undefined ? {} : { localPref: Number(lp) }),
      asPath: attrs.get('BGP.as_path') ?? '',
    });
    attrs.clear();
    current = undefined;
  };
  for (const line of text.split('\n')) {
    // A route header: "[PREFIX]   unicast [PROTO TIME] * (100) [i]" (the prefix only on the net's first route).
    const head = /^(?:\S+)?\s+\w+ \[(\S+) [^\]]*\]( \*)? \(\d+/.exec(line);
    if (head) {
      finish();
      current = {
        from: head[1]!,
        primary: head[2] !== undefined,
        nexthops: [],
        communities: [],
        largeCommunities: [],
        asPath: '',
      };
      continue;
    }
    if (!current) continue;
    const via = /^\s+via (\S+)/.exec(line);
    if (via) {
      current.nexthops.push(via[1]!);
      continue;
    }
    const attr = /^\s+([A-Za-z][\w.]*): ?(.*)$/.exec(line);
    if (attr) attrs.set(attr[1]!, attr[2]!.trim());
  }
  finish();
  return routes;
}

/** The names under "Neighbor capabilities" in one protocol of `birdc show protocols all` (BIRD 2). */
export function neighborCapabilities(block: string): string[] {
  const lines = block.split('\n');
  const at = lines.findIndex((l) => /^\s*Neighbor capabilities\s*$/.test(l));
  if (at < 0) return [];
  const indent = (l: string): number => l.length - l.trimStart().length;
  const below: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (l.trim() === '' || indent(l) <= indent(lines[at]!)) break;
    below.push(l);
  }
  const top = Math.min(...below.map(indent));
  return below.filter((l) => indent(l) === top).map((l) => l.trim());
}

/** Next hops of one route in `ip route show` output: the single `via`, or every `nexthop via` of a multipath. */
export function parseKernelNexthops(text: string): string[] {
  return [...text.matchAll(/\bvia (\S+)/g)].map((m) => m[1]!);
}

export async function startBirdRouter(options: BirdRouterOptions): Promise<BirdRouter> {
  const { ledger, netns } = options;
  const { dir, remove: removeDir } = componentDir(ledger, 'klb-bird-', options.dir);
  const conf = join(dir, 'bird.conf');
  const socket = join(dir, 'bird.ctl');
  let peers = [...options.peers];
  writeFileSync(conf, birdConfig(options, peers));
  // Flows hash by L4 ports across the ECMP paths (this namespace's sysctl, not the host's).
  await netns.sysctl('net.ipv4.fib_multipath_hash_policy', 1);
  await netns.sysctl('net.ipv4.ip_forward', 1);

  const proc = netns.spawn('bird', 'bird', ['-f', '-c', conf, '-s', socket, '-P', join(dir, 'bird.pid')], dir);
  const birdc = async (...words: string[]): Promise<string> => {
    try {
      const { stdout } = await execFileAsync('birdc', ['-s', socket, ...words], { timeout: 10_000 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`birdc ${words.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  };
  try {
    await awaitReady(
      proc,
      'bird',
      eventually('bird answering birdc', async () => existsSync(socket) && /BIRD/.test(await birdc('show status'))),
    );
  } catch (err) {
    removeDir();
    throw err;
  }

  return {
    dir,
    socket,
    logFile: proc.logFile,
    process: proc,
    protocolOf: protocolName,
    birdc,
    async routes(prefix) {
      try {
        return parseBirdRoutes(await birdc('show', 'route', 'for', prefix, 'all'));
      } catch (err) {
        // birdc exits 1 when BIRD has no route for the prefix.
        const out = ((err as Error).cause as { stdout?: string } | undefined)?.stdout ?? '';
        if (/Network not found/.test(out)) return [];
        throw err;
      }
    },
    async kernelNexthops(prefix) {
      const table = options.kernelTable ? ['table', String(options.kernelTable)] : [];
      return parseKernelNexthops(await netns.ip('-4', 'route', 'show', ...table, prefix));
    },
    async protocols() {
      const out = await birdc('show', 'protocols', 'all');
      const result: BirdProtocol[] = [];
      for (const block of out.split(/\n(?=\S)/)) {
        const head = /^(\S+)\s+BGP\s+\S+\s+(\S+)\s+(\S+(?: \S+)?)\s+(\S+)/.exec(block);
        if (!head) continue;
        const peer = /Neighbor address:\s+(\S+)/.exec(block)?.[1] ?? '';
        const lastError = /Last error:\s+(.+)/.exec(block)?.[1]?.trim();
        result.push({
          name: head[1]!,
          peer,
          state: head[2]!,
          since: head[3]!,
          bgpState: /BGP state:\s+(\S+)/.exec(block)?.[1] ?? head[4]!,
          neighborCaps: neighborCapabilities(block),
          ...(lastError === undefined ? {} : { lastError }),
        });
      }
      return result;
    },
    async setPeers(next) {
      peers = [...next];
      writeFileSync(conf, birdConfig(options, peers));
      const out = await birdc('configure');
      if (!/Reconfigured|Reconfiguration in progress/.test(out)) throw new Error(`bird did not reconfigure: ${out}`);
    },
    async stop() {
      await proc.stop(5000);
      removeDir();
    },
  };
}
