// Golden lb4 map dumps written by the real cilium-agent of each line (test/fixtures/cilium/<version>/<mode>.json,
// made by `node scripts/cilium-golden.ts`), decoded with kube-lb's codecs and the line's profile. The bytes are
// Cilium's, not kube-lb's: every entry must decode to what the lab's Services asked for, re-encode to the very
// same bytes, read the same as Cilium's own `cilium-dbg bpf lb list`, and let version detection keep the line.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { GoldenDump, GoldenMapDump } from '../../../scripts/cilium-golden.ts';
import { affinityMatchKeyCodec } from '../../../src/core/lb4/affinity-match.ts';
import { backendIdCodec, lb4BackendCodec, type Lb4Backend } from '../../../src/core/lb4/backend.ts';
import { decode, encode, type StructCodec } from '../../../src/core/lb4/codec.ts';
import { describeServiceFlags, SVC_FLAG, SVC_FLAG2 } from '../../../src/core/lb4/flags.ts';
import { formatCidr4, formatIPv4, protocolName } from '../../../src/core/lb4/ipv4.ts';
import {
  DEFAULT_MAGLEV_TABLE_SIZE,
  encodeMaglevTable,
  maglevInnerValueSize,
  maglevOuterKeyCodec,
} from '../../../src/core/lb4/maglev.ts';
import { LB4_MAPS } from '../../../src/core/lb4/maps.ts';
import { profileFor, type Lb4Profile } from '../../../src/core/lb4/profile.ts';
import { lb4ReverseNatCodec, revNatKeyCodec, type Lb4ReverseNat } from '../../../src/core/lb4/reverse-nat.ts';
import { lb4KeyCodec, type Lb4Key } from '../../../src/core/lb4/service-key.ts';
import { lb4ServiceCodec, unpackAffinity, type Lb4Service } from '../../../src/core/lb4/service-value.ts';
import { sourceRangeKeyCodec } from '../../../src/core/lb4/source-range.ts';
import { detectCiliumVersion } from '../../../src/core/dataplane/detect.ts';
import {
  DEFAULT_MAGLEV_HASH_SEED,
  maglevHashString,
  maglevMurmurSeed,
  maglevTable,
} from '../../../src/core/maglev/table.ts';
import type { PackedEntries } from '../../../src/core/bpf/packed.ts';

const FIXTURES = join(import.meta.dirname, '../../fixtures/cilium');
const LINES = JSON.parse(readFileSync(join(import.meta.dirname, '../../cilium/lines.json'), 'utf8')) as {
  lines: Record<string, { module: string }>;
};
/** Lines whose agent cannot write golden dumps on the machines this project runs on, and why (docs/cilium.md). */
const NO_GOLDEN: Readonly<Record<string, string>> = {};
const MODES = ['random', 'maglev'] as const;

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const ip = (n: number): string => formatIPv4(n);
const TCP = 6;
const UDP = 17;

interface Frontend {
  readonly key: Lb4Key;
  readonly master: Lb4Service;
  /** slot number → slot value. */
  readonly slots: Map<number, Lb4Service>;
}

/** The dump, decoded with kube-lb's codecs; every entry must also re-encode to Cilium's bytes. */
interface Decoded {
  readonly frontends: Map<string, Frontend>;
  readonly backends: Map<number, Lb4Backend>;
  readonly revNat: Map<number, Lb4ReverseNat>;
  readonly affinity: Set<string>;
  /** revNat → CIDRs. */
  readonly sourceRanges: Map<number, string[]>;
  readonly roundTripFailures: string[];
}

const feKey = (vip: string, port: number, proto: number, scope = 0): string => `${vip}:${port}/${proto}/${scope}`;

function entries<K, V>(
  map: GoldenMapDump | undefined,
  kc: StructCodec<K>,
  vc: StructCodec<V>,
  fails: string[],
  name: string,
): [K, V][] {
  const out: [K, V][] = [];
  for (const [kh, vh] of Object.entries(map?.entries ?? {})) {
    const k = decode(kc, bytes(kh));
    const v = decode(vc, bytes(vh));
    const back = `${Buffer.from(encode(kc, k)).toString('hex')}|${Buffer.from(encode(vc, v)).toString('hex')}`;
    if (back !== `${kh}|${vh}`) fails.push(`${name} ${kh}|${vh} re-encodes as ${back}`);
    out.push([k, v]);
  }
  return out;
}

