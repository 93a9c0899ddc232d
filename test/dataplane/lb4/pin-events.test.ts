// Pin events on a real bpffs: Cilium re-creates a map by pinning a new one in the old one's place, and inotify
// reports that within a millisecond. With the periodic pin check off and a 60 s period, only the events can bring
// the re-programming forward, so a replacement found in time here was found by them; the same reconciler without
// them finds nothing in that time (the control).
import t, { type Test } from 'tap';
import { mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { LB4_MAPS } from '../../../src/core/lb4/maps.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { BpfMap } from '../../../src/native/bpf.ts';
import { readSnapshot } from '../../../src/speaker/dataplane/maps.ts';
import { openLb4Maps, watchPinDirectory } from '../../../src/speaker/dataplane/native-maps.ts';
import { DataplaneReconciler } from '../../../src/speaker/dataplane/reconciler.ts';
import { mountBpffs } from '../../../lab/bpffs.ts';
import { createCiliumMaps } from '../../../lab/cilium-maps.ts';
import { Ledger } from '../../../lab/ledger.ts';

const ledger = Ledger.open('lb4-pin-events');
const bpffs = mountBpffs(ledger, 'pinevents');
t.teardown(() => bpffs.dispose());

const logger = createLogger({ program: 'test', level: 'silent' });
const web: DesiredFrontend = {
  vip: '10.20.0.1',
  port: 80,
  protocol: 'TCP',
  backends: [
    { address: '10.1.0.5', port: 30080 },
    { address: '10.1.0.6', port: 30080 },
  ],
};

let sets = 0;
function freshMaps(): string {
  const dir = join(bpffs.dir, `set-${sets++}`);
  mkdirSync(dir);
  createCiliumMaps(dir, { profile: PROFILES['1.18'], maxEntries: 1024 });
  return dir;
}

/** Pins an empty map of the same shape where the services map was: what Cilium does on --bpf-lb-map-max. */
function recreateServices(dir: string): void {
  const path = join(dir, LB4_MAPS.services.name);
  const old = BpfMap.open(path, { readOnly: true });
  const { type, keySize, valueSize, maxEntries, flags, name } = old.info;
  old.close();
  const fresh = BpfMap.create({ type, keySize, valueSize, maxEntries, flags, name });
  unlinkSync(path);
  fresh.pin(path);
  fresh.close();
}

/** A running reconciler on fresh maps, programmed once; periodic pin checks off, a 60 s period. */
async function running(t: Test, events: boolean): Promise<{ dir: string; reconciler: DataplaneReconciler }> {
  const dir = freshMaps();
  const opened = openLb4Maps({ dir, ciliumVersion: '1.18' });
  const reconciler = new DataplaneReconciler({
    maps: opened.maps,
    pins: opened.pins,
    ...(events ? { pinEvents: watchPinDirectory(dir) } : {}),
    reopen: () => openLb4Maps({ dir, ciliumVersion: '1.18' }),
    profile: opened.profile,
    logger,
    periodMs: 60_000,
    pinCheckMs: 0,
  });
  t.teardown(() => reconciler.close());
  reconciler.setDesired([web]);
  const first = new Promise<void>((resolve) => reconciler.onPass(() => resolve()));
  reconciler.start();
  await first;
  return { dir, reconciler };
}

const servicesIn = (dir: string): number => {
  const opened = openLb4Maps({ dir, ciliumVersion: '1.18', readOnly: true });
  try {
    return readSnapshot(opened.maps).services.count;
  } finally {
    opened.maps.close();
  }
};

t.test('a re-created services map is found from its pin event and programmed again', async (t) => {
  const { dir, reconciler } = await running(t, true);
  t.equal(reconciler.stats().pinDetection.mode, 'events');
  t.equal(servicesIn(dir), 3, 'master and two slots written');
  const programmed = new Promise<number>((resolve) =>
    reconciler.onPass((r) => r.replaced.length > 0 && r.error === undefined && resolve(performance.now())),
  );
  const at = performance.now();
  recreateServices(dir);
  const found = await Promise.race([programmed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
  t.ok(found !== undefined, 'programmed again well before the 60 s period (5 s allowed)');
  if (found !== undefined) t.comment(`re-programmed ${(found - at).toFixed(1)} ms after the new pin`);
  t.equal(servicesIn(dir), 3, "the new map holds kube-lb's entries");
  t.match(reconciler.stats().lastReplacement?.changes, [{ name: LB4_MAPS.services.name }]);
});

t.test('the control: without pin events the same replacement waits for the period', async (t) => {
  const { dir, reconciler } = await running(t, false);
  t.equal(reconciler.stats().pinDetection.mode, 'polling');
  recreateServices(dir);
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(reconciler.stats().mapReplacements, 0, 'not found within 1 s');
  t.equal(servicesIn(dir), 0, 'the new map stays empty');
});

t.test('a directory that cannot be watched leaves the periodic check, and says so', async (t) => {
  const stopped: string[] = [];
  const off = watchPinDirectory(join(bpffs.dir, 'no-such-directory'))(
    () => t.fail('no event expected'),
    (reason) => stopped.push(reason),
  );
  off();
  t.match(stopped, [/no-such-directory cannot be watched/]);
});
