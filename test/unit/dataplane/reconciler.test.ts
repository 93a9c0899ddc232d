// The dataplane reconciler as a story on fake maps (byte-keyed, kernel-like): each step changes the desired
// frontends or the maps, runs a pass and compares the canonical dump of every map.
import t from 'tap';
import { canonicalDump } from '../../../src/core/dataplane/canonical.ts';
import type { DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { PROFILES, type CiliumVersion } from '../../../src/core/lb4/profile.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { createFakeLb4Maps, type FakeLb4Maps, type FakeMapsOptions } from '../../../src/speaker/dataplane/fake-maps.ts';
import { readSnapshot } from '../../../src/speaker/dataplane/maps.ts';
import { DataplaneReconciler } from '../../../src/speaker/dataplane/reconciler.ts';
import { bytesKey } from '../../../src/core/bpf/packed.ts';
import { hashedBackendId } from '../../../src/core/dataplane/ids.ts';
import { parseIPv4 } from '../../../src/core/lb4/ipv4.ts';
import { LB4_MAPS } from '../../../src/core/lb4/maps.ts';
import { goldenCiliumEntries } from '../../support/cilium-golden.ts';
import { foreignServiceEntries, type ForeignService } from '../../support/lb4-fixtures.ts';

/** What a real Cilium 1.18 agent wrote (test/fixtures/cilium): the foreign entries kube-lb must leave alone. */
const CILIUM_118 = goldenCiliumEntries('1.18');

const logger = createLogger({ program: 'test', level: 'silent' });

function setup(version: CiliumVersion = '1.18', options: FakeMapsOptions = {}) {
  const profile = PROFILES[version];
  const maps = createFakeLb4Maps(options);
  const reconciler = new DataplaneReconciler({ maps, profile, logger });
  const dump = (): string[] => canonicalDump(readSnapshot(maps), profile, maglevTables(maps));
  /** Synthetic foreign entries, for IDs of the test's choosing. */
  const seed = (f: ForeignService): void => {
    for (const e of foreignServiceEntries(profile, f)) maps[e.map].set(e.key, e.value);
  };
  /** Everything a real Cilium 1.18 agent wrote in the golden lab. */
  const seedCilium = (): void => {
    for (const e of CILIUM_118) maps[e.map].set(e.key, e.value);
  };
  return { profile, maps, reconciler, dump, seed, seedCilium };
}

function maglevTables(maps: FakeLb4Maps): Map<number, Uint8Array> | undefined {
  return maps.maglev ? new Map([...maps.maglev.tables].map(([id, t]) => [id, t.bytes])) : undefined;
}

const web = (backends: DesiredFrontend['backends'], extra: Partial<DesiredFrontend> = {}): DesiredFrontend => ({
  vip: '10.0.0.1',
  port: 80,
  protocol: 'TCP',
  backends,
  ...extra,
});
const A = { address: '10.1.0.5', port: 30080 };
const B = { address: '10.1.0.6', port: 30080 };
const C = { address: '10.1.0.7', port: 30080 };
/** Each backend's hashed ID (ids.ts): the one it takes unless something else holds it. */
const id = (b: { address: string; port: number }, proto = 6): number =>
  hashedBackendId(parseIPv4(b.address), b.port, proto);
const [a, b, c] = [id(A), id(B), id(C)];

t.test('a frontend from empty maps, then the same desired state again', async (t) => {
  const { reconciler, dump } = setup('1.18');
  reconciler.setDesired([web([B, A])]);
  const first = reconciler.reconcileOnce();
  t.equal(first.error, undefined);
  t.same(
    dump(),
    [
      `be ${b} => 10.1.0.6:30080/TCP active cluster=0 zone=0`,
      `be ${a} => 10.1.0.5:30080/TCP active cluster=0 zone=0`,
      'ids 10.0.0.1:80/TCP scope=0 => 65534',
      'rnat 65534 => 10.0.0.1:80',
      'svc 10.0.0.1:80/TCP scope=0 slot=0 => u32=16777216 count=2 revnat=65534 flags=0x60/0x00 qcount=0',
      `svc 10.0.0.1:80/TCP scope=0 slot=1 => u32=${a} count=0 revnat=65534 flags=0x60/0x00 qcount=0`,
      `svc 10.0.0.1:80/TCP scope=0 slot=2 => u32=${b} count=0 revnat=65534 flags=0x60/0x00 qcount=0`,
    ].sort(),
    'service ID from the top, backends under their hashed IDs with no record; slots ordered by backend address; 1.18 slots carry the master flags; the master names the node algorithm (random: 1 << 24)',
  );
  t.same(
    reconciler.statuses().map((s) => [s.name, s.state, s.serviceId]),
    [['10.0.0.1:80/TCP', 'programmed', 65534]],
  );
  const again = reconciler.reconcileOnce();
  t.same([again.absent, again.changed, again.deleted], [0, 0, 0], 'nothing to do the second time');
});

t.test('backends come and go in make-before-break order', async (t) => {
  const { reconciler, dump } = setup('1.18');
  reconciler.setDesired([web([A, B])]);
  reconciler.reconcileOnce();

  reconciler.setDesired([web([A, B, C])]);
  reconciler.reconcileOnce();
  t.same(
    reconciler.lastPlan()?.ops.map((o) => o.step),
    ['backends', 'slots', 'masters'],
    'the new backend first (its hashed ID needs no record), its slot before the count',
  );
  t.match(dump().join('\n'), /slot=0 => u32=16777216 count=3/);

  reconciler.setDesired([web([A, C])]);
  reconciler.reconcileOnce();
  t.same(
    reconciler.lastPlan()?.ops.map((o) => o.step),
    ['slots', 'masters', 'stale-slots', 'stale-backends'],
    'slot 2 rewritten, count shrinks, then slot 3 and the backend go',
  );
  t.same(
    dump(),
    [
      `be ${c} => 10.1.0.7:30080/TCP active cluster=0 zone=0`,
      `be ${a} => 10.1.0.5:30080/TCP active cluster=0 zone=0`,
      'ids 10.0.0.1:80/TCP scope=0 => 65534',
      'rnat 65534 => 10.0.0.1:80',
      'svc 10.0.0.1:80/TCP scope=0 slot=0 => u32=16777216 count=2 revnat=65534 flags=0x60/0x00 qcount=0',
      `svc 10.0.0.1:80/TCP scope=0 slot=1 => u32=${a} count=0 revnat=65534 flags=0x60/0x00 qcount=0`,
      `svc 10.0.0.1:80/TCP scope=0 slot=2 => u32=${c} count=0 revnat=65534 flags=0x60/0x00 qcount=0`,
    ].sort(),
  );
});

t.test('non-active backends stay in slots after count (1.17 marks them quarantined, 1.16 has no qcount)', async (t) => {
  for (const [version, expectSlot2, expectQcount, union] of [
    ['1.17', 'flags=0x00/0x40', 'qcount=1', '16777216'],
    ['1.16', 'flags=0x00/0x00', 'qcount=0', '0'],
  ] as const) {
    const { reconciler, dump } = setup(version);
    reconciler.setDesired([web([{ ...A, state: 'terminating' }, B])]);
    reconciler.reconcileOnce();
    const d = dump().join('\n');
    const proto = version === '1.16' ? 'ANY' : 'TCP';
    t.match(
      d,
      new RegExp(`svc 10.0.0.1:80/${proto} scope=0 slot=0 => u32=${union} count=1 .* ${expectQcount}`),
      version,
    );
    const [ia, ib] = version === '1.16' ? [id(A, 0), id(B, 0)] : [a, b];
    t.match(d, new RegExp(`be ${ib} => 10.1.0.6:30080/\\w+ active`), `${version}: active B`);
    t.match(d, new RegExp(`be ${ia} => 10.1.0.5:30080/\\w+ terminating`));
    t.match(d, new RegExp(`slot=1 => u32=${ib} .* flags=0x00/0x00`), `${version}: B in slot 1`);
    t.match(d, new RegExp(`slot=2 => u32=${ia} .* ${expectSlot2}`), `${version}: terminating A after count`);
  }
});

t.test('removing a frontend removes all of its entries and its ID, nothing else', async (t) => {
  const { reconciler, dump, seedCilium } = setup('1.18');
  seedCilium();
  const foreign = dump();
  reconciler.setDesired([web([A, B], { sessionAffinity: { timeoutSeconds: 600 }, sourceRanges: ['192.168.0.0/16'] })]);
  reconciler.reconcileOnce();
  t.match(dump().join('\n'), new RegExp(`aff 65534 backend=${a}`));
  t.match(dump().join('\n'), /src 65534 192.168.0.0\/16/);
  t.match(
    dump().join('\n'),
    /slot=0 => u32=16777816 count=2 revnat=65534 flags=0xf0/,
    'affinity timeout 600 under algorithm 1, AFFINITY|SOURCE_RANGE',
  );
  reconciler.setDesired([]);
  reconciler.reconcileOnce();
  t.same(
    reconciler.lastPlan()?.ops.map((o) => o.step),
    [
      'stale-masters',
      'stale-slots',
      'stale-rev-nat',
      'stale-source-ranges',
      'stale-affinity-match',
      'stale-backends',
      'stale-ids',
    ],
  );
  t.same(dump(), foreign, "only Cilium's own entries are left");
});

t.test('foreign entries on the IDs kube-lb prefers are skipped and never touched', async (t) => {
  const { reconciler, dump, seed } = setup('1.18');
  seed({
    vip: '10.96.0.10',
    port: 53,
    proto: 17,
    revNat: 0xfffe,
    backends: [{ id: a, address: '10.244.0.5', port: 53 }],
  });
  const before = dump();
  reconciler.setDesired([web([A])]);
  reconciler.reconcileOnce();
  const after = dump();
  t.ok(
    before.every((line) => after.includes(line)),
    'every foreign line survives',
  );
  t.same(reconciler.statuses()[0]?.serviceId, 0xfffd);
  t.match(after.join('\n'), new RegExp(`be ${a - 1} => 10.1.0.5`), 'the backend takes the next free ID below its own');
  t.match(after.join('\n'), new RegExp(`beids 10.1.0.5:30080/TCP => ${a - 1}`), 'and it is recorded');
});

t.test('a VIP:port that Cilium already serves is a conflict, and nothing is written for it', async (t) => {
  const { reconciler, dump, seedCilium } = setup('1.18');
  seedCilium(); // among them the externalIP Service 198.51.100.180:80/TCP
  const before = dump();
  reconciler.setDesired([web([A], { vip: '198.51.100.180' })]);
  reconciler.reconcileOnce();
  t.same(dump(), before);
  t.equal(reconciler.statuses()[0]?.state, 'conflict');
  t.match(reconciler.statuses()[0]?.reason, /another owner/);
});

t.test('Cilium 1.16 keys services without protocol: TCP and UDP on one port collapse', async (t) => {
  const { reconciler, dump } = setup('1.16');
  reconciler.setDesired([web([A]), web([B], { protocol: 'UDP' })]);
  reconciler.reconcileOnce();
  t.same(
    reconciler.statuses().map((s) => s.state),
    ['programmed', 'conflict'],
  );
  t.match(reconciler.statuses()[1]?.reason, /without protocol/);
  t.match(dump().join('\n'), /svc 10.0.0.1:80\/ANY scope=0 slot=0/);
  t.match(dump().join('\n'), new RegExp(`be ${id(A, 0)} => 10.1.0.5:30080/ANY`), '1.16 backends have proto 0');
});

t.test('drift: deleted and changed entries are repaired and counted, foreign ones are not', async (t) => {
  const { reconciler, dump, seedCilium, maps } = setup('1.18');
  seedCilium();
  reconciler.setDesired([web([A, B]), web([C], { port: 443 })]);
  reconciler.reconcileOnce();
  const good = dump();
  // What Cilium 1.18's prune does: delete everything it did not create.
  for (const m of [maps.services, maps.backends, maps.revNat]) {
    for (const k of [...m.entries.keys()]) if (!foreignKey(m.name, k)) m.entries.delete(k);
  }
  const pass = reconciler.reconcileOnce();
  t.ok(pass.repair, 'counted as repair');
  t.equal(pass.absent, 10, '2 masters, 3 slots, 3 backends, 2 revNAT entries');
  t.same(dump(), good, 'byte for byte what it was');
  t.equal(reconciler.stats().repairedEntries, 10);

  const masterKey = [...maps.services.entries.keys()].find((k) => k.startsWith('\x0a\x00\x00\x01\x00\x50\x00\x00'))!;
  const tampered = Uint8Array.from(maps.services.entries.get(masterKey)!);
  tampered[4] = 1; // count 2 → 1
  maps.services.entries.set(masterKey, tampered);
  const second = reconciler.reconcileOnce();
  t.same([second.changed, second.repair], [1, true]);
  t.same(dump(), good);
});

const CILIUM_KEYS = new Set(CILIUM_118.map((e) => `${LB4_MAPS[e.map].name} ${bytesKey(e.key, 0, e.key.length)}`));

function foreignKey(map: string, key: string): boolean {
  return CILIUM_KEYS.has(`${map} ${key}`);
}

t.test('restart: a new reconciler over the same maps changes nothing', async (t) => {
  const { reconciler, dump, maps, profile } = setup('1.18', { maglevTableSize: 251 });
  const desired = [web([A, B, { ...C, state: 'terminating' as const }]), web([C], { port: 443, protocol: 'UDP' })];
  reconciler.setDesired(desired);
  reconciler.reconcileOnce();
  const before = dump();
  const restarted = new DataplaneReconciler({ maps, profile, logger });
  restarted.setDesired([...desired].reverse());
  const pass = restarted.reconcileOnce();
  t.same([pass.absent, pass.changed, pass.deleted], [0, 0, 0], 'IDs re-adopted from the ID table and our slots');
  t.same(dump(), before);
});

t.test('maglev: one table per service with active backends, the same for the same input on every node', async (t) => {
  const node1 = setup('1.18', { maglevTableSize: 251 });
  const node2 = setup('1.18', { maglevTableSize: 251 });
  node1.reconciler.setDesired([web([A, B, { ...C, state: 'terminating' }])]);
  node2.reconciler.setDesired([web([{ ...C, state: 'terminating' }, B, A])]);
  node1.reconciler.reconcileOnce();
  node2.reconciler.reconcileOnce();
  t.same(node1.dump(), node2.dump());
  t.match(
    node1.dump().join('\n'),
    new RegExp(`mag 65534 => ${Math.max(a, b)}x\\d+ ${Math.min(a, b)}x\\d+$`, 'm'),
    'only the two active backends',
  );
  const before = node1.dump();
  node1.reconciler.setDesired([web([A, B])]);
  node1.reconciler.reconcileOnce();
  t.same(
    node1.reconciler.lastPlan()?.ops.map((o) => o.step),
    ['masters', 'stale-slots', 'stale-backends'],
  );
  t.same(
    node1.dump().filter((l) => l.startsWith('mag')),
    before.filter((l) => l.startsWith('mag')),
    'same table',
  );
  node1.reconciler.setDesired([web([A])]);
  node1.reconciler.reconcileOnce();
  t.same(
    node1.reconciler.lastPlan()?.ops.map((o) => o.step),
    ['maglev', 'masters', 'stale-slots', 'stale-backends'],
  );
  node1.reconciler.setDesired([]);
  node1.reconciler.reconcileOnce();
  t.same(node1.dump(), [], 'empty again');
});

t.test('features Cilium lacks: source ranges fail closed, affinity is left out with a note', async (t) => {
  const { reconciler, dump } = setup('1.18', { sourceRange: false, affinityMatch: false });
  reconciler.setDesired([
    web([A], { sourceRanges: ['10.0.0.0/8'] }),
    web([B], { port: 443, sessionAffinity: { timeoutSeconds: 30 } }),
  ]);
  reconciler.reconcileOnce();
  const [ranged, sticky] = reconciler.statuses();
  t.equal(ranged?.state, 'unsupported');
  t.equal(sticky?.state, 'programmed');
  t.match(sticky?.notes[0], /affinity left out/);
  t.match(dump().join('\n'), /10.0.0.1:443\/TCP scope=0 slot=0 => u32=16777216 count=1 revnat=\d+ flags=0x60/);
  t.notMatch(dump().join('\n'), /10.0.0.1:80\//);
});

t.test('invalid desired frontends are rejected with a reason, the rest programmed', async (t) => {
  const { reconciler } = setup('1.18');
  reconciler.setDesired([
    web([A], { vip: '10.0.0.300' }),
    web([{ address: '10.1.0.9', port: 0 }], { port: 81 }),
    web([A]),
  ]);
  reconciler.reconcileOnce();
  t.same(
    reconciler.statuses().map((s) => s.state),
    ['rejected', 'rejected', 'programmed'],
  );
});

t.test('eTP=Local sets EXT_LOCAL_SCOPE only where the datapath ignores it', async (t) => {
  for (const [version, flags] of [
    ['1.18', '0x64'],
    ['1.19', '0x60'],
  ] as const) {
    const { reconciler, dump } = setup(version);
    reconciler.setDesired([web([A], { externalTrafficPolicy: 'Local' })]);
    reconciler.reconcileOnce();
    t.match(dump().join('\n'), new RegExp(`slot=0 => u32=16777216 count=1 revnat=65534 flags=${flags}`), version);
  }
});
