// What proves kube-lb on one real Cilium line (test/cilium/lines.test.ts runs it for every line, the dataplane
// suite for the newest): a topology whose LB node runs that line's cilium-agent, a Service Cilium itself serves
// in the LB cluster (ClusterIP plus externalIPs), then a multi-port kube-lb Service from a consumer cluster.
//   - kube-lb's VIP carries TCP and UDP on every port, answered by every consumer node, and a process on the LB
//     node reaches it through Cilium's socket LB;
//   - Cilium's own entries are byte-identical before and after kube-lb programs, and its Service still answers;
//   - cilium-dbg of the same version lists kube-lb's frontends with the right backends;
//   - bpftool's dump of the maps decodes with kube-lb's codecs.
import { execFile, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import type { Test } from 'tap';
import { lb4KeyCodec } from '../../src/core/lb4/service-key.ts';
import { lb4ServiceCodec } from '../../src/core/lb4/service-value.ts';
import { lb4BackendCodec } from '../../src/core/lb4/backend.ts';
import { profileFor } from '../../src/core/lb4/profile.ts';
import { decode } from '../../src/core/lb4/codec.ts';
import { formatIP, uint32ToIPv4 } from '../../src/core/ip/address.ts';
import { BpfMap } from '../../src/native/bpf.ts';
import { eventually } from '../../lab/eventually.ts';
import { Ledger } from '../../lab/ledger.ts';
import { parseAnswer } from '../../lab/backend-pod.ts';
import { Topology } from '../../lab/topology.ts';
import { CILIUM_BACKEND_PORT, CILIUM_EXTERNAL_IP, ciliumOwnService } from './cilium-own-service.ts';

const LB_MAPS = ['cilium_lb4_services_v2', 'cilium_lb4_backends_v3', 'cilium_lb4_reverse_nat'] as const;

/** What each check proves; the benchmark reports one boolean per group and line. */
export type CheckGroup = 'traffic' | 'ciliumService' | 'ciliumDbg' | 'bpftool' | 'refusal';

/** The story's assertions: tap's in the suites (tapChecks), a recorder in the benchmark (recordingChecks). */
export interface Checks {
  ok(group: CheckGroup, cond: unknown, name: string): void;
  same(group: CheckGroup, found: unknown, wanted: unknown, name: string): void;
  match(group: CheckGroup, text: string, re: RegExp, name: string): void;
  teardown(fn: () => Promise<void> | void): void;
}

export function tapChecks(t: Test): Checks {
  return {
    ok: (_g, cond, name) => void t.ok(cond, name),
    same: (_g, found, wanted, name) => void t.same(found, wanted, name),
    match: (_g, text, re, name) => void t.match(text, re, name),
    teardown: (fn) => t.teardown(fn),
  };
}

export interface RecordingChecks extends Checks {
  /** Per group: true when every check of it passed (and there was one). */
  readonly passed: (group: CheckGroup) => boolean;
  readonly failures: readonly string[];
  runTeardowns(): Promise<void>;
}

export function recordingChecks(): RecordingChecks {
  const results = new Map<CheckGroup, boolean>();
  const failures: string[] = [];
  const teardowns: (() => Promise<void> | void)[] = [];
  const record = (g: CheckGroup, ok: boolean, name: string): void => {
    results.set(g, (results.get(g) ?? true) && ok);
    if (!ok) failures.push(name);
  };
  return {
    ok: (g, cond, name) => record(g, Boolean(cond), name),
    same: (g, found, wanted, name) => record(g, isDeepStrictEqual(found, wanted), name),
    match: (g, text, re, name) => record(g, re.test(text), name),
    teardown: (fn) => void teardowns.push(fn),
    passed: (g) => results.get(g) === true,
    failures,
    async runTeardowns() {
      for (const fn of teardowns.splice(0).reverse()) await fn();
    },
  };
}

export interface StoryOptions {
  readonly line: string;
  readonly maglev: boolean;
  /** Also restart the agent in each mode kube-lb cannot serve and check the refusal (see refusedModes). */
  readonly refusals?: boolean;
}

/** What kube-lb must refuse on each line, as config-dir keys → the claim's Programmed reason (docs/cilium.md). */
export function modesToRefuse(line: string): { mode: string; config: Record<string, string>; reason: string }[] {
  return [
    { mode: 'bpf-lb-mode=dsr', config: { 'bpf-lb-mode': 'dsr' }, reason: 'CiliumDSRMode' },
    ...(line === '1.17' || line === '1.18'
      ? [{ mode: 'bpf-lb-mode=hybrid', config: { 'bpf-lb-mode': 'hybrid' }, reason: 'CiliumHybridMode' }]
      : []),
    {
      mode: 'kube-proxy-replacement=false',
      config: { 'kube-proxy-replacement': 'false' },
      reason: 'CiliumKubeProxyReplacementOff',
    },
  ];
}

type Entries = Map<string, string>;

const execFileAsync = promisify(execFile);
const ipText = (n: number): string => formatIP(uint32ToIPv4(n));

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Every entry of the three lb4 maps, key → value, as hex. */
function dumpEntries(mapDir: string): Map<string, Entries> {
  const out = new Map<string, Entries>();
  for (const name of LB_MAPS) {
    const map = BpfMap.open(join(mapDir, name), { readOnly: true });
    try {
      const d = map.dump();
      const entries: Entries = new Map();
      for (let i = 0; i < d.count; i++) {
        entries.set(
          hex(d.keys.subarray(i * d.keySize, (i + 1) * d.keySize)),
          hex(d.values.subarray(i * d.valueSize, (i + 1) * d.valueSize)),
        );
      }
      out.set(name, entries);
    } finally {
      map.close();
    }
  }
  return out;
}

/** `cilium-dbg bpf lb list`: frontend ("198.51.100.200:80/TCP") → backend addresses without protocol. */
export function parseLbList(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+\((\d+)\)\s+(\S+)\s+\((\d+)\)\s+\((\d+)\)/.exec(line.trim());
    if (!m) continue;
    const frontend = m[1]!.replace(/\/(TCP|UDP|ANY|SCTP)$/i, '');
    const set = out.get(frontend) ?? new Set<string>();
    if (m[2] !== '0') set.add(m[3]!.replace(/\/(TCP|UDP|ANY|SCTP)$/i, ''));
    out.set(frontend, set);
  }
  return out;
}

