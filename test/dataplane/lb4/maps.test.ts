// The reconciler against real pinned maps without traffic: what bpftool sees after it wrote, refusals of maps
// that are not shaped like Cilium's, version detection from Cilium's own entries, and `kube-lb maps list`.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BPF_F_NO_PREALLOC, BPF_MAP_TYPE } from '../../../src/core/bpf/uapi.ts';
import { decode } from '../../../src/core/lb4/codec.ts';
import { backendIdCodec, lb4BackendCodec } from '../../../src/core/lb4/backend.ts';
import { decodeMaglevTable } from '../../../src/core/lb4/maglev.ts';
import { formatIPv4 } from '../../../src/core/lb4/ipv4.ts';
import { LB4_MAPS } from '../../../src/core/lb4/maps.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { lb4ReverseNatCodec, revNatKeyCodec } from '../../../src/core/lb4/reverse-nat.ts';
import { lb4KeyCodec } from '../../../src/core/lb4/service-key.ts';
import { lb4ServiceCodec } from '../../../src/core/lb4/service-value.ts';
import { ID_TABLE_NAME } from '../../../src/core/dataplane/id-table.ts';
import type { KubeLbError } from '../../../src/shared/errors.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { BpfMap } from '../../../src/native/bpf.ts';
import { openLb4Maps } from '../../../src/speaker/dataplane/native-maps.ts';
import { DataplaneReconciler } from '../../../src/speaker/dataplane/reconciler.ts';
import { main } from '../../../src/cli/main.ts';
import { mountBpffs } from '../../../lab/bpffs.ts';
import { createCiliumMaps } from '../../../lab/cilium-maps.ts';
import { Ledger } from '../../../lab/ledger.ts';
import { foreignServiceEntries, type ForeignService } from '../../support/lb4-fixtures.ts';

const ledger = Ledger.open('lb4-maps');
const bpffs = mountBpffs(ledger, 'lb4maps');
t.teardown(() => bpffs.dispose());
let dirs = 0;
const freshDir = (): string => {
  const dir = join(bpffs.dir, `globals-${dirs++}`);
  mkdirSync(dir);
  return dir;
};
const logger = createLogger({ program: 'test', level: 'silent' });

function seed(dir: string, version: keyof typeof PROFILES, f: ForeignService): void {
  for (const e of foreignServiceEntries(PROFILES[version], f)) {
    const m = BpfMap.open(join(dir, LB4_MAPS[e.map].name));
    m.update(e.key, e.value);
    m.close();
  }
}
const kubernetesApi = (proto: number): ForeignService => ({
  vip: '10.96.0.1',
  port: 443,
  proto,
  revNat: 1,
  backends: [{ id: 1, address: '192.168.0.10', port: 6443 }],
});

interface BpftoolEntry {
  key: string[];
  value: string[];
}
function bpftoolDump(path: string): Array<{ key: Uint8Array; value: Uint8Array }> {
  const out = JSON.parse(
    execFileSync('bpftool', ['-j', 'map', 'dump', ...path.split(' ')], { encoding: 'utf8' }),
  ) as BpftoolEntry[];
  const bytes = (hex: string[]): Uint8Array => Uint8Array.from(hex.map((h) => parseInt(h, 16)));
  return out.map((e) => ({ key: bytes(e.key), value: bytes(e.value) }));
}

