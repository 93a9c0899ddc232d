// Golden lb4 map dumps written by the real cilium-agent of each line, so layouts are checked against the other
// side's own truth, not against bytes kube-lb encoded itself.
//
//   node scripts/cilium-golden.ts [LINE...]     default: every line of test/cilium/lines.json that is built
//
// For each line and each mode (random, maglev) a small lab: one LB cluster (etcd + kube-apiserver, no controller
// manager), one network namespace with eth0/eth1 (veth pairs to a peer namespace, nothing on the host), a private
// bpffs, the API relay, and the line's cilium-agent as kube-proxy replacement. The Services below exist before the
// agent starts; once every frontend is programmed and the maps hold still, every lb4 map is dumped as canonical JSON
// (sorted hex keys → hex values; maglev inner tables summarized) into test/fixtures/cilium/<version>/<mode>.json,
// with the version, the configuration and what each Service was. test/unit/lb4/cilium-golden.test.ts decodes them.
// Everything the lab creates is in a ledger and removed at the end; the run fails if anything is left.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfMap } from '../src/native/bpf.ts';
import { mapTypeName } from '../src/core/bpf/uapi.ts';
import { mountBpffs } from '../lab/bpffs.ts';
import { startApiRelay } from '../lab/api-relay.ts';
import {
  CiliumAgent,
  CILIUM_LINES,
  ciliumBuild,
  installCiliumCrds,
  labCiliumConfig,
  type CiliumBuild,
} from '../lab/cilium-agent.ts';
import { cleanupStale } from '../lab/cleanup-stale.ts';
import { startClusters } from '../lab/controlplane.ts';
import { eventually } from '../lab/eventually.ts';
import { Ledger } from '../lab/ledger.ts';
import { Netns, vethPair } from '../lab/netns.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const GOLDEN_DIR = join(repoRoot, 'test/fixtures/cilium');
export const GOLDEN_MODES = ['random', 'maglev'] as const;
export type GoldenMode = (typeof GOLDEN_MODES)[number];

const NODE = { name: 'lb-1', eth0: '198.51.100.11', eth1: '10.200.0.11', podCIDR: '10.100.1.0/24' } as const;
const RELAY_PORT = 6443;
/** Maglev inner tables: how many leading entries the dump keeps beside the histogram and digest. */
const MAGLEV_FIRST = 16;

interface EndpointSpec {
  readonly address: string;
  readonly ready: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
  readonly nodeName?: string;
}

interface PortSpec {
  readonly name: string;
  readonly protocol: 'TCP' | 'UDP';
  readonly port: number;
  readonly targetPort: number;
  readonly nodePort?: number;
}

/** One Service of the lab, as created (and as recorded in the dump). */
export interface GoldenService {
  readonly name: string;
  readonly why: string;
  readonly type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  readonly clusterIP: string;
  readonly ports: readonly PortSpec[];
  readonly externalIPs?: readonly string[];
  readonly loadBalancerIngress?: string;
  readonly loadBalancerSourceRanges?: readonly string[];
  readonly sessionAffinityTimeout?: number;
  readonly externalTrafficPolicy?: 'Local';
  readonly endpoints: readonly EndpointSpec[];
}

const B1 = '10.200.1.11';
const B2 = '10.200.1.12';
const B3 = '10.200.1.13';
const B4 = '10.200.1.14';
const B5 = '10.200.1.15';
const HTTP: PortSpec = { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 };

