// Map identity: every pass checks that each pin still names the map the reconciler holds. Cilium re-creates a
// pinned lb map when its size or flags change (and a remounted bpffs loses every pin); an fd held from before
// then points at a map the datapath no longer reads. The fake bpffs behaves like the kernel here: re-creating a
// pin leaves the held map alive and writable, but no longer pinned.
import t from 'tap';
import type { DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { canonicalDump } from '../../../src/core/dataplane/canonical.ts';
import { profileFor } from '../../../src/core/lb4/profile.ts';
import { wantedStatus } from '../../../src/core/speaker/status.ts';
import type { PackedEntries } from '../../../src/core/bpf/packed.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { createRegistry } from '../../../src/shared/metrics.ts';
import { SpeakerController } from '../../../src/speaker/controller.ts';
import { FakeBpffs, type FakeLb4Maps, type FakeMapsOptions } from '../../../src/speaker/dataplane/fake-maps.ts';
import { readSnapshot, type Lb4Maps, type PinnedLb4Maps } from '../../../src/speaker/dataplane/maps.ts';
import { DataplaneReconciler, MAPS_REPLACED } from '../../../src/speaker/dataplane/reconciler.ts';
import { HealthChecker } from '../../../src/speaker/health/checker.ts';
import { claim } from '../speaker/fixtures.ts';

const logger = createLogger({ program: 'test', level: 'silent' });
const profile = profileFor('1.18');

const BACKENDS = [
  { address: '10.1.0.5', port: 30080 },
  { address: '10.1.0.6', port: 30080 },
];
const web = (port = 80): DesiredFrontend => ({ vip: '10.0.0.1', port, protocol: 'TCP', backends: BACKENDS });

/** Maps whose next `failures` writes (upsert or remove, any map) throw: a re-programming that fails part way. */
function failingWrites(maps: FakeLb4Maps, failures: { left: number }): Lb4Maps {
  const guard = <T extends { upsert(e: PackedEntries): void; remove(k: PackedEntries): void; dump(): PackedEntries }>(
    m: T,
  ): T =>
    Object.assign(Object.create(m) as T, {
      dump: () => m.dump(), // read on the map itself, where its reads are counted
      upsert: (e: PackedEntries) => {
        if (failures.left-- > 0) throw new Error(`injected: ${(m as unknown as { name: string }).name} upsert`);
        m.upsert(e);
      },
      remove: (k: PackedEntries) => m.remove(k),
    });
  return {
    ...maps,
    services: guard(maps.services),
    backends: guard(maps.backends),
    revNat: guard(maps.revNat),
    idTable: guard(maps.idTable),
  };
}

function setup(options: FakeMapsOptions = {}) {
  const registry = createRegistry('test');
  const fs = new FakeBpffs(options);
  const reopens: PinnedLb4Maps[] = [];
  const failures = { left: 0 };
  const first = fs.open();
  let held = first.maps;
  const reconciler = new DataplaneReconciler({
    maps: first.maps,
    pins: first.pins,
    reopen: () => {
      const o = fs.open();
      held = o.maps;
      const opened = { maps: failingWrites(o.maps, failures), pins: o.pins, read: o.read };
      reopens.push(opened);
      return opened;
    },
    profile,
    logger,
    registry,
    now: () => 1000 * (reopens.length + 1),
  });
  const dump = (maps: FakeLb4Maps = held): string[] => canonicalDump(readSnapshot(maps), profile);
  return { fs, reconciler, reopens, failures, dump, first: first.maps, registry, held: () => held };
}

t.test('the same maps behind every pin: nothing is re-opened, the pass is as before', async (t) => {
  const { reconciler, reopens } = setup();
  reconciler.setDesired([web()]);
  const first = reconciler.reconcileOnce();
  const second = reconciler.reconcileOnce();
  t.same([first.replaced, second.replaced], [[], []]);
  t.equal(reopens.length, 0, 'no re-open');
  t.same([second.absent, second.changed, second.deleted, second.unavailable], [0, 0, 0, false]);
  t.equal(reconciler.stats().mapReplacements, 0);
  t.same(
    reconciler.statuses().map((s) => s.state),
    ['programmed'],
  );
});

t.test('a re-created map is re-opened and every entry is written into the maps pinned now', async (t) => {
  const { fs, reconciler, reopens, dump, first, registry, held } = setup({ maglevTableSize: 251 });
  reconciler.setDesired([web(), web(443)]);
  reconciler.reconcileOnce();
  const programmed = dump(first);

  fs.recreate('services', 131072);
  fs.recreate('maglev');
  const oldServices = dump(first).filter((l) => l.startsWith('svc'));
  const idTableReads = held().idTable.dumps;
  const pass = reconciler.reconcileOnce();
  t.equal(pass.error, undefined);
  t.same(
    pass.replaced.map((c) => c.name).sort(),
    ['cilium_lb4_maglev', 'cilium_lb4_services_v2'],
    'both re-created pins found',
  );
  t.ok(
    pass.replaced.every((c) => c.held !== undefined && c.pinned !== undefined && c.held !== c.pinned),
    'held and pinned IDs differ',
  );
  t.equal(reopens.length, 1, 'the maps were opened again');
  t.same(
    [held().services.dumps, held().idTable.dumps - idTableReads],
    [1, 1],
    "the pass planned on the re-open's read: no map read twice",
  );
  t.same(dump(), programmed, 'the maps pinned now hold every kube-lb entry, byte for byte as before');
  const tables = (fs.pinned.get('maglev') as FakeLb4Maps['maglev'])!.tables;
  t.equal(tables.size, 2, 'a maglev table per frontend in the new outer map');
  t.same(
    dump(first).filter((l) => l.startsWith('svc')),
    oldServices,
    'the stale map is no longer written',
  );
  t.same(
    reconciler.statuses().map((s) => s.state),
    ['programmed', 'programmed'],
  );
  t.equal(pass.unavailable, false);
  const r = reconciler.stats().lastReplacement;
  t.ok(
    r && r.reprogrammedAt !== undefined && r.failedPasses === 0,
    'recorded: found and re-programmed in the same pass',
  );
  const metrics = await registry.metrics();
  t.match(
    metrics,
    /kube_lb_dataplane_map_replacements_total\{map="cilium_lb4_services_v2",change="recreated"[^}]*\} 1/,
  );
  t.match(metrics, /kube_lb_dataplane_maps_current\{[^}]*\} 1/);

  const after = reconciler.reconcileOnce();
  t.same(
    [after.replaced.length, reopens.length, after.absent + after.changed + after.deleted],
    [0, 1, 0],
    'the next pass finds the new maps in place',
  );
});