t.test('bpftool -j map dump of what the reconciler wrote decodes to the desired frontends', async (t) => {
  const dir = freshDir();
  const profile = PROFILES['1.17'];
  createCiliumMaps(dir, { profile, maglevTableSize: 251 });
  const opened = openLb4Maps({ dir, ciliumVersion: '1.17', maglevTableSize: 251 });
  t.teardown(() => opened.maps.close());
  const reconciler = new DataplaneReconciler({ maps: opened.maps, profile, logger });
  reconciler.setDesired([
    {
      vip: '10.20.0.1',
      port: 443,
      protocol: 'TCP',
      backends: [
        { address: '10.10.0.21', port: 30443 },
        { address: '10.10.0.22', port: 30443, state: 'terminating' },
      ],
    },
  ]);
  t.equal(reconciler.reconcileOnce().error, undefined);

  const services = bpftoolDump(`pinned ${join(dir, LB4_MAPS.services.name)}`).map((e) => ({
    key: decode(lb4KeyCodec, e.key),
    value: decode(lb4ServiceCodec(profile), e.value),
  }));
  services.sort((a, b) => a.key.slot - b.key.slot);
  t.same(
    services.map((s) => [
      formatIPv4(s.key.address),
      s.key.port,
      s.key.proto,
      s.key.slot,
      s.value.count,
      s.value.qcount,
      s.value.revNat,
      s.value.flags,
      s.value.flags2,
    ]),
    [
      ['10.20.0.1', 443, 6, 0, 1, 1, 0xfffe, 0x60, 0],
      ['10.20.0.1', 443, 6, 1, 0, 0, 0xfffe, 0, 0],
      ['10.20.0.1', 443, 6, 2, 0, 0, 0xfffe, 0, 0x40],
    ],
    'master count 1 + qcount 1; the terminating backend in slot 2, quarantined as 1.17 marks it',
  );
  const backends = bpftoolDump(`pinned ${join(dir, LB4_MAPS.backends.name)}`)
    .map((e) => ({ id: decode(backendIdCodec, e.key), b: decode(lb4BackendCodec(profile), e.value) }))
    .sort((a, b) => b.id - a.id);
  t.same(
    backends.map(({ id, b }) => [id, formatIPv4(b.address), b.port, b.proto, b.state]),
    [
      [3003101371, '10.10.0.21', 30443, 6, 0],
      [2856297908, '10.10.0.22', 30443, 6, 1],
    ],
    'each backend under its hashed ID (literal values: the hash is part of the persistent format, ids.ts)',
  );
  t.same(services[1]!.value.union, 3003101371, 'slot 1 names the active backend');
  const revNat = bpftoolDump(`pinned ${join(dir, LB4_MAPS.revNat.name)}`).map((e) => [
    decode(revNatKeyCodec, e.key),
    decode(lb4ReverseNatCodec, e.value),
  ]);
  t.same(revNat, [[0xfffe, { address: 0x0a140001, port: 443 }]]);
  const outer = bpftoolDump(`pinned ${join(dir, LB4_MAPS.maglev.name)}`);
  t.equal(outer.length, 1);
  const innerId = new DataView(outer[0]!.value.buffer).getUint32(0, true);
  const table = decodeMaglevTable(bpftoolDump(`id ${innerId}`)[0]!.value);
  t.equal(table.length, 251);
  t.same([...new Set(table)], [3003101371], 'the table holds only the active backend');
  t.equal(
    bpftoolDump(`pinned ${join(dir, ID_TABLE_NAME)}`).length,
    1,
    "kube-lb's ID table pinned beside Cilium's maps",
  );
});

t.test('maps not shaped like Cilium 1.14–1.19 are refused before anything is written', async (t) => {
  const missing = freshDir();
  t.throws(() => openLb4Maps({ dir: missing, ciliumVersion: '1.18' }), { code: 'DATAPLANE_MAP_MISSING' });
  t.notOk(existsSync(join(missing, ID_TABLE_NAME)), 'no ID table created in a directory without Cilium maps');

  const wrong = freshDir();
  createCiliumMaps(wrong, { profile: PROFILES['1.18'] });
  execFileSync('rm', [join(wrong, LB4_MAPS.services.name)]);
  const bad = BpfMap.create({
    type: BPF_MAP_TYPE.HASH,
    keySize: 12,
    valueSize: 16,
    maxEntries: 16,
    flags: BPF_F_NO_PREALLOC,
    name: 'bad',
  });
  bad.pin(join(wrong, LB4_MAPS.services.name));
  bad.close();
  const err = t.throws(() => openLb4Maps({ dir: wrong, ciliumVersion: '1.18' })) as KubeLbError;
  t.equal(err.code, 'DATAPLANE_MAP_SHAPE');
  t.match(err.message, /value size 16, expected 12/);

  const lru = freshDir();
  createCiliumMaps(lru, { profile: PROFILES['1.18'] });
  execFileSync('rm', [join(lru, LB4_MAPS.backends.name)]);
  const l = BpfMap.create({
    type: BPF_MAP_TYPE.LRU_HASH,
    keySize: 4,
    valueSize: 12,
    maxEntries: 16,
    flags: 0,
    name: 'lru',
  });
  l.pin(join(lru, LB4_MAPS.backends.name));
  l.close();
  t.throws(() => openLb4Maps({ dir: lru, ciliumVersion: '1.18' }), {
    code: 'DATAPLANE_MAP_SHAPE',
    message: /type 9, expected 1/,
  });
});