export const GOLDEN_SERVICES: readonly GoldenService[] = [
  {
    name: 'two-backends',
    why: 'ClusterIP, two ready backends, a TCP and a UDP port',
    type: 'ClusterIP',
    clusterIP: '10.96.10.1',
    ports: [HTTP, { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 }],
    endpoints: [
      { address: B1, ready: true },
      { address: B2, ready: true },
    ],
  },
  {
    name: 'node-port',
    why: 'NodePort 30081: frontends on the node addresses and the surrogate',
    type: 'NodePort',
    clusterIP: '10.96.10.2',
    ports: [{ name: 'http', protocol: 'TCP', port: 8081, targetPort: 8080, nodePort: 30081 }],
    endpoints: [{ address: B1, ready: true }],
  },
  {
    name: 'external-ip',
    why: 'ClusterIP with an externalIP (what kube-lb VIPs look like to Cilium)',
    type: 'ClusterIP',
    clusterIP: '10.96.10.3',
    ports: [HTTP],
    externalIPs: ['198.51.100.180'],
    endpoints: [{ address: B2, ready: true }],
  },
  {
    name: 'source-ranges',
    why: 'LoadBalancer (ingress IP set by hand, no NodePorts) with loadBalancerSourceRanges',
    type: 'LoadBalancer',
    clusterIP: '10.96.10.4',
    ports: [{ name: 'https', protocol: 'TCP', port: 443, targetPort: 8443 }],
    loadBalancerIngress: '198.51.100.190',
    loadBalancerSourceRanges: ['192.0.2.0/24', '203.0.113.7/32'],
    endpoints: [
      { address: B1, ready: true },
      { address: B2, ready: true },
    ],
  },
  {
    name: 'affinity',
    why: 'sessionAffinity ClientIP with a 600 s timeout, two backends, an externalIP',
    type: 'ClusterIP',
    clusterIP: '10.96.10.5',
    ports: [HTTP],
    externalIPs: ['198.51.100.181'],
    sessionAffinityTimeout: 600,
    endpoints: [
      { address: B1, ready: true },
      { address: B2, ready: true },
    ],
  },
  {
    name: 'terminating',
    why: 'one ready backend; terminating and serving, terminating and not serving, and not ready ones on addresses no other Service uses (a backend entry is per address, shared by every Service)',
    type: 'ClusterIP',
    clusterIP: '10.96.10.6',
    ports: [HTTP],
    endpoints: [
      { address: B1, ready: true },
      { address: B4, ready: false, serving: true, terminating: true },
      { address: B5, ready: false, serving: false, terminating: true },
      { address: B3, ready: false, serving: false, terminating: false },
    ],
  },
  {
    name: 'local-traffic',
    why: 'LoadBalancer with externalTrafficPolicy Local: two scopes; one backend on this node',
    type: 'LoadBalancer',
    clusterIP: '10.96.10.7',
    ports: [HTTP],
    loadBalancerIngress: '198.51.100.191',
    externalTrafficPolicy: 'Local',
    endpoints: [
      { address: B1, ready: true, nodeName: NODE.name },
      { address: B2, ready: true, nodeName: 'elsewhere' },
    ],
  },
];

/** Frontends that must be programmed before the maps are dumped, "address:port" (not the kubernetes Service: the lab apiserver publishes no EndpointSlice for it, and 1.17 writes no frontend without one). */
const MUST_EXIST = [
  '10.96.10.1:80',
  '10.96.10.1:53',
  '10.96.10.2:8081',
  `${NODE.eth0}:30081`,
  '198.51.100.180:80',
  '198.51.100.190:443',
  '198.51.100.181:80',
  '10.96.10.6:80',
  '198.51.100.191:80',
];

/** The lb4 maps dumped in full (every present entry). */
const DUMPED_MAPS = [
  'cilium_lb4_services_v2',
  'cilium_lb4_backends_v3',
  'cilium_lb4_reverse_nat',
  'cilium_lb_affinity_match',
  'cilium_lb4_source_range',
  'cilium_lb4_affinity',
] as const;
const MAGLEV_MAP = 'cilium_lb4_maglev';

export interface GoldenMapDump {
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** Hex key → hex value, sorted by key. */
  readonly entries: Record<string, string>;
}

export interface GoldenMaglevTable {
  readonly innerValueSize: number;
  readonly tableSize: number;
  /** sha256 of the inner value bytes as read (host-order u32 backend IDs). */
  readonly sha256: string;
  /** Backend ID → number of table cells. */
  readonly histogram: Record<string, number>;
  readonly first: readonly number[];
}

