// IDs kube-lb keeps and IDs it gives up (issue 11): a backend's ID is its hashed one, or the one kube-lb's
// pinned backend table records when it had to take another, so a backend comes back under its ID after Cilium
// pruned it and kube-lb restarted (conntrack entries name backend IDs); and when another writer starts using one of kube-lb's IDs (Cilium's allocator reaching the top
// of its space), kube-lb moves off it in that pass and never writes or deletes an entry under it.
import t from 'tap';
import { canonicalDump } from '../../../src/core/dataplane/canonical.ts';
import type { DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { bytesKey } from '../../../src/core/bpf/packed.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { createFakeLb4Maps, type FakeByteMap, type FakeLb4Maps } from '../../../src/speaker/dataplane/fake-maps.ts';
import { readSnapshot } from '../../../src/speaker/dataplane/maps.ts';
import { ScriptedFeed } from '../../support/scripted-feed.ts';
import { DataplaneReconciler } from '../../../src/speaker/dataplane/reconciler.ts';
import { hashedBackendId, TopDownIds } from '../../../src/core/dataplane/ids.ts';
import { parseIPv4 } from '../../../src/core/lb4/ipv4.ts';
import { foreignServiceEntries, type RawEntry } from '../../support/lb4-fixtures.ts';

const profile = PROFILES['1.18'];
const logger = createLogger({ program: 'test', level: 'silent' });
const A = { address: '10.1.0.5', port: 30080 };
const B = { address: '10.1.0.6', port: 30080 };
const C = { address: '10.1.0.7', port: 30080 };
/** A backend's hashed ID (ids.ts), over TCP. */
const hid = (b: { address: string; port: number }): number => hashedBackendId(parseIPv4(b.address), b.port, 6);
const web = (backends: DesiredFrontend['backends']): DesiredFrontend => ({
  vip: '10.0.0.1',
  port: 80,
  protocol: 'TCP',
  backends,
});

function dumpOf(maps: FakeLb4Maps): string[] {
  return canonicalDump(
    readSnapshot(maps),
    profile,
    maps.maglev ? new Map([...maps.maglev.tables].map(([id, x]) => [id, x.bytes])) : undefined,
  );
}

/** Backend address → the ID kube-lb's slots for 10.0.0.1:80 point at. */
function backendIdsOfVip(lines: readonly string[]): Map<string, number> {
  const ids = new Map<string, number>();
  const slots = lines
    .filter((l) => /^svc 10\.0\.0\.1:80\/TCP scope=0 slot=[1-9]/.test(l))
    .map((l) => Number(/u32=(\d+)/.exec(l)![1]));
  for (const id of slots) {
    const be = lines.find((l) => l.startsWith(`be ${id} => `));
    if (be) ids.set(/=> ([\d.]+):/.exec(be)![1]!, id);
  }
  return ids;
}

/** Whether kube-lb's VIP is whole: its master's revNAT names it, and every slot points at one of its backends. */
function vipIsWhole(lines: readonly string[], backends: readonly { address: string }[]): string | undefined {
  const master = lines.find((l) => l.startsWith('svc 10.0.0.1:80/TCP scope=0 slot=0 '));
  if (!master) return 'no master';
  const revNat = Number(/revnat=(\d+)/.exec(master)![1]);
  if (!lines.includes(`rnat ${revNat} => 10.0.0.1:80`)) return `revNAT ${revNat} does not name the VIP`;
  const ids = backendIdsOfVip(lines);
  const want = backends.map((b) => b.address).sort();
  if ([...ids.keys()].sort().join() !== want.join())
    return `slots reach ${[...ids.keys()].join()}, want ${want.join()}`;
  return undefined;
}

t.test('backend IDs are persisted: after a prune and a restart every backend comes back under its ID', async (t) => {
  const maps = createFakeLb4Maps();
  // Another writer holds B's hashed ID when B first comes: B takes the next ID below it, and only B is recorded.
  const squatter = foreignServiceEntries(profile, {
    vip: '10.96.0.30',
    port: 443,
    proto: 6,
    revNat: 7,
    backends: [{ id: hid(B), address: '10.244.1.9', port: 6443 }],
  });
  for (const e of squatter) (maps[e.map as 'services' | 'backends' | 'revNat'] as FakeByteMap).set(e.key, e.value);
  const first = new DataplaneReconciler({ maps, profile, logger });
  first.setDesired([web([A, B, C])]);
  first.reconcileOnce();
  const before = backendIdsOfVip(dumpOf(maps));
  t.same(
    before,
    new Map([
      ['10.1.0.5', hid(A)],
      ['10.1.0.6', hid(B) - 1],
      ['10.1.0.7', hid(C)],
    ]),
    'A and C under their hashed IDs, B just below its own',
  );
  t.same(
    dumpOf(maps).filter((l) => l.startsWith('beids')),
    [`beids 10.1.0.6:30080/TCP => ${hid(B) - 1}`],
    'the table records only B',
  );
  // The other writer's service goes, which frees B's hashed ID.
  for (const e of squatter)
    (maps[e.map as 'services' | 'backends' | 'revNat'] as FakeByteMap).entries.delete(bytesKey(e.key, 0, e.key.length));

  // Cilium's prune: every kube-lb entry in its maps goes; kube-lb's own tables are not Cilium's to sweep.
  for (const role of ['services', 'backends', 'revNat'] as const) (maps[role] as FakeByteMap).entries.clear();
  const second = new DataplaneReconciler({ maps, profile, logger });
  second.setDesired([web([A, B, C])]);
  second.reconcileOnce();
  t.same(
    backendIdsOfVip(dumpOf(maps)),
    before,
    'all three are back under the IDs established flows name, B under its recorded one',
  );

  // The control: without the table a new process gives B its hashed ID, and B's flows would move.
  for (const role of ['services', 'backends', 'revNat', 'backendIdTable'] as const)
    (maps[role] as FakeByteMap).entries.clear();
  const third = new DataplaneReconciler({ maps, profile, logger });
  third.setDesired([web([A, B, C])]);
  third.reconcileOnce();
  t.equal(backendIdsOfVip(dumpOf(maps)).get('10.1.0.6'), hid(B), 'without it, B would get another ID');
});

/** A Cilium Service whose allocator reached kube-lb's service ID 0xfffe and the backend ID of A. */
function colliding(): RawEntry[] {
  const entries = foreignServiceEntries(profile, {
    vip: '10.96.0.20',
    port: 443,
    proto: 6,
    revNat: 0xfffe,
    backends: [{ id: hid(A), address: '10.244.1.9', port: 6443 }],
  });
  // Cilium's order: backends, revNAT, slots, master.
  const rank = (e: RawEntry): number =>
    e.map === 'backends' ? 0 : e.map === 'revNat' ? 1 : e.key[8] !== 0 || e.key[9] !== 0 ? 2 : 3;
  return [...entries].sort((x, y) => rank(x) - rank(y));
}

function holds(maps: FakeLb4Maps, e: RawEntry): boolean {
  const v = (maps[e.map as 'services' | 'backends' | 'revNat'] as FakeByteMap).entries.get(
    bytesKey(e.key, 0, e.key.length),
  );
  return v !== undefined && Buffer.compare(Buffer.from(v), Buffer.from(e.value)) === 0;
}

t.test(
  "Cilium's allocator reaches kube-lb's IDs: a pass after each of its writes moves kube-lb off, none of its entries is touched",
  async (t) => {
    const maps = createFakeLb4Maps();
    const reconciler = new DataplaneReconciler({ maps, profile, logger });
    reconciler.setDesired([web([A])]);
    reconciler.reconcileOnce();
    t.equal(reconciler.statuses()[0]?.serviceId, 0xfffe);
    t.same(backendIdsOfVip(dumpOf(maps)).get('10.1.0.5'), hid(A));

    const written: RawEntry[] = [];
    let cost = 0;
    for (const e of colliding()) {
      (maps[e.map as 'services' | 'backends' | 'revNat'] as FakeByteMap).set(e.key, e.value);
      written.push(e);
      const pass = reconciler.reconcileOnce();
      t.equal(pass.error, undefined);
      cost += pass.absent + pass.changed + pass.deleted;
      t.ok(
        written.every((w) => holds(maps, w)),
        `after Cilium wrote its ${e.map} entry, every entry Cilium wrote is still its own`,
      );
      t.equal(vipIsWhole(dumpOf(maps), [A]), undefined, `and kube-lb's VIP is whole again (${e.map})`);
    }
    t.not(reconciler.statuses()[0]?.serviceId, 0xfffe, 'kube-lb moved off the service ID');
    t.not(backendIdsOfVip(dumpOf(maps)).get('10.1.0.5'), hid(A), 'and off the backend ID');
    t.same(reconciler.stats().idMoves, { serviceIds: 1, backendIds: 1 }, 'each move counted once');
    t.comment(`the two moves (one frontend with one backend) cost ${cost} entry writes and deletes`);
    t.same(
      dumpOf(maps).filter((l) => l.startsWith('beids')),
      [`beids 10.1.0.5:30080/TCP => ${hid(A) - 1}`],
      'the backend table records the move',
    );
    const settled = dumpOf(maps);
    t.equal(reconciler.reconcileOnce().mode, 'unchanged', 'then nothing more to do');
    t.same(dumpOf(maps), settled);
  },
);

t.test(
  'a maglev table replaced under one of our IDs (its content cannot say whose): the event makes kube-lb move off it',
  async (t) => {
    const maps = createFakeLb4Maps({ maglevTableSize: 251 });
    const feed = new ScriptedFeed();
    const reconciler = new DataplaneReconciler({ maps, profile, logger, changes: feed });
    reconciler.setDesired([web([A, B])]);
    reconciler.reconcileOnce();
    t.equal(reconciler.statuses()[0]?.serviceId, 0xfffe);
    // Cilium writes its own table under 0xfffe (its first write for a new service there).
    const theirs = new Uint8Array(251 * 4).fill(7);
    maps.maglev!.set(0xfffe, theirs, 'theirs');
    feed.emit([{ map: 'maglev', op: 'update', key: Uint8Array.of(0xff, 0xfe) }]);
    t.same(reconciler.stats().contestedIds.serviceIds, [0xfffe], 'the ID is contested from the event on');
    reconciler.reconcileOnce();
    t.not(reconciler.statuses()[0]?.serviceId, 0xfffe, 'kube-lb moved off it');
    t.same(maps.maglev!.tables.get(0xfffe)?.bytes, theirs, "Cilium's table is still there, untouched");
    t.equal(vipIsWhole(dumpOf(maps), [A, B]), undefined);
    t.ok(maps.maglev!.tables.has(reconciler.statuses()[0]!.serviceId!), 'the VIP has its table under the new ID');
    // Then its revNAT under the same ID: kube-lb's old one is overwritten by Cilium, never rewritten by kube-lb.
    const rn = foreignServiceEntries(profile, {
      vip: '10.96.0.20',
      port: 443,
      proto: 6,
      revNat: 0xfffe,
      backends: [],
    }).find((e) => e.map === 'revNat')!;
    maps.revNat.set(rn.key, rn.value);
    feed.emit([{ map: 'revNat', op: 'update', key: rn.key }]);
    reconciler.reconcileOnce();
    t.ok(holds(maps, rn), "Cilium's revNAT stays");
    // Cilium deletes its service: the ID is free again once nothing is left under it.
    maps.maglev!.remove([0xfffe]);
    maps.revNat.delete(rn.key);
    feed.emit([
      { map: 'maglev', op: 'delete', key: Uint8Array.of(0xff, 0xfe) },
      { map: 'revNat', op: 'delete', key: rn.key },
    ]);
    reconciler.setDesired([web([A])]);
    reconciler.reconcileOnce();
    t.same(reconciler.stats().contestedIds.serviceIds, [], 'forgotten at the next plan once nothing is left under it');
  },
);

t.test('IDs are handed out from a start downwards, then from the top down to just above the start', async (t) => {
  const take = (ids: TopDownIds): (number | undefined)[] => Array.from({ length: 11 }, () => ids.take());
  t.same(take(new TopDownIds(10, () => false)), [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, undefined]);
  t.same(take(new TopDownIds(10, () => false, 5)), [5, 4, 3, 2, 1, 10, 9, 8, 7, 6, undefined]);
  t.same(take(new TopDownIds(10, (id) => id % 2 === 0, 5)), [
    5,
    3,
    1,
    9,
    7,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

t.test("Cilium's allocator sweeping up through kube-lb's IDs: kube-lb moves behind it, once", async (t) => {
  const maps = createFakeLb4Maps();
  const reconciler = new DataplaneReconciler({ maps, profile, logger });
  const other = (backends: DesiredFrontend['backends']): DesiredFrontend => ({ ...web(backends), vip: '10.0.0.2' });
  reconciler.setDesired([other([B])]);
  reconciler.reconcileOnce();
  reconciler.setDesired([other([B]), web([A])]);
  reconciler.reconcileOnce();
  t.same(
    reconciler.statuses().map((s) => [s.name, s.serviceId]),
    [
      ['10.0.0.1:80/TCP', 0xfffd],
      ['10.0.0.2:80/TCP', 0xfffe],
    ],
  );
  reconciler.setDesired([web([A])]); // 0xfffe is free again, right above kube-lb's remaining ID
  reconciler.reconcileOnce();

  const written: RawEntry[] = [];
  for (let id = 0xfffa; id <= 0xfffe; id++) {
    for (const e of foreignServiceEntries(profile, {
      vip: `10.96.1.${id & 0xff}`,
      port: 443,
      proto: 6,
      revNat: id,
      backends: [],
    })) {
      (maps[e.map] as FakeByteMap).set(e.key, e.value);
      written.push(e);
      reconciler.reconcileOnce();
      t.ok(
        written.every((w) => holds(maps, w)),
        `Cilium's entries for ${id.toString(16)} untouched`,
      );
      t.equal(vipIsWhole(dumpOf(maps), [A]), undefined);
    }
  }
  t.equal(
    reconciler.stats().idMoves.serviceIds,
    1,
    'one move: from 0xfffd to below the sweep, not to 0xfffe, which Cilium took next',
  );
  t.ok(reconciler.statuses()[0]!.serviceId! < 0xfffa, `now at ${reconciler.statuses()[0]!.serviceId!.toString(16)}`);
});

t.test(
  'hashed backend IDs: in the upper half of the u32 space, and the same in every release (persistent format)',
  async (t) => {
    // Literal values: a change of the hash would give every backend another ID at the next start.
    t.equal(hashedBackendId(parseIPv4('10.1.0.5'), 30080, 6), 4268770244);
    t.equal(
      hashedBackendId(parseIPv4('10.1.0.5'), 30080, 0),
      2480123151,
      'the protocol is part of the identity where the line keys it',
    );
    t.equal(hashedBackendId(parseIPv4('10.10.0.21'), 30443, 6), 3003101371);
    const ids = new Set<number>();
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const id = hashedBackendId((0x0a400000 + i) >>> 0, 30080 + (i % 7), 6);
      if (id < 0x80000000 || id > 0xfffffffe) outside++;
      ids.add(id);
    }
    t.equal(outside, 0, 'never below 2^31, never 0xFFFFFFFF');
    t.ok(ids.size >= 99_990, `100k backends, ${100_000 - ids.size} collisions (each is resolved and recorded)`);
  },
);