t.test("the Cilium version is read from Cilium's own entries", async (t) => {
  const empty = freshDir();
  createCiliumMaps(empty, { profile: PROFILES['1.18'] });
  t.throws(() => openLb4Maps({ dir: empty, ciliumVersion: 'auto' }), { code: 'DATAPLANE_VERSION_UNKNOWN' });

  const detect = (version: '1.16' | '1.18'): { dir: string; opened: ReturnType<typeof openLb4Maps> } => {
    const dir = freshDir();
    createCiliumMaps(dir, { profile: PROFILES[version] });
    seed(dir, version, kubernetesApi(6));
    const opened = openLb4Maps({ dir, ciliumVersion: 'auto' });
    opened.maps.close();
    return { dir, opened };
  };
  const old = detect('1.16');
  t.equal(old.opened.profile.version, '1.16');
  t.same(old.opened.detection.candidates, ['1.14', '1.15', '1.16']);
  t.throws(() => openLb4Maps({ dir: old.dir, ciliumVersion: '1.18' }), { code: 'DATAPLANE_VERSION_MISMATCH' });

  const recent = detect('1.18');
  t.same(recent.opened.detection.candidates, ['1.18', '1.19', '1.20'], 'L4 protocol in keys, slots carry master flags');
  t.equal(recent.opened.profile.keyProto, 'l4');
  t.throws(() => openLb4Maps({ dir: recent.dir, ciliumVersion: '1.16' }), { code: 'DATAPLANE_VERSION_MISMATCH' });
});

t.test('kube-lb maps list prints frontends, marks what is kube-lb’s', async (t) => {
  const dir = freshDir();
  createCiliumMaps(dir, { profile: PROFILES['1.18'] });
  seed(dir, '1.18', kubernetesApi(6));
  const opened = openLb4Maps({ dir, ciliumVersion: 'auto' });
  const reconciler = new DataplaneReconciler({ maps: opened.maps, profile: opened.profile, logger });
  reconciler.setDesired([
    {
      vip: '10.20.0.1',
      port: 80,
      protocol: 'TCP',
      backends: [{ address: '10.10.0.21', port: 30080 }],
      sessionAffinity: { timeoutSeconds: 300 },
      sourceRanges: ['10.10.0.0/24'],
    },
  ]);
  reconciler.reconcileOnce();
  opened.maps.close();

  const run = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: {} });
    return { code, out, err };
  };
  const text = await run(['maps', 'list', '--dir', dir]);
  t.equal(text.code, 0, text.err);
  t.match(text.out, /SERVICE ADDRESS\s+BACKEND ADDRESS \(REVNAT_ID\) \(SLOT\)\s+OWNER/);
  t.match(
    text.out,
    /10\.96\.0\.1:443\/TCP\s+0\.0\.0\.0:0 \(1\) \(0\) \[LoadBalancer, revnat 10\.96\.0\.1:443\]\s+other/,
  );
  t.match(
    text.out,
    /10\.20\.0\.1:80\/TCP\s+0\.0\.0\.0:0 \(65534\) \(0\) \[LoadBalancer, sessionAffinity, check source-range, affinity 300s, ranges 10\.10\.0\.0\/24, revnat 10\.20\.0\.1:80\]\s+kube-lb/,
  );
  t.match(text.out, /\n\s+10\.10\.0\.21:30080\/TCP \(65534\) \(1\)\n/);

  const json = await run(['maps', 'list', '--dir', dir, '-o', 'json']);
  t.equal(json.code, 0, json.err);
  const parsed = JSON.parse(json.out) as {
    ciliumVersion: string;
    frontends: Array<{ frontend: string; owner: string; backends: unknown[] }>;
  };
  t.same(
    parsed.frontends.map((f) => [f.frontend, f.owner, f.backends.length]),
    [
      ['10.20.0.1:80/TCP', 'kube-lb', 1],
      ['10.96.0.1:443/TCP', 'other', 1],
    ],
  );
  t.equal((await run(['maps', 'nope'])).code, 2, 'usage error');
  t.equal((await run(['maps', 'list', '--dir', freshDir()])).code, 1, 'no maps: a clear failure');
});