export interface GoldenDump {
  readonly generatedBy: string;
  readonly cilium: { readonly line: string; readonly version: string; readonly agentVersion: string };
  readonly mode: GoldenMode;
  readonly config: Record<string, string>;
  readonly node: typeof NODE;
  /** The `kubernetes` Service's backend (the apiserver; its port differs per run). */
  readonly kubernetesService: {
    readonly clusterIP: string;
    readonly port: number;
    readonly apiserver: string;
    readonly endpointSliceAddresses: readonly string[];
  };
  readonly services: readonly GoldenService[];
  readonly maps: Record<string, GoldenMapDump>;
  readonly maglev?: {
    readonly outer: Omit<GoldenMapDump, 'entries'>;
    readonly tables: Record<string, GoldenMaglevTable>;
  };
  /** Other lb maps the agent pinned (not dumped). */
  readonly otherMaps: readonly string[];
  /** `cilium-dbg bpf lb list` of the same version, sorted: Cilium's own reading of these entries. */
  readonly ciliumDbgLbList: readonly string[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function dumpMap(path: string): GoldenMapDump {
  const map = BpfMap.open(path, { readOnly: true });
  try {
    const d = map.dump();
    const pairs: [string, string][] = [];
    for (let i = 0; i < d.count; i++) {
      pairs.push([
        hex(d.keys.subarray(i * d.keySize, (i + 1) * d.keySize)),
        hex(d.values.subarray(i * d.valueSize, (i + 1) * d.valueSize)),
      ]);
    }
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const { type, keySize, valueSize, maxEntries, flags } = map.info;
    return { type: mapTypeName(type), keySize, valueSize, maxEntries, flags, entries: Object.fromEntries(pairs) };
  } finally {
    map.close();
  }
}

function dumpMaglev(path: string): NonNullable<GoldenDump['maglev']> {
  const outer = dumpMap(path);
  const tables: Record<string, GoldenMaglevTable> = {};
  for (const [key, value] of Object.entries(outer.entries)) {
    const innerId = Buffer.from(value, 'hex').readUInt32LE(0);
    const inner = BpfMap.fromId(innerId, `maglev inner of ${key}`);
    try {
      const bytes = inner.lookup(new Uint8Array(4));
      if (!bytes) throw new Error(`maglev inner map ${innerId} (outer key ${key}) has no element 0`);
      const ids = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      const histogram: Record<string, number> = {};
      for (const id of ids) histogram[String(id)] = (histogram[String(id)] ?? 0) + 1;
      tables[key] = {
        innerValueSize: inner.info.valueSize,
        tableSize: ids.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        histogram,
        first: [...ids.subarray(0, MAGLEV_FIRST)],
      };
    } finally {
      inner.close();
    }
  }
  const { entries: _inner, ...shape } = outer;
  return { outer: shape, tables };
}

function dumpAll(mapDir: string): {
  maps: Record<string, GoldenMapDump>;
  maglev: GoldenDump['maglev'];
  otherMaps: string[];
} {
  const maps: Record<string, GoldenMapDump> = {};
  for (const name of DUMPED_MAPS) if (existsSync(join(mapDir, name))) maps[name] = dumpMap(join(mapDir, name));
  const maglev = existsSync(join(mapDir, MAGLEV_MAP)) ? dumpMaglev(join(mapDir, MAGLEV_MAP)) : undefined;
  const known = new Set<string>([...DUMPED_MAPS, MAGLEV_MAP]);
  const otherMaps = readdirSync(mapDir)
    .filter((n) => /^cilium_lb/.test(n) && !known.has(n))
    .sort();
  return { maps, maglev, otherMaps };
}

/** Masters ("a.b.c.d:port") of a services dump, read straight from the key bytes (no kube-lb codec). */
function masters(services: GoldenMapDump): Set<string> {
  const out = new Set<string>();
  for (const k of Object.keys(services.entries)) {
    const b = Buffer.from(k, 'hex');
    if (b.readUInt16LE(6) !== 0) continue;
    out.add(`${b[0]}.${b[1]}.${b[2]}.${b[3]}:${b.readUInt16BE(4)}`);
  }
  return out;
}

function serviceObjects(s: GoldenService): unknown[] {
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: 'default' },
    spec: {
      type: s.type,
      clusterIP: s.clusterIP,
      ports: s.ports.map((p) => ({
        name: p.name,
        protocol: p.protocol,
        port: p.port,
        targetPort: p.targetPort,
        ...(p.nodePort ? { nodePort: p.nodePort } : {}),
      })),
      ...(s.externalIPs ? { externalIPs: s.externalIPs } : {}),
      ...(s.type === 'LoadBalancer' ? { allocateLoadBalancerNodePorts: false } : {}),
      ...(s.externalTrafficPolicy ? { externalTrafficPolicy: s.externalTrafficPolicy } : {}),
      ...(s.loadBalancerSourceRanges ? { loadBalancerSourceRanges: s.loadBalancerSourceRanges } : {}),
      ...(s.sessionAffinityTimeout
        ? {
            sessionAffinity: 'ClientIP',
            sessionAffinityConfig: { clientIP: { timeoutSeconds: s.sessionAffinityTimeout } },
          }
        : {}),
    },
  };
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${s.name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': s.name } },
    addressType: 'IPv4',
    ports: s.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.targetPort })),
    endpoints: s.endpoints.map((e) => ({
      addresses: [e.address],
      ...(e.nodeName ? { nodeName: e.nodeName } : {}),
      conditions: {
        ready: e.ready,
        ...(e.serving === undefined ? {} : { serving: e.serving }),
        ...(e.terminating === undefined ? {} : { terminating: e.terminating }),
      },
    })),
  };
  return [svc, slice];
}