t.test(
  'until the re-created map is programmed, every frontend is unavailable and the claim not Programmed',
  async (t) => {
    const { fs, reconciler, failures, dump, registry } = setup();
    const c = claim({ name: 'web' });
    const health = new HealthChecker({
      intervalMs: 1000,
      timeoutMs: 100,
      thresholds: { rise: 1, fall: 1 },
      logger,
      now: () => 0,
      probe: async () => ({ ok: true }),
    });
    const controller = new SpeakerController({
      nodeName: 'lb-1',
      claims: () => [c],
      dataplane: reconciler,
      health,
      publish: () => undefined,
      peers: () => new Map(),
      live: () => ['lb-1'],
      invalidateStatus: () => undefined,
      logger,
      now: () => 0,
      settleMs: 3000,
    });
    t.teardown(() => controller.stop());
    controller.start();
    const programmed = () => {
      const input = controller.statusInput(c, undefined)!;
      const cond = wantedStatus(input).conditions.find((x) => x.type === 'Programmed')!;
      return [cond.status, cond.reason];
    };
    reconciler.reconcileOnce();
    t.same(programmed(), ['True', 'Programmed'], 'programmed in the maps first opened');

    fs.recreate('services');
    failures.left = 1;
    const failed = reconciler.reconcileOnce();
    t.ok(failed.error, 'the re-programming failed part way');
    t.equal(failed.unavailable, true, 'the pass says its statuses are current all the same');
    t.same(
      reconciler.statuses().map((s) => [s.state, s.code]),
      [['unavailable', MAPS_REPLACED]],
    );
    t.match(reconciler.statuses()[0]!.reason, /cilium_lb4_services_v2 re-created .*re-programming failed: injected/);
    t.same(programmed(), ['False', 'CiliumMapsReplaced'], 'the claim is not Programmed meanwhile');
    t.match(await registry.metrics(), /kube_lb_dataplane_maps_current\{[^}]*\} 0/);
    t.match(await registry.metrics(), /kube_lb_dataplane_frontends\{state="unavailable"[^}]*\} 1/);

    const done = reconciler.reconcileOnce();
    t.equal(done.error, undefined);
    t.same(programmed(), ['True', 'Programmed'], 'Programmed again once the pinned maps hold everything');
    t.ok(
      dump().some((l) => l.startsWith('svc 198.51.100.200:80/TCP scope=0 slot=0')),
      'the master is in the map pinned now',
    );
    const r = reconciler.stats().lastReplacement!;
    t.same([r.failedPasses, r.reprogrammedAt !== undefined], [1, true]);
    t.match(await registry.metrics(), /kube_lb_dataplane_maps_current\{[^}]*\} 1/);
  },
);