/** bpftool's JSON dump of a pinned map: [{ key: ["0x0a", …], value: [...] }]. */
function bpftoolDump(path: string): { key: Uint8Array; value: Uint8Array }[] {
  const json = JSON.parse(
    execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', path], { encoding: 'utf8', maxBuffer: 64 << 20 }),
  ) as {
    key: string[];
    value: string[];
  }[];
  const bytes = (xs: string[]): Uint8Array => Uint8Array.from(xs.map((x) => Number.parseInt(x, 16)));
  return json.map((e) => ({ key: bytes(e.key), value: bytes(e.value) }));
}

/** curl from the LB node's netns, in the cgroup where the agent attached its socket-LB programs. */
async function fromLbNodeUnderSocketLb(topo: Topology, url: string): Promise<string> {
  const n = topo.lbNodes[0]!;
  // nsenter, not `ip netns exec`: the latter remounts /sys, and the cgroup is reached through the host's.
  const script = `echo $$ > ${n.cilium!.cgroup}/cgroup.procs && exec curl -sS -m 5 ${url}`;
  try {
    const { stdout } = await execFileAsync('nsenter', [`--net=/run/netns/${n.ns.name}`, 'sh', '-c', script], {
      timeout: 20_000,
    });
    return stdout.trim();
  } catch (err) {
    return `failed: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`;
  }
}

/**
 * For each mode the line cannot be served in: the agent restarted in that mode, the speaker refuses (claim
 * Programmed=False with the reason, the metric at 1) and removes its entries; back to SNAT, traffic returns.
 * Returns the refused modes, for the benchmark's report.
 */
export async function refusedModes(t: Checks, topo: Topology, line: string, vip: string): Promise<string[]> {
  const node = topo.lbNodes[0]!;
  const base = node.cilium!.config;
  const refused: string[] = [];
  for (const m of modesToRefuse(line)) {
    await topo.restartCilium(node.name, { ...base, ...m.config });
    const claim = await eventually(
      `the claim to say ${m.reason}`,
      async () => {
        const c = await topo.claimOf('c1', 'web');
        const p = c?.status?.conditions?.find((x) => x.type === 'Programmed');
        return p?.status === 'False' && p.reason === m.reason ? p : undefined;
      },
      60_000,
      500,
    ).catch(() => undefined);
    t.ok('refusal', claim, `${m.mode}: the claim says Programmed=False, ${m.reason}`);
    const metrics = await topo.speakerMetrics(node.name);
    t.match(
      'refusal',
      metrics,
      new RegExp(`^kube_lb_dataplane_refused\\{reason="${m.reason}"[^}]*\\} 1$`, 'm'),
      `${m.mode}: kube_lb_dataplane_refused{reason="${m.reason}"} is 1`,
    );
    const list = parseLbList(await node.cilium!.dbg(['bpf', 'lb', 'list']));
    t.ok(
      'refusal',
      ![...list.keys()].some((f) => f.startsWith(`${vip}:`)),
      `${m.mode}: kube-lb has no entry in the maps`,
    );
    if (claim) refused.push(m.mode);
  }
  await topo.restartCilium(node.name, base);
  const back = await topo.requestUntilOk('tcp', vip, 80, 60_000).catch(() => undefined);
  t.ok('refusal', back, 'back on SNAT: the VIP answers again');
  return refused;
}

