// L2 failover benchmark: how long clients lose a VIP when its owner dies, and what announcing costs the API server.
//
// Setup: a real kube-apiserver; a client, a backend and three LB nodes in network namespaces on one bridge. Each
// LB node runs the test datapath (test/datapath, tc on eth0 reading Cilium-shaped maps) with the same UDP
// service per VIP → backend, and the standalone L2 speaker (src/speaker/l2/standalone.ts) with its default
// timings. The client sends a UDP request to the VIP every 10 ms, each from a new socket.
//
// One run: the VIP's owner "dies" — its speaker gets SIGKILL and its eth0 goes down at the same moment (a node
// crash; killing only the speaker would leave the node forwarding for clients that cached its MAC). The gap is
// the time from the kill to the first reply to a request sent after it: failure detection, takeover, gratuitous
// ARP and the client's next request. Then the node comes back and the next run takes the next VIP (so the
// owners vary). 20 runs with fast probes (UDP heartbeats), 5 with Leases alone.
//
// API writes: three speakers announcing 10 and then 1,000 VIPs (VIPClaims with a VIP in their status, one
// VIPPool, one L2Announcement), counted by the apiserver itself (apiserver_request_total, write verbs) over a
// steady-state window, minus the apiserver's own writes measured over the same window before the speakers start.
//
// Load: then, with no failure, every speaker's main thread also programs and repairs 10k × 10 entries without
// pause (_dataplane-load.ts) for --load-s seconds: VIPs acquired meanwhile are false failovers, and the
// speakers' heartbeat-gap histograms give the jitter.
//
// Usage: npm run bench -- failover [--runs N] [--runs-no-probes N] [--load-s S] [--window-s S]
// Last line: {"runs", "gap_ms_p50", "gap_ms_max", "gap_ms_p50_no_probes", "api_writes_per_s_10_vips", ...}
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { Ledger } from '../../lab/ledger.ts';
import { controlPlaneBinDir, startCluster, type TestCluster } from '../../lab/controlplane.ts';
import { startApiRelay } from '../../lab/api-relay.ts';
import { createL2Topology, arpingReplies, SetupStack, type L2Topology } from '../../lab/l2-topology.ts';
import { L2Speakers } from '../../lab/l2-speakers.ts';
import { eventually } from '../../lab/eventually.ts';
import { mountBpffs } from '../../lab/bpffs.ts';
import { createCiliumMaps } from '../../lab/cilium-maps.ts';
import { foreignServiceEntries } from '../../test/support/lb4-fixtures.ts';
import { attachTestDatapath } from '../../test/datapath/loader.ts';
import { PROFILES } from '../../src/core/lb4/profile.ts';
import { LB4_MAPS } from '../../src/core/lb4/maps.ts';
import { BpfMap } from '../../src/native/bpf.ts';
import { rendezvousOwner } from '../../src/core/l2/rendezvous.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { apiMessage, isConflict, isTransientApiError } from '../../src/kube/client.ts';
import { API_VERSION, type L2Announcement, type VIPClaim, type VIPPool } from '../../src/api/v1alpha1.ts';
import { approvalOf } from '../../src/core/allocation/approval.ts';
import { L2_OPTIONS } from '../../src/speaker/l2/config.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : Number(args[i + 1]);
};
const RUNS = flag('runs', 20);
/** Runs with Leases alone: each waits for a Lease to expire, and the figure is for comparison only. */
const RUNS_NO_PROBES = flag('runs-no-probes', 5);
/** Length of the load phase (no failure, every speaker also programming 10k × 10 in a loop); 0: none. */
const LOAD_S = flag('load-s', 60);
/** --skip-failover: only the API-write figures (for profiling the speaker with many VIPs). */
const SKIP_FAILOVER = args.includes('--skip-failover');
const WINDOW_S = flag('window-s', 15);
const VIP_PORT = 53;
const BACKEND_IP = '10.66.0.50';
const BACKEND_UDP = 30053;
const FAILOVER_VIPS = 10;
/** Where the standalone speakers serve /metrics (on their node's address) during the load phase. */
const METRICS_PORT = 9475;
const log = (msg: string) => console.error(`[failover] ${msg}`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Sum of apiserver_request_total over write verbs, from the apiserver's own /metrics (several MB of text). */
function apiWrites(cluster: TestCluster): number {
  const text = execFileSync(
    join(controlPlaneBinDir(), 'kubectl'),
    ['--kubeconfig', cluster.kubeconfigPath, 'get', '--raw', '/metrics'],
    {
      encoding: 'utf8',
      maxBuffer: 256 << 20,
    },
  );
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    if (!/verb="(POST|PUT|PATCH|DELETE|APPLY)"/.test(line)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * The switch stops flooding unknown unicast to the LB nodes' ports. When a node dies its switch port's FDB
 * entries go, and frames still addressed to its MAC would otherwise be flooded to the other LB nodes, whose tc
 * datapath would serve them: the benchmark would measure the flood, not the ARP takeover. With flooding off
 * toward LB nodes, frames for the dead MAC reach nobody until the client has learned the new owner's MAC.
 */
async function noUnknownUnicastFloodToNodes(topo: L2Topology): Promise<void> {
  for (const node of topo.nodes) {
    const [eth0] = JSON.parse(await node.host.ip('-j', 'link', 'show', 'eth0')) as { link_index: number }[];
    const ports = JSON.parse(await topo.switchNs.ip('-j', 'link', 'show')) as { ifindex: number; ifname: string }[];
    const port = ports.find((p) => p.ifindex === eth0!.link_index)!;
    await topo.switchNs.exec('bridge', 'link', 'set', 'dev', port.ifname, 'flood', 'off');
  }
}

async function programDatapath(
  ledger: Ledger,
  topo: L2Topology,
  setup: SetupStack,
  vips: readonly string[],
): Promise<void> {
  const profile = PROFILES['1.18'];
  for (const node of topo.nodes) {
    // The datapath forwards with bpf_fib_lookup, which needs forwarding on; the speaker only sets it on eth0 once it owns a VIP.
    await node.host.sysctl('net.ipv4.conf.all.forwarding', 1);
    await node.host.sysctl('net.ipv4.conf.eth0.forwarding', 1);
    const fs = await setup.step(Promise.resolve(mountBpffs(ledger, `bench-${node.name}`)), async (b) => b.dispose());
    const dir = join(fs.dir, 'tc', 'globals');
    mkdirSync(dir, { recursive: true });
    const maps = createCiliumMaps(dir, { profile });
    vips.forEach((vip, i) => {
      for (const e of foreignServiceEntries(profile, {
        vip,
        port: VIP_PORT,
        proto: 17,
        revNat: 100 + i,
        backends: [{ id: 100 + i, address: BACKEND_IP, port: BACKEND_UDP }],
      })) {
        using m = BpfMap.open(join(dir, LB4_MAPS[e.map].name));
        m.update(e.key, e.value);
      }
    });
    await setup.step(
      attachTestDatapath({ maps, pinDir: fs.dir, ns: node.host, dev: 'eth0', nodeAddress: node.ip }),
      (d) => d.detach(),
    );
  }
}

interface Prober {
  /** Resolves with the reply time of the first request sent at or after `since` (ms since the epoch). */
  firstReplySentAfter(since: number, timeoutMs: number): Promise<number>;
  replies(): number;
  stop(): Promise<void>;
}

function startProber(topo: L2Topology, vip: string): Prober {
  const proc = topo.client.host.spawn(
    `prober-${vip}`,
    process.execPath,
    [join(here, '_failover-prober.ts'), vip, String(VIP_PORT), '10', '2000'],
    topo.dir,
  );
  const replies: { sent: number; recv: number }[] = [];
  let buf = '';
  proc.child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const m = /^ok (\d+) (\d+)/.exec(line);
      if (m) replies.push({ sent: Number(m[1]), recv: Number(m[2]) });
    }
  });
  return {
    replies: () => replies.length,
    async firstReplySentAfter(since, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = replies.find((r) => r.sent >= since);
        if (hit) return hit.recv;
        if (Date.now() > deadline) throw new Error(`no reply from ${vip} within ${timeoutMs} ms of the kill`);
        await sleep(5);
      }
    },
    stop: () => proc.stop(1000),
  };
}

