// Repair in proportion to what was lost: entries of kube-lb's that someone deleted go back from the last plan's
// image, on a change event (no pass at all) or in a pass that found only them missing (no planning). Anything
// else another process did still goes to the planner. Without change events (the fallback), every pass re-reads.
import t from 'tap';
import { canonicalDump } from '../../../src/core/dataplane/canonical.ts';
import type { DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { bytesKey } from '../../../src/core/bpf/packed.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { createFakeLb4Maps, type FakeByteMap, type FakeLb4Maps } from '../../../src/speaker/dataplane/fake-maps.ts';
import { readSnapshot, type WatchedMap } from '../../../src/speaker/dataplane/maps.ts';
import { ScriptedFeed } from '../../support/scripted-feed.ts';
import { DataplaneReconciler, type ReconcilerOptions } from '../../../src/speaker/dataplane/reconciler.ts';
import { goldenCiliumEntries } from '../../support/cilium-golden.ts';

const profile = PROFILES['1.18'];
const logger = createLogger({ program: 'test', level: 'silent' });
const CILIUM_118 = goldenCiliumEntries('1.18');

const web = (port: number, backends: DesiredFrontend['backends']): DesiredFrontend => ({
  vip: '10.0.0.1',
  port,
  protocol: 'TCP',
  backends,
});
const A = { address: '10.1.0.5', port: 30080 };
const B = { address: '10.1.0.6', port: 30080 };

function setup(options: Partial<ReconcilerOptions> = {}, maglevTableSize?: number) {
  const maps = createFakeLb4Maps(maglevTableSize ? { maglevTableSize } : {});
  for (const e of CILIUM_118) maps[e.map].set(e.key, e.value);
  const feed = new ScriptedFeed();
  const reconciler = new DataplaneReconciler({ maps, profile, logger, changes: feed, ...options });
  const dump = (): string[] =>
    canonicalDump(
      readSnapshot(maps),
      profile,
      maps.maglev ? new Map([...maps.maglev.tables].map(([id, x]) => [id, x.bytes])) : undefined,
    );
  reconciler.setDesired([web(80, [A, B]), web(443, [B])]);
  t.equal(reconciler.reconcileOnce().mode, 'planned');
  return { maps, feed, reconciler, dump };
}

/** Keys of kube-lb's entries in a map (the ones not from the golden Cilium dump). */
function ours(maps: FakeLb4Maps, role: Exclude<WatchedMap, 'maglev'>): Uint8Array[] {
  const m = maps[role] as FakeByteMap;
  const foreign = new Set(CILIUM_118.filter((e) => e.map === role).map((e) => bytesKey(e.key, 0, e.key.length)));
  return [...m.entries.keys()].filter((k) => !foreign.has(k)).map((k) => Uint8Array.from(k, (c) => c.charCodeAt(0)));
}

/** Deletes keys the way another process would, and tells the feed. */
function prune(
  maps: FakeLb4Maps,
  feed: ScriptedFeed,
  role: Exclude<WatchedMap, 'maglev'>,
  keys: Uint8Array[],
  report = true,
): void {
  for (const k of keys) (maps[role] as FakeByteMap).delete(k);
  feed.foreign += report ? 0 : keys.length;
  if (report) feed.emit(keys.map((key) => ({ map: role, op: 'delete', key })));
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('after the plan, a pass that finds nothing changed takes the foreign reference from its read', async (t) => {
  const { reconciler } = setup();
  const second = reconciler.reconcileOnce();
  t.equal(second.mode, 'unchanged', 'no second plan after writing: the image is what the maps hold');
  t.equal(reconciler.reconcileOnce().mode, 'idle', 'nobody else wrote: no map is read');
  t.same(reconciler.stats().detection.mode, 'events');
});

t.test('a deleted entry of ours goes back on its change event, without a pass', async (t) => {
  const { maps, feed, reconciler, dump } = setup();
  reconciler.reconcileOnce();
  const good = dump();
  const passes = reconciler.stats().passes;
  // Cilium's prune order: services first, then backends and revNAT, each its own round of events.
  prune(maps, feed, 'services', ours(maps, 'services'));
  await tick();
  t.same(dump(), good, 'masters and slots back');
  prune(maps, feed, 'backends', ours(maps, 'backends'));
  prune(maps, feed, 'revNat', ours(maps, 'revNat'));
  await tick();
  t.same(dump(), good, 'backends and revNAT back, byte for byte');
  t.equal(reconciler.stats().passes, passes, 'no pass ran (the reconciler is not started)');
  t.equal(reconciler.stats().eventRestoredEntries, 5 + 2 + 2, '3 slots + 2 masters, 2 backends, 2 revNAT');
  t.equal(
    reconciler.reconcileOnce().mode,
    'idle',
    'the next pass reads nothing: every change counted was one the events dealt with',
  );
});

t.test(
  'a foreign delete is not restored; an update after a delete of the same key wins over the restore',
  async (t) => {
    const { maps, feed, reconciler, dump } = setup();
    reconciler.reconcileOnce();
    const foreignBackend = CILIUM_118.find((e) => e.map === 'backends')!;
    prune(maps, feed, 'backends', [foreignBackend.key]);
    await tick();
    t.equal(maps.backends.get(foreignBackend.key), undefined, "Cilium's own entry stays deleted");
    const master = ours(maps, 'services').find((k) => k[6] === 0 && k[7] === 0 && k[5] === 80)!;
    const theirs = new Uint8Array(12).fill(7);
    maps.services.delete(master);
    maps.services.set(master, theirs);
    feed.emit([
      { map: 'services', op: 'delete', key: master },
      { map: 'services', op: 'update', key: master },
    ]);
    await tick();
    t.same(maps.services.get(master), theirs, 'not overwritten on the event: the pass decides');
    const pass = reconciler.reconcileOnce();
    t.equal(pass.mode, 'planned', 'one of ours holding other bytes goes to the planner');
    t.not(dump().length, 0);
  },
);

t.test('without events a pass finds lost entries and restores them without planning', async (t) => {
  const { maps, feed, reconciler, dump } = setup();
  reconciler.reconcileOnce();
  const good = dump();
  const plan = reconciler.lastPlan();
  prune(maps, feed, 'services', ours(maps, 'services'), false);
  prune(maps, feed, 'revNat', ours(maps, 'revNat'), false);
  const pass = reconciler.reconcileOnce();
  t.equal(pass.mode, 'restored');
  t.equal(pass.absent, 7, '5 service entries and 2 revNAT');
  t.ok(pass.repair);
  t.equal(reconciler.lastPlan(), plan, 'the planner did not run');
  t.same(dump(), good);
  t.equal(reconciler.reconcileOnce().mode, 'unchanged');
});

t.test('a foreign entry added waits for the verify read, which gives it to the planner', async (t) => {
  const { maps, feed, reconciler } = setup({ verifyPeriodMs: 200 });
  reconciler.reconcileOnce();
  const revNatKey = Uint8Array.of(0x12, 0x34);
  maps.revNat.set(revNatKey, new Uint8Array(6));
  feed.emit([{ map: 'revNat', op: 'update', key: revNatKey }]);
  t.equal(reconciler.reconcileOnce().mode, 'idle', "someone else's entry needs nothing at once");
  // Past the verify period (200 ms) and the 250 ms a read waits after the last event, by the reconciler's own clock
  // (performance.now): a 250 ms timer can fire earlier than that, by however long the loop had been busy before.
  const emitted = performance.now();
  while (performance.now() - emitted < 300) await new Promise((r) => setTimeout(r, 50));
  t.equal(reconciler.reconcileOnce().mode, 'planned', 'the verify read sees it and the planner takes it into account');
  t.ok(maps.revNat.get(revNatKey), 'and leaves it alone');
});

t.test('another value under one of our keys makes the next pass read and plan at once', async (t) => {
  const { maps, feed, reconciler, dump } = setup();
  reconciler.reconcileOnce();
  const good = dump();
  const [key] = ours(maps, 'revNat');
  maps.revNat.set(key!, Uint8Array.of(10, 9, 9, 9, 0, 80));
  feed.emit([{ map: 'revNat', op: 'update', key: key! }]);
  await tick();
  t.not(dump().join(), good.join(), 'not written back from the event: the planner decides who moves');
  t.equal(reconciler.reconcileOnce().mode, 'planned', 'read and planned, although events arrived just now');
});

t.test(
  'while events keep arriving, a change they did not explain waits for them to settle, then is read',
  async (t) => {
    const { maps, feed, reconciler, dump } = setup();
    reconciler.reconcileOnce();
    const good = dump();
    prune(maps, feed, 'backends', ours(maps, 'backends').slice(0, 1), false); // counted, its event not yet delivered
    const foreignKey = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
    feed.emit([{ map: 'backends', op: 'delete', key: foreignKey }]); // events are flowing
    t.equal(reconciler.reconcileOnce().mode, 'idle', 'put off: the count runs ahead of the events while they flow');
    await new Promise((r) => setTimeout(r, 300));
    t.equal(reconciler.reconcileOnce().mode, 'restored', 'once they stop, the read finds what no event explained');
    t.same(dump(), good);
  },
);

t.test('lost events: the next pass re-reads', async (t) => {
  const { maps, feed, reconciler, dump } = setup();
  reconciler.reconcileOnce();
  const good = dump();
  prune(maps, feed, 'backends', ours(maps, 'backends'), false);
  feed.emit([], true);
  await tick();
  t.not(dump().join(), good.join(), 'nothing restored from a lost event');
  t.equal(reconciler.reconcileOnce().mode, 'restored');
  t.same(dump(), good);
});

t.test('the safety net: with events, a full read still happens every verify period', async (t) => {
  let now = 0;
  const real = performance.now.bind(performance);
  const { maps, reconciler, dump } = setup({ verifyPeriodMs: 1000 });
  reconciler.reconcileOnce();
  const good = dump();
  // A change no event reports (a BPF program writing through a helper).
  maps.backends.delete(ours(maps, 'backends')[0]!);
  t.equal(reconciler.reconcileOnce().mode, 'idle', 'within the period it is not seen');
  now = real();
  while (real() - now < 1050) await new Promise((r) => setTimeout(r, 100));
  t.equal(reconciler.reconcileOnce().mode, 'restored', 'the periodic full read finds it');
  t.same(dump(), good);
});

t.test('maglev tables deleted are rebuilt from the image', async (t) => {
  const { maps, feed, reconciler, dump } = setup({}, 251);
  reconciler.reconcileOnce();
  const good = dump();
  const ids = [...maps.maglev!.tables.keys()];
  t.equal(ids.length, 2);
  maps.maglev!.remove(ids);
  feed.emit(ids.map((id) => ({ map: 'maglev', op: 'delete', key: Uint8Array.of(id >>> 8, id & 0xff) })));
  await tick();
  t.same(dump(), good);
  t.equal(reconciler.stats().eventRestoredEntries, 2);
});

t.test('the fallback: a feed that cannot follow leaves polling on, says why, and still repairs', async (t) => {
  const maps = createFakeLb4Maps();
  const feed = new ScriptedFeed();
  feed.failFollow = new Error('map watch load: Operation not permitted');
  const reconciler = new DataplaneReconciler({ maps, profile, logger, changes: feed });
  t.match(reconciler.stats().detection, { mode: 'polling', reason: /Operation not permitted/ });
  reconciler.setDesired([web(80, [A])]);
  reconciler.reconcileOnce();
  t.equal(reconciler.reconcileOnce().mode, 'planned', 'without events the foreign reference needs a second plan');
  t.equal(reconciler.reconcileOnce().mode, 'unchanged', 'and every pass reads');
  maps.services.entries.clear();
  t.equal(reconciler.reconcileOnce().mode, 'restored');
  t.equal(reconciler.reconcileOnce().mode, 'unchanged', 'never idle');
});