t.test('a vanished map leaves the node unavailable, retried every pass until the pin is back', async (t) => {
  const { fs, reconciler, reopens, dump, registry } = setup();
  reconciler.setDesired([web()]);
  reconciler.reconcileOnce();

  fs.unpin('services');
  const gone = reconciler.reconcileOnce();
  t.same(
    gone.replaced.map((c) => [c.name, c.pinned]),
    [['cilium_lb4_services_v2', undefined]],
    'found vanished',
  );
  t.match(
    gone.error?.message ?? '',
    /cilium_lb4_services_v2 does not exist/,
    'the re-open fails: a required map is missing',
  );
  t.equal(gone.unavailable, true);
  t.same(
    reconciler.statuses().map((s) => s.state),
    ['unavailable'],
  );
  t.equal(reconciler.maps(), undefined, 'the stale maps are closed, none is held');

  const still = reconciler.reconcileOnce();
  t.same(
    [still.replaced.length, still.unavailable, reopens.length],
    [0, true, 0],
    'retried (and failing) without counting a new replacement',
  );
  t.match(still.error?.message ?? '', /does not exist/);
  t.equal(reconciler.stats().mapReplacements, 1);

  fs.recreate('services');
  const back = reconciler.reconcileOnce();
  t.same([back.error, back.unavailable, reopens.length], [undefined, false, 1]);
  t.same(
    reconciler.statuses().map((s) => s.state),
    ['programmed'],
  );
  t.ok(
    dump().some((l) => l.startsWith('svc 10.0.0.1:80/TCP scope=0 slot=0')),
    'programmed into the new pin',
  );
  t.equal(reconciler.stats().lastReplacement?.failedPasses, 2);
  t.match(
    await registry.metrics(),
    /kube_lb_dataplane_map_replacements_total\{map="cilium_lb4_services_v2",change="vanished"[^}]*\} 1/,
  );
});

t.test(
  'removed ID tables are created again with the records of the ones held; an optional map that appears is opened',
  async (t) => {
    const { fs, reconciler, dump } = setup({ sourceRange: false });
    reconciler.setDesired([web()]);
    reconciler.reconcileOnce();
    const before = dump();
    fs.unpin('idTable');
    fs.unpin('backendIdTable');
    fs.recreate('sourceRange');
    const pass = reconciler.reconcileOnce();
    t.equal(pass.error, undefined);
    t.same(
      pass.replaced
        .map((c) => [c.name, c.held === undefined ? 'appeared' : c.pinned === undefined ? 'vanished' : 're-created'])
        .sort(),
      [
        ['cilium_lb4_source_range', 'appeared'],
        ['kube_lb_backend_ids', 'vanished'],
        ['kube_lb_svc_ids', 'vanished'],
      ],
    );
    t.same(dump(), before, "kube-lb's entries are still its own: the same IDs, the same bytes");
    t.same(
      reconciler.statuses().map((s) => s.state),
      ['programmed'],
    );
  },
);