export interface StoryFigures {
  /** The modes kube-lb refused (with `refusals`). */
  readonly refused: string[];
  /** The agent's first start to ready (datapath attached), and its memory once kube-lb's Service carried traffic. */
  readonly agentReadyMs: number | undefined;
  readonly agentRssMiB: number | undefined;
}

/** The whole story on a fresh topology. */
export async function provesLine(t: Checks, o: StoryOptions): Promise<StoryFigures> {
  const label = `cilium-${o.line.replace('.', '')}-${o.maglev ? 'maglev' : 'random'}`;
  const ledger = Ledger.open(label);
  const topo = await Topology.up(ledger, {
    label,
    lbNodes: 1,
    datapath: 'cilium',
    ciliumLine: o.line,
    maglev: o.maglev,
  });
  t.teardown(async () => {
    await topo.down();
    rmSync(ledger.dir, { recursive: true, force: true });
  });
  const node = topo.lbNodes[0]!;
  const agent = node.cilium!;
  const agentReadyMs = agent.readyMs;
  // The agent answering is the one built for the line (its version is stamped at build time).
  const version = await agent.dbg(['version']).catch((e: unknown) => String(e));
  const wanted = agent.options.build.version.replace(/^v/, '').replaceAll('.', '\\.');
  t.match(
    'ciliumDbg',
    version,
    new RegExp(`Daemon: ${wanted}\\b`),
    `the LB node's agent reports ${agent.options.build.version}`,
  );
  const cfg = await agent.dbg(['config', '-a']).catch((e: unknown) => String(e));
  t.match(
    'ciliumDbg',
    cfg,
    o.maglev ? /maglev/i : /random/i,
    `the agent runs with ${o.maglev ? 'maglev' : 'random'} backend selection`,
  );

  const clusterIP = await ciliumOwnService(topo);
  const ciliumList = await eventually(
    'Cilium to program its own Service',
    async () => {
      const list = parseLbList(await agent.dbg(['bpf', 'lb', 'list']));
      return (list.get(`${CILIUM_EXTERNAL_IP}:80`)?.size ?? 0) > 0 ? list : undefined;
    },
    60_000,
    500,
  );
  t.same(
    'ciliumService',
    [...ciliumList.get(`${CILIUM_EXTERNAL_IP}:80`)!],
    [`${topo.tenants[0]!.nodes[0]!.ip}:${CILIUM_BACKEND_PORT}`],
    'Cilium serves its externalIP Service',
  );
  const own = await topo
    .requestUntilOk('tcp', CILIUM_EXTERNAL_IP, 80, 30_000)
    .catch((e: unknown) => ({ text: String(e) }));
  t.same(
    'ciliumService',
    own.text,
    'cilium-own',
    "Cilium's own Service answers on its externalIP before kube-lb programs anything",
  );
  t.same(
    'ciliumService',
    await fromLbNodeUnderSocketLb(topo, `http://${clusterIP}/`),
    'cilium-own',
    `its ClusterIP ${clusterIP} answers a process on the LB node`,
  );
  const before = dumpEntries(node.mapDir);

  const ports = [
    { name: 'http', protocol: 'TCP' as const, port: 80 },
    { name: 'alt', protocol: 'TCP' as const, port: 8443 },
    { name: 'dns', protocol: 'UDP' as const, port: 53 },
  ];
  await topo.createService('c1', 'web', ports);
  const vip = await topo.waitExternalIP('c1', 'web');
  const consumerNodes = topo.tenants[0]!.nodes.map((n) => n.name).sort();
  for (const p of ports) {
    const proto = p.protocol === 'TCP' ? 'tcp' : 'udp';
    await topo.requestUntilOk(proto, vip, p.port, 60_000).catch(() => undefined);
    const seen = new Set<string>();
    let failed = 0;
    for (let i = 0; i < 24 && (i < 8 || seen.size < consumerNodes.length); i++) {
      const r = await topo.request(proto, vip, p.port, 3000);
      const a = r.ok ? parseAnswer(r.text) : undefined;
      if (a && a.port === `${p.port}/${p.protocol}`) seen.add(a.node);
      else failed++;
    }
    t.same('traffic', failed, 0, `${p.protocol} ${vip}:${p.port}: every request answered through Cilium's datapath`);
    t.same(
      'traffic',
      [...seen].sort(),
      consumerNodes,
      `${p.protocol} ${vip}:${p.port}: answered by every consumer node`,
    );
  }

  const agentRssMiB = agent.rssMiB();
  // A process on the LB node itself meets Cilium's socket LB (attached, in the lab, to the agent's child cgroup:
  // the process joins it), which translates its connect() with kube-lb's entries.
  const local = await fromLbNodeUnderSocketLb(topo, `http://${vip}/`);
  t.ok(
    'traffic',
    parseAnswer(local)?.port === '80/TCP',
    `a process on the LB node reaches ${vip}:80 through Cilium's socket LB: ${local}`,
  );

  // What kube-lb asked for, from the consumer Service, against what Cilium's own tool reads in the maps.
  const svc = await topo.tenant('c1').core.readNamespacedService({ namespace: 'default', name: 'web' });
  const list = parseLbList(await agent.dbg(['bpf', 'lb', 'list']));
  for (const p of svc.spec!.ports!) {
    const want = topo.tenants[0]!.nodes.map((n) => `${n.ip}:${p.nodePort}`).sort();
    t.same(
      'ciliumDbg',
      [...(list.get(`${vip}:${p.port}`) ?? [])].sort(),
      want,
      `cilium-dbg bpf lb list: ${vip}:${p.port}/${p.protocol} → every consumer node's NodePort`,
    );
  }
  if (o.maglev) {
    const maglev = await agent.dbg(['bpf', 'lb', 'maglev', 'list']);
    const revNats = new Set(
      [...(await agent.dbg(['bpf', 'lb', 'list', '--revnat'])).matchAll(/^(\d+)\s+198\.51\.100\.2\d\d:/gm)].map(
        (m) => m[1],
      ),
    );
    t.ok(
      'ciliumDbg',
      revNats.size === ports.length && [...revNats].every((id) => maglev.includes(`[${id}]`)),
      'cilium-dbg bpf lb maglev list shows a table for every kube-lb frontend',
    );
  }

  // bpftool's view of the same maps decodes with kube-lb's codecs.
  const profile = profileFor(o.line);
  const masters = bpftoolDump(join(node.mapDir, 'cilium_lb4_services_v2'))
    .map((e) => ({ key: decode(lb4KeyCodec, e.key), value: decode(lb4ServiceCodec(profile), e.value) }))
    .filter((e) => ipText(e.key.address) === vip && e.key.slot === 0);
  t.same(
    'bpftool',
    masters.map((m) => m.key.port).sort((a, b) => a - b),
    ports.map((p) => p.port).sort((a, b) => a - b),
    'bpftool dump: a master per kube-lb port decodes',
  );
  t.ok(
    'bpftool',
    masters.every((m) => m.value.count === consumerNodes.length),
    'bpftool dump: each master counts every consumer node',
  );
  const backends = bpftoolDump(join(node.mapDir, 'cilium_lb4_backends_v3')).map((e) =>
    decode(lb4BackendCodec(profile), e.value),
  );
  t.ok(
    'bpftool',
    topo.tenants[0]!.nodes.every((n) => backends.some((b) => ipText(b.address) === n.ip)),
    "bpftool dump: kube-lb's backends decode to the consumer nodes",
  );

  // Cilium's entries, untouched; its Service still answers.
  const after = dumpEntries(node.mapDir);
  for (const [map, entries] of before) {
    const changed = [...entries].filter(([k, v]) => after.get(map)?.get(k) !== v);
    t.same(
      'ciliumService',
      changed,
      [],
      `${map}: each of Cilium's ${entries.size} entries is byte-identical after kube-lb programmed`,
    );
  }
  const again = await topo.request('tcp', CILIUM_EXTERNAL_IP, 80, 3000);
  t.same('ciliumService', again.text, 'cilium-own', "Cilium's own Service still answers on its externalIP");
  t.same(
    'ciliumService',
    await fromLbNodeUnderSocketLb(topo, `http://${clusterIP}/`),
    'cilium-own',
    'and on its ClusterIP',
  );
  const refused = o.refusals ? await refusedModes(t, topo, o.line, vip) : [];
  return { refused, agentReadyMs, agentRssMiB };
}