async function waitOwners(topo: L2Topology, vips: readonly string[], names: readonly string[]): Promise<void> {
  for (const vip of vips) {
    const mac = topo.nodes.find((n) => n.name === rendezvousOwner(vip, names))!.mac;
    await eventually(
      `${vip} answered by its owner`,
      async () => {
        const r = await arpingReplies(topo, vip, 2, 0.05);
        return r.length === 2 && r.every((m) => m === mac);
      },
      60_000,
      200,
    );
  }
}

async function failoverRuns(
  mode: string,
  runs: number,
  topo: L2Topology,
  speakers: L2Speakers,
  speakerArgs: readonly string[],
  vips: readonly string[],
): Promise<number[]> {
  const names = topo.nodes.map((n) => n.name);
  for (const n of names) speakers.start(n, speakerArgs);
  await waitOwners(topo, vips, names);
  const gaps: number[] = [];
  for (let run = 0; run < runs; run++) {
    const vip = vips[run % vips.length]!;
    const owner = topo.nodes.find((n) => n.name === rendezvousOwner(vip, names))!;
    const prober = startProber(topo, vip);
    await eventually(`${vip} serving requests`, async () => prober.replies() >= 20, 60_000, 50);
    // The gap starts before the kill is issued; only requests sent after the node is surely gone count (replies
    // to earlier ones may still come from it while `ip` and the signal take effect), so the figure errs high.
    const killedAt = Date.now();
    await Promise.all([owner.host.ip('link', 'set', 'eth0', 'down'), speakers.procs.get(owner.name)!.kill()]);
    const goneAt = Date.now();
    const recoveredAt = await prober.firstReplySentAfter(goneAt, 60_000);
    gaps.push(recoveredAt - killedAt);
    log(
      `${mode} run ${run + 1}/${runs}: ${vip} owner ${owner.name} killed, first reply after ${recoveredAt - killedAt} ms`,
    );
    await prober.stop();
    // The node comes back; the next run starts from a settled segment.
    await owner.host.ip('link', 'set', 'eth0', 'up');
    await owner.host.ip('route', 'replace', 'default', 'via', topo.client.ip, 'dev', 'eth0');
    speakers.start(owner.name, speakerArgs);
    await waitOwners(topo, vips, names);
  }
  await Promise.all([...speakers.procs.values()].map((p) => p.stop(8000)));
  speakers.procs.clear();
  return gaps;
}