t.test('between passes the pins are checked often: a replacement brings the next pass forward', async (t) => {
  const fs = new FakeBpffs();
  const first = fs.open();
  const reconciler = new DataplaneReconciler({
    maps: first.maps,
    pins: first.pins,
    reopen: () => fs.open(),
    profile,
    logger,
    periodMs: 60_000,
    pinCheckMs: 10,
  });
  reconciler.setDesired([web()]);
  const firstPass = new Promise<void>((resolve) => reconciler.onPass(() => resolve()));
  reconciler.start();
  t.teardown(() => reconciler.stop());
  await firstPass;
  const started = performance.now();
  const found = new Promise<number>((resolve) =>
    reconciler.onPass((r) => r.replaced.length > 0 && resolve(performance.now() - started)),
  );
  fs.recreate('services');
  const ms = await found;
  t.ok(ms < 1000, `found and re-programmed ${Math.round(ms)} ms after the re-creation, with a 60 s period`);
  t.same(
    reconciler.statuses().map((s) => s.state),
    ['programmed'],
  );
});

t.test('pin events bring the check forward; when they stop, the periodic check is what is left', async (t) => {
  const fs = new FakeBpffs();
  const first = fs.open();
  let emit = (): void => {};
  let fail = (_reason: string): void => {};
  let unsubscribed = 0;
  const warnings: string[] = [];
  const reconciler = new DataplaneReconciler({
    maps: first.maps,
    pins: first.pins,
    pinEvents: (onChange, onFailure) => {
      emit = onChange;
      fail = onFailure;
      return () => unsubscribed++;
    },
    reopen: () => fs.open(),
    profile,
    logger: createLogger(
      { program: 'test', level: 'warn' },
      { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) },
    ),
    periodMs: 60_000,
    pinCheckMs: 0,
  });
  reconciler.setDesired([web()]);
  const firstPass = new Promise<void>((resolve) => reconciler.onPass(() => resolve()));
  reconciler.start();
  t.teardown(() => reconciler.stop());
  await firstPass;
  t.equal(reconciler.stats().pinDetection.mode, 'events');

  const found = new Promise<void>((resolve) => reconciler.onPass((r) => r.replaced.length > 0 && resolve()));
  fs.recreate('services');
  emit();
  await found;
  t.same(
    reconciler.statuses().map((s) => s.state),
    ['programmed'],
    'the new map programmed on the event, with no periodic check and a 60 s period',
  );

  // A pin that vanished: the maps are let go, and the event of its return is what re-opens them.
  const missing = new Promise<void>((resolve) => reconciler.onPass((r) => r.error !== undefined && resolve()));
  fs.unpin('services');
  emit();
  await missing;
  t.equal(reconciler.maps(), undefined, 'nothing held while the pin is missing');
  const back = new Promise<void>((resolve) => reconciler.onPass((r) => r.error === undefined && resolve()));
  fs.recreate('services');
  emit();
  await back;
  t.same(
    reconciler.statuses().map((s) => s.state),
    ['programmed'],
    're-opened and programmed on the event of the new pin',
  );

  fail('watching /sys/fs/bpf/tc/globals: EIO');
  t.equal(reconciler.stats().pinDetection.mode, 'polling');
  t.match(reconciler.stats().pinDetection.reason, /EIO/);
  t.equal(unsubscribed, 1, 'the events unsubscribed');
  t.ok(
    warnings.some((w) => /pin events stopped/.test(w)),
    'a warning says replaced maps are now found by the periodic check',
  );
});
