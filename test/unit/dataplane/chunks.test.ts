// Plans of thousands of frontends, which the planner builds, diffs and hands over a chunk at a time (a first
// chunk of 128 frontends, then 1024): the operations handed over are the plan's, in its order; applied one by
// one they never let a master, slot or revNAT entry point at something not yet written; and the maps end up
// holding exactly the desired frontends, from empty maps and from maps holding an older state alike.
import t, { type Test } from 'tap';
import type { DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { normalizeFrontends } from '../../../src/core/dataplane/frontend.ts';
import { classify } from '../../../src/core/dataplane/ownership.ts';
import { listFrontends } from '../../../src/core/dataplane/listing.ts';
import { MapPlanner, type MapOp } from '../../../src/core/dataplane/planner.ts';
import { getHost32, getNet16, getHost16, viewOf } from '../../../src/core/lb4/bytes.ts';
import { LB4_KEY_OFFSETS } from '../../../src/core/lb4/service-key.ts';
import { LB4_SERVICE_OFFSETS } from '../../../src/core/lb4/service-value.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { createFakeLb4Maps, type FakeByteMap, type FakeLb4Maps } from '../../../src/speaker/dataplane/fake-maps.ts';
import { hashedBackendId } from '../../../src/core/dataplane/ids.ts';
import { foreignServiceEntries } from '../../support/lb4-fixtures.ts';
import { readSnapshot } from '../../../src/speaker/dataplane/maps.ts';
import { bytesKey } from '../../../src/core/bpf/packed.ts';

const profile = PROFILES['1.18'];
const options = { profile, algorithm: 'random', sourceRangeMap: true, affinityMatchMap: true } as const;

/** n frontends 10.20.x.y:80 with `backends` backends each; `shift` moves every backend to another node. */
function desired(n: number, backends: number, shift = 0): DesiredFrontend[] {
  return Array.from({ length: n }, (_, i) => ({
    vip: `10.20.${i >> 8}.${i & 255}`,
    port: 80,
    protocol: 'TCP' as const,
    backends: Array.from({ length: backends }, (_, j) => ({
      address: `10.${40 + j + shift}.${i >> 8}.${i & 255}`,
      port: 30080,
    })),
  }));
}

/**
 * Applies each operation to the maps, checking before every services upsert that what it points at exists:
 * each slot's backend, and each master's revNAT and slots 1..count.
 */
function applyChecked(t: Test, maps: FakeLb4Maps, ops: readonly MapOp[]): void {
  let broken = 0;
  for (const op of ops) {
    if (op.kind === 'upsert' && op.map === 'services') {
      const k = viewOf(op.entries.keys);
      const v = viewOf(op.entries.values);
      for (let i = 0; i < op.entries.count; i++) {
        const ko = i * op.entries.keySize;
        const vo = i * op.entries.valueSize;
        const slot = getHost16(k, ko + LB4_KEY_OFFSETS.backendSlot);
        if (slot !== 0) {
          const id = new Uint8Array(4);
          new DataView(id.buffer).setUint32(0, getHost32(v, vo + LB4_SERVICE_OFFSETS.union), true);
          if (!maps.backends.entries.has(bytesKey(id, 0, 4))) broken++;
          continue;
        }
        const revNat = new Uint8Array(2);
        new DataView(revNat.buffer).setUint16(0, getNet16(v, vo + LB4_SERVICE_OFFSETS.revNatIndex));
        if (!maps.revNat.entries.has(bytesKey(revNat, 0, 2))) broken++;
        const count = getHost16(v, vo + LB4_SERVICE_OFFSETS.count);
        for (let s = 1; s <= count; s++) {
          const sk = op.entries.keys.slice(ko, ko + op.entries.keySize);
          new DataView(sk.buffer).setUint16(LB4_KEY_OFFSETS.backendSlot, s, true);
          if (!maps.services.entries.has(bytesKey(sk, 0, sk.length))) broken++;
        }
      }
    }
    switch (op.kind) {
      case 'upsert':
        maps[op.map]!.upsert(op.entries);
        break;
      case 'delete':
        maps[op.map]!.remove(op.keys);
        break;
      default:
        throw new Error(`no maglev in this test: ${op.kind}`);
    }
  }
  t.equal(broken, 0, 'no entry was ever written before what it points at');
}

/** VIP → its backends' addresses, as the maps hold them. */
function served(maps: FakeLb4Maps): Map<string, string[]> {
  const s = readSnapshot(maps);
  const own = classify(s, profile);
  return new Map(
    listFrontends(s, profile, own)
      .filter((f) => f.owner === 'kube-lb')
      .map((f) => [f.frontend, f.backends.map((b) => b.address ?? 'missing').sort()]),
  );
}

function want(d: readonly DesiredFrontend[]): Map<string, string[]> {
  return new Map(d.map((f) => [`${f.vip}:${f.port}/TCP`, f.backends.map((b) => `${b.address}:${b.port}/TCP`).sort()]));
}

function plan(
  maps: FakeLb4Maps,
  planner: MapPlanner,
  d: readonly DesiredFrontend[],
): { ops: readonly MapOp[]; handed: MapOp[] } {
  const n = normalizeFrontends(d, profile);
  const handed: MapOp[] = [];
  const p = planner.plan(n.frontends, n.rejected, readSnapshot(maps), (op) => handed.push(op));
  return { ops: p.ops, handed };
}

t.test('2,500 frontends from empty maps, then an older state changed in every way', async (t) => {
  const maps = createFakeLb4Maps();
  const planner = new MapPlanner(options);
  const first = desired(2500, 3);
  const p1 = plan(maps, planner, first);
  t.equal(p1.handed.length, p1.ops.length, 'every operation handed over');
  t.ok(
    p1.handed.every((op, i) => op === p1.ops[i]),
    'in plan order',
  );
  t.ok(
    p1.ops.filter((o) => o.step === 'masters').length >= 4,
    `in chunks (${p1.ops.filter((o) => o.step === 'masters').length} master batches)`,
  );
  applyChecked(t, maps, p1.ops);
  t.same(served(maps), want(first), 'every frontend served by its backends');

  const restarted = new MapPlanner(options);
  t.same(plan(maps, restarted, first).ops, [], 'a new planner over the maps finds nothing to do');

  // 300 frontends gone, 400 with one backend moved, 200 new ones, the rest as they were.
  const second = desired(2700, 3).filter((_, i) => i < 2000 || i >= 2300 || i >= 2500);
  for (let i = 0; i < 400; i++) {
    const f = second[i * 4]!;
    second[i * 4] = {
      ...f,
      backends: [...f.backends.slice(1), { address: `10.99.${i >> 8}.${i & 255}`, port: 30080 }],
    };
  }
  const p2 = plan(maps, restarted, second);
  t.ok(p2.handed.every((op, i) => op === p2.ops[i]) && p2.handed.length === p2.ops.length, 'handed over in plan order');
  applyChecked(t, maps, p2.ops);
  t.same(served(maps), want(second), 'exactly the new state');
  t.same(plan(maps, new MapPlanner(options), second).ops, [], 'and nothing left to do');
});

t.test('the same frontends over emptied maps (a re-created map) are handed over chunk by chunk', async (t) => {
  const maps = createFakeLb4Maps();
  const planner = new MapPlanner(options);
  const d = desired(2500, 3);
  const n = normalizeFrontends(d, profile);
  const run = (): { ops: readonly MapOp[]; handed: MapOp[] } => {
    const handed: MapOp[] = [];
    const p = planner.plan(n.frontends, n.rejected, readSnapshot(maps), (op) => handed.push(op));
    return { ops: p.ops, handed };
  };
  applyChecked(t, maps, run().ops);
  const empty = (): void => {
    for (const m of [maps.services, maps.backends, maps.revNat]) m.entries.clear();
  };
  /** How many keys the operations upsert more than once (a chunk handed over twice). */
  const rewritten = (ops: readonly MapOp[]): number => {
    const seen = new Set<string>();
    let twice = 0;
    for (const op of ops) {
      if (op.kind !== 'upsert') continue;
      for (let i = 0; i < op.entries.count; i++) {
        const k = `${op.map} ${bytesKey(op.entries.keys, i * op.entries.keySize, op.entries.keySize)}`;
        if (seen.has(k)) twice++;
        seen.add(k);
      }
    }
    return twice;
  };

  empty();
  const again = run();
  const masterBatches = again.ops.filter((o) => o.step === 'masters').length;
  t.ok(masterBatches >= 4, `from the last image, in chunks (${masterBatches} master batches)`);
  t.ok(again.handed.length === again.ops.length && again.handed.every((op, i) => op === again.ops[i]), 'in plan order');
  t.equal(rewritten(again.ops), 0, 'no entry handed over twice');
  applyChecked(t, maps, again.ops);
  t.same(served(maps), want(d), 'every frontend served again');
  t.same(run().ops, [], 'and nothing left to do');

  // Emptied again, and another writer now holds the hashed ID of a backend in a late chunk: the chunks before it
  // come from the last image, that chunk and the rest from a new one, where the backend has moved to another ID.
  empty();
  const moved = n.frontends[2000]!.backends[0]!;
  for (const e of foreignServiceEntries(profile, {
    vip: '10.96.0.30',
    port: 443,
    proto: 6,
    revNat: 7,
    backends: [{ id: hashedBackendId(moved.address, moved.port, 6), address: '10.244.1.9', port: 6443 }],
  }))
    (maps[e.map as 'services' | 'backends' | 'revNat'] as FakeByteMap).set(e.key, e.value);
  const third = run();
  t.equal(rewritten(third.ops), 0, 'no entry handed over twice');
  applyChecked(t, maps, third.ops);
  t.same(
    new Map([...served(maps)].filter(([vip]) => vip !== '10.96.0.30:443/TCP')),
    want(d),
    'every frontend served, the one whose backend moved too',
  );
  t.same(run().ops, [], 'nothing left to do');
  t.same(plan(maps, new MapPlanner(options), d).ops, [], 'a new planner agrees (the moved ID was recorded)');
});