/** The last lines of every speaker's newest log that are not debug, for a failure message. */
function speakerLogTails(topo: L2Topology, lines = 8): string {
  return topo.nodes
    .map((n) => {
      const logs = readdirSync(topo.dir).filter((f) => f.startsWith(`speaker-${n.name}-`));
      const newest = logs.sort((a, b) => Number(/-(\d+)\.log$/.exec(b)?.[1]) - Number(/-(\d+)\.log$/.exec(a)?.[1]))[0];
      if (!newest) return `${n.name}: no log`;
      const tail = readFileSync(join(topo.dir, newest), 'utf8')
        .split('\n')
        .filter((l) => l && !l.includes('"level":"debug"'))
        .slice(-lines);
      return `${newest}:\n${tail.join('\n')}`;
    })
    .join('\n');
}

/** A Prometheus text exposition's samples, by name with labels as written. */
async function scrape(node: L2Topology['nodes'][number]): Promise<Map<string, number>> {
  const text = await node.host.exec('curl', '-sf', `http://${node.ip}:${METRICS_PORT}/metrics`);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.trim()) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

const sample = (m: Map<string, number>, prefix: string): number => {
  let sum = 0;
  for (const [k, v] of m) if (k.startsWith(prefix)) sum += v;
  return sum;
};

/** Cumulative heartbeat-gap buckets (le in seconds → count), summed over nodes, as after − before. */
function gapBuckets(before: Map<string, number>[], after: Map<string, number>[]): [number, number][] {
  const les = new Map<number, number>();
  after.forEach((m, i) => {
    for (const [k, v] of m) {
      const hit = /^kube_lb_l2_heartbeat_gap_seconds_bucket\{.*le="([^"]+)"/.exec(k);
      if (!hit) continue;
      const le = hit[1] === '+Inf' ? Infinity : Number(hit[1]);
      les.set(le, (les.get(le) ?? 0) + v - (before[i]!.get(k) ?? 0));
    }
  });
  return [...les].sort((a, b) => a[0] - b[0]);
}