const u8: StructCodec<number> = {
  struct: 'u8',
  size: 1,
  write: (v, o, x) => v.setUint8(o, x),
  read: (v, o) => v.getUint8(o),
};

function decodeDump(d: GoldenDump, profile: Lb4Profile): Decoded {
  const fails: string[] = [];
  const frontends = new Map<string, Frontend>();
  const svc = entries(d.maps.cilium_lb4_services_v2, lb4KeyCodec, lb4ServiceCodec(profile), fails, 'services');
  for (const [k, v] of svc) {
    if (k.slot !== 0) continue;
    frontends.set(feKey(ip(k.address), k.port, k.proto, k.scope), { key: k, master: v, slots: new Map() });
  }
  for (const [k, v] of svc) {
    if (k.slot === 0) continue;
    const f = frontends.get(feKey(ip(k.address), k.port, k.proto, k.scope));
    if (!f) throw new Error(`slot ${k.slot} of ${ip(k.address)}:${k.port} has no master`);
    f.slots.set(k.slot, v);
  }
  const backends = new Map(
    entries(d.maps.cilium_lb4_backends_v3, backendIdCodec, lb4BackendCodec(profile), fails, 'backends'),
  );
  const revNat = new Map(entries(d.maps.cilium_lb4_reverse_nat, revNatKeyCodec, lb4ReverseNatCodec, fails, 'revNat'));
  const affinity = new Set(
    entries(d.maps.cilium_lb_affinity_match, affinityMatchKeyCodec, u8, fails, 'affinityMatch').map(
      ([k]) => `${k.backendId}/${k.revNat}`,
    ),
  );
  const sourceRanges = new Map<number, string[]>();
  for (const [k] of entries(d.maps.cilium_lb4_source_range, sourceRangeKeyCodec, u8, fails, 'sourceRange')) {
    sourceRanges.set(
      k.revNat,
      [...(sourceRanges.get(k.revNat) ?? []), formatCidr4({ address: k.address, bits: k.bits })].sort(),
    );
  }
  return { frontends, backends, revNat, affinity, sourceRanges, roundTripFailures: fails };
}

function packed(map: GoldenMapDump): PackedEntries {
  const ks = Object.keys(map.entries);
  return {
    count: ks.length,
    keySize: map.keySize,
    valueSize: map.valueSize,
    keys: Uint8Array.from(Buffer.from(ks.join(''), 'hex')),
    values: Uint8Array.from(Buffer.from(ks.map((k) => map.entries[k]).join(''), 'hex')),
  };
}

/** "ip:port/PROTO state" of slots from..to of a frontend. */
function slotBackends(g: Decoded, f: Frontend, from: number, to: number): string[] {
  const out: string[] = [];
  for (let s = from; s <= to; s++) {
    const slot = f.slots.get(s);
    const b = slot && g.backends.get(slot.union);
    out.push(b ? `${ip(b.address)}:${b.port}/${protocolName(b.proto)} ${b.state}` : `slot ${s} missing`);
  }
  return out.sort();
}

const golden: { line: string; version: string; mode: (typeof MODES)[number]; dump: GoldenDump }[] = [];
for (const [line, { module }] of Object.entries(LINES.lines)) {
  for (const mode of MODES) {
    const file = join(FIXTURES, module, `${mode}.json`);
    if (existsSync(file))
      golden.push({ line, version: module, mode, dump: JSON.parse(readFileSync(file, 'utf8')) as GoldenDump });
  }
}

t.test('every Cilium line of the lab has golden dumps in both modes, or a reason why not', async (t) => {
  for (const [line, { module }] of Object.entries(LINES.lines)) {
    const have = golden.filter((g) => g.line === line).map((g) => g.mode);
    if (NO_GOLDEN[line])
      t.same(have, [], `${line}: no dumps (${NO_GOLDEN[line]}); remove it from NO_GOLDEN once they exist`);
    else
      t.same(
        have,
        [...MODES],
        `${line}: ${module}/random.json and ${module}/maglev.json (node scripts/cilium-golden.ts ${line})`,
      );
  }
  const stale = readdirSync(FIXTURES).filter((v) => !Object.values(LINES.lines).some((l) => l.module === v));
  t.same(stale, [], 'no dumps of versions the lab no longer builds');
});