/** JSON with object keys sorted at every level (arrays keep their order): the same dump gives the same bytes. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

/**
 * cilium-dbg in the agent's namespaces, reading the agent's own bpffs. CiliumAgent.dbg is not enough when another
 * lab runs: cilium-dbg takes the first bpffs in /proc/mounts, and the agent's mount namespace inherited every bpffs
 * mounted on the machine when it started (other labs' included), listed before its own /sys/fs/bpf. So this runs
 * it in a throw-away copy of that namespace with every other bpffs unmounted.
 */
function ciliumDbgOwnBpffs(agent: CiliumAgent, args: readonly string[]): string {
  const pid = agent.process?.child.pid;
  if (pid === undefined) throw new Error('cilium-agent is not running');
  const script = `awk '$3 == "bpf" && $2 != "/sys/fs/bpf" {print $2}' /proc/mounts | while read -r m; do umount -l "$m"; done; exec "$0" "$@"`;
  return execFileSync(
    'nsenter',
    [
      '-t',
      String(pid),
      '-m',
      '-n',
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      script,
      agent.options.build.dbg,
      ...args,
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 },
  );
}

function say(msg: string): void {
  console.error(`[cilium-golden] ${msg}`);
}

async function goldenRun(build: CiliumBuild, mode: GoldenMode): Promise<GoldenDump> {
  const ledger = Ledger.open(`golden-${build.line.replace('.', '')}-${mode}`);
  const cleanups: (() => Promise<void> | void)[] = [];
  const dir = mkdtempSync(join(tmpdir(), `klb-golden-${build.line}-${mode}-`));
  ledger.record('dir', dir);
  cleanups.push(() => {
    rmSync(dir, { recursive: true, force: true });
    ledger.release('dir', dir);
  });
  try {
    say(`${build.version} ${mode}: LB cluster, namespace, bpffs`);
    const [lb] = await startClusters(ledger, [{ name: 'lb', installCRDs: false }]);
    cleanups.push(() => lb!.stop());
    const ns = await Netns.create(ledger, 'gd');
    cleanups.push(() => ns.destroy());
    const peer = await Netns.create(ledger, 'gp');
    cleanups.push(() => peer.destroy());
    await vethPair(ns, 'eth0', peer, 'p0');
    await vethPair(ns, 'eth1', peer, 'p1');
    await ns.addAddress('eth0', `${NODE.eth0}/24`);
    await ns.addAddress('eth1', `${NODE.eth1}/16`);
    await peer.addAddress('p0', '198.51.100.1/24');
    await peer.addAddress('p1', '10.200.0.1/16');
    for (const [n, d] of [
      [ns, 'eth0'],
      [ns, 'eth1'],
      [peer, 'p0'],
      [peer, 'p1'],
    ] as const)
      await n.up(d);
    await ns.addRoute('default', '198.51.100.1', 'eth0');
    for (const k of ['all', 'eth0', 'eth1']) await ns.sysctl(`net.ipv4.conf.${k}.forwarding`, 1);
    await ns.sysctl('net.ipv4.ip_local_port_range', '32768 60999');
    const bpffs = mountBpffs(ledger, 'golden');
    cleanups.push(() => bpffs.dispose());
    const mapDir = join(bpffs.dir, 'tc', 'globals');
    mkdirSync(mapDir, { recursive: true });
    const relay = await startApiRelay(ledger, lb!, dir);
    cleanups.push(() => relay.close());
    await relay.startInNetns(ns.name, RELAY_PORT);

    await lb!.createNodes([{ name: NODE.name, internalIP: NODE.eth0, podCIDR: NODE.podCIDR }]);
    installCiliumCrds((args) => lb!.kubectl(args), build);
    for (const s of GOLDEN_SERVICES) {
      lb!.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: serviceObjects(s) }));
      if (s.loadBalancerIngress) {
        lb!.kubectl([
          'patch',
          'service',
          s.name,
          '-n',
          'default',
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: s.loadBalancerIngress }] } } }),
        ]);
      }
    }
    const apiPort = Number(new URL(lb!.server).port);

    const config = labCiliumConfig(build.line, mode === 'maglev' ? { 'bpf-lb-algorithm': 'maglev' } : {});
    const agent = CiliumAgent.create({
      ledger,
      build,
      ns,
      nodeName: NODE.name,
      bpffsDir: bpffs.dir,
      kubeconfig: relay.kubeconfigFor(RELAY_PORT),
      dir: join(dir, 'cilium'),
      devices: ['eth0', 'eth1'],
      config,
    });
    cleanups.push(() => agent.dispose());
    say(`${build.version} ${mode}: starting cilium-agent (it compiles its datapath: about a minute)`);
    const started = Date.now();
    agent.start();
    await agent.waitReady();
    say(
      `${build.version} ${mode}: agent ready after ${Math.round((Date.now() - started) / 1000)} s; waiting for every frontend`,
    );
    let seen = new Set<string>();
    await eventually(
      'every lab frontend programmed',
      () => {
        seen = masters(dumpMap(join(mapDir, 'cilium_lb4_services_v2')));
        return MUST_EXIST.every((f) => seen.has(f)) || undefined;
      },
      120_000,
      500,
    ).catch((err: unknown) => {
      const log = readFileSync(agent.logFile, 'utf8')
        .split('\n')
        .filter((l) => /level=(error|warn)|fatal|panic/i.test(l))
        .slice(-15)
        .join('\n');
      throw new Error(
        `${(err as Error).message}; missing ${MUST_EXIST.filter((f) => !seen.has(f)).join(' ')}; agent warnings:\n${log}`,
        { cause: err },
      );
    });
    // The maps hold still: two dumps 3 s apart are identical.
    let last = canonicalJson(dumpAll(mapDir));
    await eventually(
      'the lb4 maps to hold still',
      async () => {
        await new Promise((r) => setTimeout(r, 3000));
        const now = canonicalJson(dumpAll(mapDir));
        const same = now === last;
        last = now;
        return same || undefined;
      },
      60_000,
      0,
    );
    const { maps, maglev, otherMaps } = dumpAll(mapDir);
    const list = ciliumDbgOwnBpffs(agent, ['bpf', 'lb', 'list'])
      .split('\n')
      .map((l) => l.replace(/\s+/g, ' ').trim())
      .filter((l) => l && !/^SERVICE ADDRESS/.test(l));
    const kubeSlices = JSON.parse(
      lb!.kubectl([
        'get',
        'endpointslices',
        '-n',
        'default',
        '-l',
        'kubernetes.io/service-name=kubernetes',
        '-o',
        'json',
      ]),
    ) as {
      items: { endpoints?: { addresses: string[] }[]; ports?: { port: number }[] }[];
    };
    const endpointSliceAddresses = kubeSlices.items
      .flatMap((i) => (i.endpoints ?? []).flatMap((e) => e.addresses.map((a) => `${a}:${i.ports?.[0]?.port}`)))
      .sort();
    const agentVersion = execFileSync(build.agent, ['--version'], { encoding: 'utf8' }).trim();
    return {
      generatedBy: 'node scripts/cilium-golden.ts',
      cilium: { line: build.line, version: build.version, agentVersion },
      mode,
      config,
      node: NODE,
      kubernetesService: {
        clusterIP: '10.96.0.1',
        port: 443,
        apiserver: `127.0.0.1:${apiPort}`,
        endpointSliceAddresses,
      },
      services: GOLDEN_SERVICES,
      maps,
      ...(maglev ? { maglev } : {}),
      otherMaps,
      ciliumDbgLbList: list.sort(),
    };
  } finally {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        say(`cleanup: ${String(err)}`);
      }
    }
    // Reported, not thrown: a throw here would hide the error the run itself may be failing with.
    const left = Ledger.outstanding(ledger.dir);
    if (left.length > 0) {
      say(`the lab left ${left.map((e) => `${e.kind} ${e.value}`).join(', ')} (ledger ${ledger.dir})`);
      process.exitCode = 1;
    }
  }
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  for (const l of asked)
    if (!CILIUM_LINES.includes(l)) throw new Error(`no Cilium line ${l} (lines: ${CILIUM_LINES.join(', ')})`);
  const lines = asked.length > 0 ? asked : [...CILIUM_LINES];
  const stale = cleanupStale();
  if (stale > 0) say(`removed what ${stale} earlier run(s) left behind`);
  const failed: string[] = [];
  for (const line of lines) {
    let build: CiliumBuild;
    try {
      build = ciliumBuild(line);
    } catch (err) {
      say(`${line}: skipped: ${(err as Error).message}`);
      if (asked.length > 0) failed.push(line);
      continue;
    }
    for (const mode of GOLDEN_MODES) {
      try {
        const dump = await goldenRun(build, mode);
        const out = join(GOLDEN_DIR, build.version, `${mode}.json`);
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, canonicalJson(dump));
        say(`${build.version} ${mode}: wrote ${out.slice(repoRoot.length + 1)}`);
      } catch (err) {
        say(`${build.version} ${mode}: FAILED: ${(err as Error).message.slice(0, 2000)}`);
        failed.push(`${line}/${mode}`);
        if (/exited|timed out/.test(String(err))) break; // an agent that does not start will not start in maglev mode either
      }
    }
  }
  if (failed.length > 0) {
    say(`failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