/** The q-quantile of a cumulative histogram, interpolated inside its bucket as Prometheus' histogram_quantile does. */
function histogramQuantile(q: number, buckets: [number, number][]): number {
  const total = buckets[buckets.length - 1]?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/**
 * No node fails: every speaker's main thread also programs and repairs 10k × 10 entries without pause
 * (_dataplane-load.ts, preloaded), on this 2-core machine. Any VIP a node acquires meanwhile is a false
 * failover. Heartbeat jitter is read from the speakers' own kube_lb_l2_heartbeat_gap_seconds.
 */
async function loadPhase(
  ledger: Ledger,
  topo: L2Topology,
  speakers: L2Speakers,
  setup: SetupStack,
  staticArgs: readonly string[],
  vips: readonly string[],
): Promise<Record<string, unknown>> {
  const fs = await setup.step(Promise.resolve(mountBpffs(ledger, 'bench-load')), async (b) => b.dispose());
  for (const n of topo.nodes) {
    const dir = join(fs.dir, n.name);
    mkdirSync(dir);
    createCiliumMaps(dir, { profile: PROFILES['1.18'], maxEntries: 1 << 18 });
  }
  const names = topo.nodes.map((n) => n.name);
  // On the node's own address: the LB nodes' namespaces have no loopback up.
  const args = (n: string): string[] => [
    ...staticArgs,
    '--metrics-bind-address',
    `${topo.nodes.find((x) => x.name === n)!.ip}:${METRICS_PORT}`,
  ];
  // Speakers first, settled, then the load: the window counts only what the load causes.
  for (const n of names) speakers.start(n, args(n));
  await waitOwners(topo, vips, names);
  await Promise.all([...speakers.procs.values()].map((p) => p.stop(8000)));
  speakers.procs.clear();
  const preload = process.env.KUBE_LB_SPEAKER_NODE_OPTIONS;
  process.env.KUBE_LB_SPEAKER_NODE_OPTIONS = `${preload ?? ''} --import ${join(here, '_dataplane-load.ts')}`.trim();
  process.env.KUBE_LB_BENCH_LOAD_DIR = fs.dir;
  process.env.KUBE_LB_BENCH_LOAD_OUT = topo.dir;
  try {
    for (const n of names) speakers.start(n, args(n));
  } finally {
    if (preload === undefined) delete process.env.KUBE_LB_SPEAKER_NODE_OPTIONS;
    else process.env.KUBE_LB_SPEAKER_NODE_OPTIONS = preload;
    delete process.env.KUBE_LB_BENCH_LOAD_DIR;
    delete process.env.KUBE_LB_BENCH_LOAD_OUT;
  }
  await waitOwners(topo, vips, names).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${speakerLogTails(topo)}`);
  });
  const loadOf = (n: string): { passes: number; pass_ms_p50: number; pass_ms_max: number } =>
    JSON.parse(readFileSync(join(topo.dir, `load-${n}.json`), 'utf8')) as {
      passes: number;
      pass_ms_p50: number;
      pass_ms_max: number;
    };
  await eventually(
    'the load running on every node',
    async () => {
      for (const n of names) {
        const failed = join(topo.dir, `load-${n}.error`);
        if (existsSync(failed)) throw new Error(`the load on ${n} failed: ${readFileSync(failed, 'utf8')}`);
      }
      return names.every((n) => existsSync(join(topo.dir, `load-${n}.json`)) && loadOf(n).passes >= 2);
    },
    120_000,
    500,
  );
  const passesBefore = names.map((n) => loadOf(n).passes);
  const before = await Promise.all(topo.nodes.map(scrape));
  log(`load: ${LOAD_S} s with every speaker programming and repairing 10k × 10 entries`);
  await sleep(LOAD_S * 1000);
  const after = await Promise.all(topo.nodes.map(scrape));
  const passes = names.map((n, i) => loadOf(n).passes - passesBefore[i]!);
  const falseFailovers = after.reduce(
    (sum, m, i) =>
      sum +
      sample(m, 'kube_lb_l2_ownership_changes_total{change="acquired"') -
      sample(before[i]!, 'kube_lb_l2_ownership_changes_total{change="acquired"'),
    0,
  );
  await waitOwners(topo, vips, names);
  const buckets = gapBuckets(before, after);
  const interval = L2_OPTIONS['probe-interval'].default;
  const p99 = histogramQuantile(0.99, buckets) * 1000;
  const loads = names.map(loadOf);
  log(
    `load: ${falseFailovers} false failovers; heartbeat gap p99 ${p99.toFixed(1)} ms; passes per node ${passes.join(', ')}`,
  );
  await Promise.all([...speakers.procs.values()].map((p) => p.stop(8000)));
  speakers.procs.clear();
  return {
    load_s: LOAD_S,
    false_failovers: falseFailovers,
    heartbeat_gap_ms_p50: Math.round(histogramQuantile(0.5, buckets) * 10000) / 10,
    heartbeat_gap_ms_p99: Math.round(p99 * 10) / 10,
    heartbeat_jitter_ms_p99: Math.round((p99 - interval) * 10) / 10,
    heartbeats_heard: buckets[buckets.length - 1]?.[1] ?? 0,
    load_passes: passes.reduce((a, b) => a + b, 0),
    load_pass_ms_p50: Math.round(Math.max(...loads.map((l) => l.pass_ms_p50))),
    load_pass_ms_max: Math.round(Math.max(...loads.map((l) => l.pass_ms_max))),
  };
}

/** Retries API calls the server refused for now (429 while a resource's storage initializes, 5xx). */
async function retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 20 || !isTransientApiError(err) || isConflict(err)) throw err;
      log(`${what}: ${apiMessage(err)}; retrying`);
      await sleep(250 * attempt);
    }
  }
}

/** Writes per second of three speakers announcing `count` VIPs, in steady state, net of the apiserver's own. */
async function apiWriteRate(
  cluster: TestCluster,
  topo: L2Topology,
  speakers: L2Speakers,
  count: number,
  baselinePerS: number,
): Promise<{ perS: number; initialWrites: number }> {
  const kc = cluster.kubeConfig;
  const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
  const existing = (await retrying('list claims', () => claims.list('tenant-bench'))).items.length;
  const queue = Array.from({ length: count - existing }, (_, k) => existing + k);
  const create = async (i: number): Promise<void> => {
    const name = `svc-${i}`;
    const created = await retrying(`create ${name}`, () =>
      claims.create({
        apiVersion: API_VERSION,
        kind: 'VIPClaim',
        metadata: { name, namespace: 'tenant-bench' },
        spec: {
          service: { cluster: 'bench', namespace: 'default', name, uid: `uid-${i}` },
          ports: [{ protocol: 'UDP', port: VIP_PORT, nodePort: BACKEND_UDP }],
          backends: [{ nodeName: 'backend', address: BACKEND_IP, ready: true }],
          externalTrafficPolicy: 'Cluster',
        },
      }),
    );
    const vip = `10.67.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    await retrying(`status of ${name}`, () =>
      claims.replaceStatus({ ...created, status: { vip, pool: 'bench', approved: approvalOf(created, vip, true) } }),
    );
  };
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) await create(i);
    }),
  );
  const before = apiWrites(cluster);
  for (const n of topo.nodes) speakers.start(n.name, []);
  await eventually(
    `${count} claims announced`,
    async () => {
      const items = (await claims.list('tenant-bench')).items;
      return (
        items.length === count &&
        items.every((c) => c.status?.conditions?.some((x) => x.type === 'Announced' && x.status === 'True'))
      );
    },
    300_000,
    1000,
  );
  await sleep(3000);
  const start = apiWrites(cluster);
  const t0 = Date.now();
  await sleep(WINDOW_S * 1000);
  const writes = apiWrites(cluster) - start;
  const perS = writes / ((Date.now() - t0) / 1000) - baselinePerS;
  log(
    `${count} VIPs: ${start - before} writes to get announced, then ${perS.toFixed(2)} writes/s (net of the apiserver's own)`,
  );
  await Promise.all([...speakers.procs.values()].map((p) => p.stop(8000)));
  speakers.procs.clear();
  return { perS, initialWrites: start - before };
}