for (const { line, version, mode, dump } of golden) {
  t.test(`Cilium ${version} ${mode}`, async (t) => {
    const profile = profileFor(line);
    t.equal(dump.cilium.version, version, 'the dump names its version');
    t.match(dump.cilium.agentVersion, version.slice(1), 'written by that agent');
    t.equal(dump.config['bpf-lb-algorithm'], mode);
    for (const shape of Object.values(LB4_MAPS)) {
      const m = shape.role === 'maglev' ? dump.maglev?.outer : dump.maps[shape.name];
      if (!m) continue;
      t.same(
        [m.keySize, m.valueSize],
        [shape.keySize, shape.valueSize],
        `${shape.name}: key and value sizes are kube-lb's`,
      );
    }
    const g = decodeDump(dump, profile);
    t.same(g.roundTripFailures, [], "every entry re-encodes with kube-lb's codecs to the bytes Cilium wrote");

    const fe = (vip: string, port: number, proto: number, scope = 0): Frontend => {
      const f = g.frontends.get(feKey(vip, port, proto, scope));
      if (!f) throw new Error(`no frontend ${vip}:${port}/${proto} scope ${scope}`);
      return f;
    };
    const revNatOf = (f: Frontend): string => {
      const r = g.revNat.get(f.master.revNat);
      return r ? `${ip(r.address)}:${r.port}` : 'none';
    };
    const B1 = '10.200.1.11:8080/TCP 0';
    const is117 = profile.version === '1.17';
    /** The per-service algorithm byte: 1.17 writes the node's algorithm (1 random, 2 maglev), 1.18+ write 0. */
    const alg = is117 ? (mode === 'maglev' ? 2 : 1) : 0;
    const B2 = '10.200.1.12:8080/TCP 0';

    t.test('masters and slots: the shape every frontend has', async (t) => {
      const bad: string[] = [];
      for (const [name, f] of g.frontends) {
        const { master } = f;
        const wildcard = f.key.port === 0 && f.key.proto === 0;
        if (wildcard) {
          if (master.count !== 0 || master.revNat !== 0 || f.slots.size !== 0)
            bad.push(`${name}: wildcard with backends or an ID`);
          continue;
        }
        if (f.key.proto !== TCP && f.key.proto !== UDP) bad.push(`${name}: key proto ${f.key.proto}`);
        if (revNatOf(f) !== `${ip(f.key.address)}:${f.key.port}`)
          bad.push(`${name}: revNAT ${master.revNat} → ${revNatOf(f)}`);
        if (f.slots.size !== master.count + master.qcount)
          bad.push(`${name}: ${f.slots.size} slots for count ${master.count} + qcount ${master.qcount}`);
        if (unpackAffinity(profile, master.union).algorithm !== alg)
          bad.push(`${name}: algorithm byte ${master.union >>> 24}`);
        for (const [n, s] of f.slots) {
          if (s.count !== 0 || s.qcount !== 0 || s.revNat !== master.revNat)
            bad.push(`${name} slot ${n}: count/qcount/revNat`);
          const slotFlags = profile.slotFlags === 'master' ? [master.flags, master.flags2] : [0, s.flags2];
          if (s.flags !== slotFlags[0] || s.flags2 !== slotFlags[1])
            bad.push(`${name} slot ${n}: flags ${s.flags}/${s.flags2}, master ${master.flags}/${master.flags2}`);
          const b = g.backends.get(s.union);
          if (!b) bad.push(`${name} slot ${n}: backend ${s.union} missing`);
          else if (b.proto !== f.key.proto) bad.push(`${name} slot ${n}: backend proto ${b.proto}`);
        }
      }
      t.same(
        bad,
        [],
        `every frontend: L4 key proto, a revNAT entry naming it, slots = count + qcount, slot flags as profile ${profile.version} says ("${profile.slotFlags}"), backends present with the key's proto; algorithm byte ${alg} (no bpf-lb-algorithm-annotation)`,
      );
      t.ok(
        [...g.backends.values()].every((b) => b.clusterId === 0 && b.zone === 0),
        'backends: cluster 0, zone 0',
      );
      t.ok(
        [...g.backends.values()].every((b) => b.proto === TCP || b.proto === UDP),
        'backends carry the L4 protocol (profile backendProto "l4")',
      );
    });

    t.test('ClusterIP with two backends, TCP and UDP', async (t) => {
      const http = fe('10.96.10.1', 80, TCP);
      t.same(
        [http.master.count, http.master.qcount, http.master.flags, http.master.flags2, http.master.union],
        [2, 0, 0, 0, alg << 24],
      );
      t.same(slotBackends(g, http, 1, 2), [B1, B2]);
      const dns = fe('10.96.10.1', 53, UDP);
      t.equal(dns.master.count, 2);
      t.not(dns.master.revNat, http.master.revNat, 'one service ID per port');
      t.same(slotBackends(g, dns, 1, 2), ['10.200.1.11:5353/UDP 0', '10.200.1.12:5353/UDP 0']);
    });

    t.test('NodePort: node addresses, the surrogate and the ClusterIP', async (t) => {
      for (const addr of [dump.node.eth0, dump.node.eth1]) {
        const f = fe(addr, 30081, TCP);
        t.same([f.master.count, f.master.flags], [1, SVC_FLAG.NODEPORT | SVC_FLAG.ROUTABLE], `${addr}:30081`);
        t.same(slotBackends(g, f, 1, 1), [B1]);
      }
      t.equal(fe('0.0.0.0', 30081, TCP).master.flags, SVC_FLAG.NODEPORT, 'the surrogate 0.0.0.0 is not routable');
      t.equal(fe('10.96.10.2', 8081, TCP).master.flags, 0, 'its ClusterIP: no flags (non-routable)');
    });

    t.test('externalIP: EXTERNAL_IP | ROUTABLE', async (t) => {
      const f = fe('198.51.100.180', 80, TCP);
      t.same([f.master.count, f.master.flags, f.master.flags2], [1, SVC_FLAG.EXTERNAL_IP | SVC_FLAG.ROUTABLE, 0]);
      t.same(slotBackends(g, f, 1, 1), [B2]);
    });

    t.test('LoadBalancer with loadBalancerSourceRanges', async (t) => {
      const f = fe('198.51.100.190', 443, TCP);
      t.same(
        [f.master.count, f.master.flags, f.master.flags2],
        [2, SVC_FLAG.LOADBALANCER | SVC_FLAG.ROUTABLE | SVC_FLAG.SOURCE_RANGE, 0],
      );
      t.same(slotBackends(g, f, 1, 2), ['10.200.1.11:8443/TCP 0', '10.200.1.12:8443/TCP 0']);
      t.same(
        g.sourceRanges.get(f.master.revNat),
        ['192.0.2.0/24', '203.0.113.7/32'],
        "source-range keys under the LB frontend's ID",
      );
      const cip = fe('10.96.10.4', 443, TCP);
      t.equal(cip.master.flags, 0, 'its ClusterIP carries no SOURCE_RANGE flag');
      if (is117) t.same([...g.sourceRanges.keys()], [f.master.revNat], "1.17: ranges under the LB frontend's ID only");
      else {
        t.same(
          g.sourceRanges.get(cip.master.revNat),
          ['192.0.2.0/24', '203.0.113.7/32'],
          '1.18+: … yet Cilium writes the ranges under its ID too',
        );
        t.same(
          [...g.sourceRanges.keys()].sort(),
          [cip.master.revNat, f.master.revNat].sort(),
          'no other source ranges',
        );
      }
    });

    t.test('session affinity: timeout in the union, match entries per active backend', async (t) => {
      for (const [vip, flags] of [
        ['10.96.10.5', SVC_FLAG.AFFINITY],
        ['198.51.100.181', SVC_FLAG.AFFINITY | SVC_FLAG.EXTERNAL_IP | SVC_FLAG.ROUTABLE],
      ] as const) {
        const f = fe(vip, 80, TCP);
        t.same([f.master.count, f.master.flags], [2, flags], vip);
        t.same(
          unpackAffinity(profile, f.master.union),
          { timeoutSeconds: 600, algorithm: alg },
          `${vip}: 600 s, algorithm byte ${alg}`,
        );
        const ids = [1, 2].map((s) => f.slots.get(s)!.union);
        t.same(
          ids.filter((id) => g.affinity.has(`${id}/${f.master.revNat}`)),
          ids,
          `${vip}: an affinity-match entry for each backend`,
        );
      }
      t.equal(g.affinity.size, 4, 'and none for services without affinity');
    });

    t.test('terminating and not-ready backends', async (t) => {
      const f = fe('10.96.10.6', 80, TCP);
      if (is117) {
        t.same(
          [f.master.count, f.master.qcount],
          [1, 1],
          '1.17: one active backend, the serving terminating one after it',
        );
        t.same(slotBackends(g, f, 1, 2), [B1, '10.200.1.14:8080/TCP 1']);
        const addrs = new Set([...g.backends.values()].map((b) => ip(b.address)));
        t.notOk(
          addrs.has('10.200.1.13') || addrs.has('10.200.1.15'),
          '1.17: not-serving and not-ready backends are not written at all',
        );
        return;
      }
      t.same([f.master.count, f.master.qcount], [1, 2], 'one active backend; two terminating ones after it (qcount)');
      t.same(slotBackends(g, f, 1, 1), [B1]);
      t.same(
        slotBackends(g, f, 2, 3),
        ['10.200.1.14:8080/TCP 1', '10.200.1.15:8080/TCP 1'],
        'terminating, serving or not: state 1',
      );
      const notReady = [...g.backends.entries()].filter(([, b]) => ip(b.address) === '10.200.1.13');
      t.same(
        notReady.map(([, b]) => b.state),
        [3],
        'a not-ready backend is in the backends map in maintenance (3)',
      );
      const referenced = new Set([...g.frontends.values()].flatMap((x) => [...x.slots.values()].map((s) => s.union)));
      t.notOk(referenced.has(notReady[0]![0]), '… and in no slot');
      t.equal(f.master.flags2, 0, 'no flag marks the non-active slots');
    });

    t.test('externalTrafficPolicy Local: two scopes', async (t) => {
      const ext = fe('198.51.100.191', 80, TCP, 0);
      const int = fe('198.51.100.191', 80, TCP, 1);
      const flags = SVC_FLAG.LOADBALANCER | SVC_FLAG.ROUTABLE | SVC_FLAG.EXT_LOCAL_SCOPE;
      t.same(
        [ext.master.count, ext.master.flags, ext.master.flags2],
        [1, flags, SVC_FLAG2.TWO_SCOPES],
        'scope 0: the node-local backend',
      );
      t.same(slotBackends(g, ext, 1, 1), [B1]);
      t.same(
        [int.master.count, int.master.flags, int.master.flags2],
        [2, flags, SVC_FLAG2.TWO_SCOPES],
        'scope 1: every backend',
      );
      t.not(ext.master.revNat, int.master.revNat, 'one service ID per scope');
      t.equal(revNatOf(int), '198.51.100.191:80');
      t.equal(
        fe('10.96.10.7', 80, TCP).master.flags,
        is117 ? 0 : SVC_FLAG.EXT_LOCAL_SCOPE,
        `its ClusterIP carries ${is117 ? 'no flags in 1.17' : 'EXT_LOCAL_SCOPE (1.18+)'}`,
      );
    });

    t.test('the kubernetes Service', async (t) => {
      t.same(dump.kubernetesService.endpointSliceAddresses, [], 'the lab apiserver publishes no EndpointSlice for it');
      if (profile.version === '1.17') {
        t.notOk(
          g.frontends.has(feKey('10.96.0.1', 443, TCP)),
          '1.17 writes no frontend for a Service without endpoints',
        );
        return;
      }
      const f = fe('10.96.0.1', 443, TCP);
      t.same([f.master.flags, f.master.count], [0, 0], '1.18+: a master with no backends');
    });

    t.test('wildcard entries {address, port 0, proto 0}', async (t) => {
      const wild = [...g.frontends.values()]
        .filter((f) => f.key.port === 0 && f.key.proto === 0)
        .map((f) => `${ip(f.key.address)} ${f.master.flags}`)
        .sort();
      if (profile.version < '1.19') t.same(wild, [], `${profile.version} writes none`);
      else {
        const clusterIPs = ['10.96.0.1', ...dump.services.map((s) => s.clusterIP)].map((a) => `${a} 0`);
        const lbIPs = dump.services.flatMap((s) =>
          s.loadBalancerIngress ? [`${s.loadBalancerIngress} ${SVC_FLAG.LOADBALANCER}`] : [],
        );
        t.same(
          wild,
          [...clusterIPs, ...lbIPs].sort(),
          '1.19+: one per ClusterIP and LoadBalancer IP (none for externalIPs or node addresses), count 0, no ID',
        );
      }
    });

    t.test('maglev tables', async (t) => {
      const tables = dump.maglev?.tables ?? {};
      if (mode === 'random') {
        t.same(Object.keys(tables), [], 'random: no tables');
        return;
      }
      const routable = [...g.frontends.values()].filter(
        (f) => f.master.flags & SVC_FLAG.ROUTABLE && f.master.count > 0,
      );
      const keys = Object.keys(tables).map((k) => decode(maglevOuterKeyCodec, bytes(k)));
      t.same(
        keys.sort((a, b) => a - b),
        routable.map((f) => f.master.revNat).sort((a, b) => a - b),
        'one table per routable frontend with backends (ClusterIPs and the NodePort surrogate have none)',
      );
      const seed = maglevMurmurSeed(DEFAULT_MAGLEV_HASH_SEED);
      for (const f of routable) {
        const key = Buffer.from(encode(maglevOuterKeyCodec, f.master.revNat)).toString('hex');
        const table = tables[key]!;
        const name = `${ip(f.key.address)}:${f.key.port} scope ${f.key.scope}`;
        t.same(
          [table.tableSize, table.innerValueSize],
          [DEFAULT_MAGLEV_TABLE_SIZE, maglevInnerValueSize(DEFAULT_MAGLEV_TABLE_SIZE)],
          `${name}: M = ${DEFAULT_MAGLEV_TABLE_SIZE}`,
        );
        const active = [...Array(f.master.count).keys()].map((i) => f.slots.get(i + 1)!.union);
        t.same(
          Object.keys(table.histogram).map(Number).sort(),
          [...active].sort(),
          `${name}: the table holds exactly the active backends`,
        );
        const ours = maglevTable(
          active.map((id) => {
            const b = g.backends.get(id)!;
            return { name: maglevHashString(ip(b.address), b.port, protocolName(b.proto)), id, weight: 1 };
          }),
          DEFAULT_MAGLEV_TABLE_SIZE,
          seed,
        );
        t.equal(
          createHash('sha256').update(encodeMaglevTable(ours)).digest('hex'),
          table.sha256,
          `${name}: kube-lb's maglev table is Cilium's, cell for cell`,
        );
      }
    });

    t.test('cilium-dbg bpf lb list reads the entries as kube-lb does', async (t) => {
      const ours: string[] = [];
      for (const f of g.frontends.values()) {
        const front = `${ip(f.key.address)}:${f.key.port}/${protocolName(f.key.proto)}${f.key.scope === 1 ? '/i' : ''}`;
        const words = describeServiceFlags(f.master.flags, f.master.flags2, profile).join(', ');
        ours.push(`${front} (0) 0.0.0.0:0 (${f.master.revNat}) (0) [${words}]`);
        for (const [n, s] of f.slots) {
          const b = g.backends.get(s.union)!;
          ours.push(`${front} (${n}) ${ip(b.address)}:${b.port}/${protocolName(b.proto)} (${s.revNat}) (${n})`);
        }
      }
      t.same(
        ours.sort(),
        [...dump.ciliumDbgLbList].sort(),
        'every line: frontend, slot, backend, service ID and the flag words',
      );
    });

    t.test('version detection keeps the line', async (t) => {
      const services = dump.maps.cilium_lb4_services_v2!;
      const backends = dump.maps.cilium_lb4_backends_v3!;
      const d = detectCiliumVersion({ services: packed(services), backends: packed(backends) });
      t.ok(
        d.candidates.includes(profile.version),
        `candidates ${d.candidates.join(', ')} include ${profile.version} (${d.reasons.join('; ')})`,
      );
      t.equal(d.profile?.keyProto, profile.keyProto, 'and the profile it picks writes keys as this line reads them');
    });
  });
}