async function main(): Promise<void> {
  const ledger = Ledger.open('bench-failover');
  const setup = new SetupStack();
  try {
    log('starting the API server and the segment');
    const cluster = await setup.step(startCluster(ledger, { name: 'bench-l2' }), (c) => c.stop());
    const topo = await setup.step(createL2Topology(ledger, 3), (tp) => tp.destroy());
    const backend = await topo.addHost('l2be', BACKEND_IP);
    const server = backend.host.spawn(
      'backend',
      process.execPath,
      [join(here, '../../test/datapath/backend-server.ts'), 'backend', '30080', String(BACKEND_UDP)],
      topo.dir,
    );
    await setup.step(Promise.resolve(server), (s) => s.stop(1000));
    const vips = Array.from({ length: FAILOVER_VIPS }, (_, i) => topo.vip(i));
    await noUnknownUnicastFloodToNodes(topo);
    await programDatapath(ledger, topo, setup, vips);
    const relay = await setup.step(startApiRelay(ledger, cluster, topo.dir), (r) => r.close());
    const speakers = await setup.step(Promise.resolve(new L2Speakers(ledger, topo, relay)), (s) => s.stopAll());
    const core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'kube-lb-system' } } });
    await core.createNamespace({ body: { metadata: { name: 'tenant-bench' } } });
    await speakers.connectApi();

    const staticArgs = ['--vips', vips.join(','), '--interfaces', 'eth0'];
    log('failover with fast probes (default timings)');
    const gaps = SKIP_FAILOVER ? [] : await failoverRuns('probes', RUNS, topo, speakers, staticArgs, vips);
    log('failover with Leases alone (--probe-interval 0s)');
    const gapsNoProbes = SKIP_FAILOVER
      ? []
      : await failoverRuns(
          'no-probes',
          RUNS_NO_PROBES,
          topo,
          speakers,
          [...staticArgs, '--probe-interval', '0s'],
          vips,
        );
    const load = LOAD_S > 0 ? await loadPhase(ledger, topo, speakers, setup, staticArgs, vips) : undefined;

    log('API writes: baseline without speakers');
    const kc = cluster.kubeConfig;
    await resourceClient<VIPPool>(kc, 'VIPPool').create({
      apiVersion: API_VERSION,
      kind: 'VIPPool',
      metadata: { name: 'bench', labels: { bench: 'true' } },
      spec: { addresses: ['10.67.0.0/22'] },
    });
    await resourceClient<L2Announcement>(kc, 'L2Announcement').create({
      apiVersion: API_VERSION,
      kind: 'L2Announcement',
      metadata: { name: 'bench' },
      spec: { poolSelector: { matchLabels: { bench: 'true' } }, interfaces: ['eth0'] },
    });
    const b0 = apiWrites(cluster);
    const tb = Date.now();
    await sleep(WINDOW_S * 1000);
    const baselinePerS = (apiWrites(cluster) - b0) / ((Date.now() - tb) / 1000);
    const w10 = await apiWriteRate(cluster, topo, speakers, 10, baselinePerS);
    const w1000 = await apiWriteRate(cluster, topo, speakers, 1000, baselinePerS);

    const round = (x: number) => Math.round(x * 100) / 100;
    const result = {
      runs: RUNS,
      gap_ms_p50: median(gaps),
      gap_ms_max: Math.max(...gaps),
      gap_ms_p50_no_probes: median(gapsNoProbes),
      gap_ms_max_no_probes: Math.max(...gapsNoProbes),
      gaps_ms: gaps,
      gaps_ms_no_probes: gapsNoProbes,
      runs_no_probes: RUNS_NO_PROBES,
      ...load,
      api_writes_per_s_10_vips: round(w10.perS),
      api_writes_per_s_1000_vips: round(w1000.perS),
      api_writes_baseline_per_s: round(baselinePerS),
      api_writes_to_announce_10_vips: w10.initialWrites,
      api_writes_to_announce_1000_vips: w1000.initialWrites,
      lb_nodes: topo.nodes.length,
      lease_duration_ms: L2_OPTIONS['lease-duration'].default,
      renew_period_ms: L2_OPTIONS['renew-period'].default,
      probe_interval_ms: L2_OPTIONS['probe-interval'].default,
      probe_timeout_ms: L2_OPTIONS['probe-timeout'].default,
      kill: 'SIGKILL of the owner speaker + owner eth0 down (node crash)',
      segment: 'bridge with unknown-unicast flooding off toward LB nodes (frames for the dead MAC reach nobody)',
      request: 'UDP to VIP through the test datapath, one new socket every 10 ms',
      window_s: WINDOW_S,
    };
    console.log(JSON.stringify(result));
  } finally {
    await setup.unwind();
  }
}

await main();
