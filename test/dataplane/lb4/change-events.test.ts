// Change events on the real kernel: another process deletes or overwrites kube-lb's entries (Cilium's prune, an
// operator's bpftool) and kube-lb writes exactly those back within milliseconds, without waiting for a pass.
// The reconcile and verify periods are set to a minute here, so only the events can repair within the bound.
// Without the tracing program (it cannot load), the reconciler says so and repairs on its polling period.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { hex } from '../../../src/core/lb4/bytes.ts';
import { LB4_MAPS } from '../../../src/core/lb4/maps.ts';
import { BpfMap } from '../../../src/native/bpf.ts';
import { openChangeFeed } from '../../../src/speaker/dataplane/change-feed.ts';
import { waitFor } from '../../datapath/lab.ts';
import { pruneFromAnotherProcess } from '../../support/lb4-pruner.ts';
import { labFor, rawDump, reconcilerFor, VIP, violations, web } from './helpers.ts';

/** What kube-lb promises: a deleted entry is back within this long (measured: a few ms; the margin is generous). */
const EVENT_REPAIR_BOUND_MS = 1000;
const MINUTE = 60_000;

/** The nice value of each thread of this process (field 19 of /proc/self/task/TID/stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

/** Resolves with the ms from `sinceNs` (CLOCK_MONOTONIC) until the maps dump as `expected`. */
async function restoredAfter(dir: string, expected: string[], sinceNs: bigint, limitMs: number): Promise<number> {
  for (;;) {
    const elapsed = Number(process.hrtime.bigint() - sinceNs) / 1e6;
    if (JSON.stringify(rawDump(dir)) === JSON.stringify(expected)) return elapsed;
    if (elapsed > limitMs) return elapsed;
    await sleep(1);
  }
}

for (const writeBack of [true, false]) {
  const how = writeBack
    ? 'by the write-back (kernel: backends, revNAT; addon: services)'
    : 'from change events, within the bound';
  t.test(`a prune by another process is written back ${how}`, async (t) => {
    const lab = await labFor(t, writeBack ? 'evkwb' : 'events', { version: '1.18' });
    const { reconciler, opened } = reconcilerFor(t, lab, MINUTE, openChangeFeed({ writeBack }));
    reconciler.setDesired([web(lab)]);
    reconciler.start();
    await waitFor('first pass', async () => reconciler.stats().passes > 0);
    t.equal(reconciler.stats().detection.mode, 'events', `detection: ${reconciler.stats().detection.reason}`);
    t.match(reconciler.stats().detection.reason, /their consumer thread runs at nice -10$/, 'the reason says so');
    t.same(
      threadNices().filter((n) => n !== 0),
      [-10],
      'one thread of this process (the consumer) at nice -10, the others at 0',
    );
    const programmed = rawDump(lab.mapDir);
    await lab.startLoop('tcp', VIP, 80, 10);
    await waitFor('the client loop to run', async () => (await lab.loop()).ok >= 10);

    for (let round = 1; round <= 3; round++) {
      const before = reconciler.stats();
      const loopBefore = await lab.loop();
      const pruned = await pruneFromAnotherProcess({ dir: lab.mapDir });
      const deleted = Object.values(pruned.deleted).reduce((a, b) => a + b, 0);
      t.equal(deleted, 6, `round ${round}: the pruner deleted the master, 2 slots, 2 backends and the revNAT entry`);
      if (writeBack) {
        // Backends and revNAT are back before each delete returned; the services map is read-only to programs.
        const notServices = (lines: string[]): string[] => lines.filter((l) => !l.startsWith(LB4_MAPS.services.name));
        t.same(
          notServices(rawDump(lab.mapDir)),
          notServices(programmed),
          `round ${round}: backends and revNAT as programmed the moment the pruner has exited`,
        );
      }
      const ms = await restoredAfter(lab.mapDir, programmed, pruned.endNs, 10_000);
      t.ok(
        ms <= EVENT_REPAIR_BOUND_MS,
        `round ${round}: all back ${ms.toFixed(1)} ms after the pruner's last delete (bound ${EVENT_REPAIR_BOUND_MS} ms)`,
      );
      const restored = (): number => {
        const s = reconciler.stats();
        return s.eventRestoredEntries + s.writtenBackEntries - before.eventRestoredEntries - before.writtenBackEntries;
      };
      await waitFor('the counters', async () => restored() >= deleted);
      const after = reconciler.stats();
      t.equal(
        after.passes - before.passes <= 1,
        true,
        'written back without pass after pass (at most one pass to confirm)',
      );
      const early = after.writtenBackEntries - before.writtenBackEntries;
      t.equal(
        early,
        writeBack ? deleted : 0,
        writeBack
          ? 'all written back before JavaScript saw the events (kernel: backends, revNAT; addon: services)'
          : 'no write-back',
      );
      t.equal(
        after.eventRestoredEntries - before.eventRestoredEntries,
        deleted - early,
        'the JavaScript handler wrote back the rest',
      );
      t.equal(restored(), deleted, 'each deleted entry written back once, and by nothing else');
      const loop = await lab.loop();
      t.comment(
        `round ${round}: client loop ${loop.ok - loopBefore.ok} ok, ${loop.fail - loopBefore.fail} failed over the prune`,
      );
    }
    if (writeBack) {
      const addon = reconciler.stats().addonWriteBacks!;
      t.equal(addon.count, 9, 'the addon wrote back the 3 service entries of each round, and counted them');
      t.ok(addon.maxMs > 0 && addon.maxMs < EVENT_REPAIR_BOUND_MS, `its longest gap ${addon.maxMs.toFixed(3)} ms`);
    }
    t.same(violations(opened), []);
    const loop = await lab.stopLoop();
    t.ok(loop.ok > 0, 'traffic flowed');
  });
}

t.test(
  'following the same maps again keeps the write-back armed: a prune right after is answered by the kernel',
  async (t) => {
    // What a re-open for a map the write-back does not cover does (the maglev map a restarted 1.20 agent re-creates
    // in random mode): the reconciler follows the maps again and only fills the mirrors after its next pass. An agent
    // that has just restarted prunes right then; a fresh program with empty mirrors would leave that to JavaScript.
    const lab = await labFor(t, 'evrefollow', { version: '1.18' });
    const feed = openChangeFeed({ writeBack: true });
    const { reconciler, opened } = reconcilerFor(t, lab, MINUTE, feed);
    reconciler.setDesired([web(lab)]);
    reconciler.start();
    await waitFor('first pass', async () => reconciler.stats().passes > 0);
    const programmed = rawDump(lab.mapDir);
    const before = reconciler.stats();
    feed.follow(opened.maps);
    const pruned = await pruneFromAnotherProcess({ dir: lab.mapDir });
    const deleted = Object.values(pruned.deleted).reduce((a, b) => a + b, 0);
    t.equal(deleted, 6, 'the pruner deleted the master, 2 slots, 2 backends and the revNAT entry');
    t.ok(
      (await restoredAfter(lab.mapDir, programmed, pruned.endNs, 10_000)) <= EVENT_REPAIR_BOUND_MS,
      'all back within the bound',
    );
    const restored = (): number => {
      const s = reconciler.stats();
      return s.eventRestoredEntries + s.writtenBackEntries - before.eventRestoredEntries - before.writtenBackEntries;
    };
    await waitFor('the counters', async () => restored() >= deleted);
    t.equal(
      reconciler.stats().writtenBackEntries - before.writtenBackEntries,
      deleted,
      'all written back by the kernel and the addon, with no pass in between to fill a new program',
    );
  },
);

t.test(
  'an ID another process writes under is given up at once, its entry left alone; entries kube-lb deletes itself are not reported back',
  async (t) => {
    const lab = await labFor(t, 'evupd', { version: '1.18' });
    const { reconciler } = reconcilerFor(t, lab, MINUTE, openChangeFeed());
    reconciler.setDesired([web(lab)]);
    reconciler.start();
    await waitFor('first pass', async () => reconciler.stats().passes > 0);

    // bpftool, another process, writes another backend under kube-lb's first backend ID (as Cilium's allocator
    // does when it reaches kube-lb's IDs).
    const path = join(lab.mapDir, LB4_MAPS.backends.name);
    const map = BpfMap.open(path, { readOnly: true });
    const d = map.dump();
    map.close();
    const key = d.keys.subarray(0, d.keySize);
    const ours = hex(d.values.subarray(0, d.valueSize));
    const value = Uint8Array.from(d.values.subarray(0, d.valueSize));
    value[4] = value[4]! ^ 0xff; // first byte of the port
    const theirs = `${LB4_MAPS.backends.name} ${hex(key)} => ${hex(value)}`;
    const at = process.hrtime.bigint();
    execFileSync('bpftool', [
      'map',
      'update',
      'pinned',
      path,
      'key',
      'hex',
      ...hex(key).split(' '),
      'value',
      'hex',
      ...hex(value).split(' '),
    ]);
    let ms = 0;
    for (;;) {
      ms = Number(process.hrtime.bigint() - at) / 1e6;
      const backends = rawDump(lab.mapDir).filter((l) => l.startsWith(LB4_MAPS.backends.name));
      if (
        reconciler.stats().idMoves.backendIds === 1 &&
        backends.some((l) => l.endsWith(`=> ${ours}`)) &&
        reconciler.stats().lastPass?.error === undefined
      )
        break;
      if (ms > 10_000) break;
      await sleep(1);
    }
    t.ok(
      ms <= EVENT_REPAIR_BOUND_MS,
      `kube-lb's backend is back under a new ID ${ms.toFixed(1)} ms after bpftool started (bound ${EVENT_REPAIR_BOUND_MS} ms)`,
    );
    t.ok(rawDump(lab.mapDir).includes(theirs), "the other writer's entry is left exactly as written");
    t.same(
      reconciler.stats().contestedIds.backendIds,
      [new DataView(key.buffer, key.byteOffset).getUint32(0, true)],
      'the ID is held off',
    );

    // kube-lb's own writes are counted but never come back as events to act on.
    const before = reconciler.stats();
    reconciler.setDesired([]);
    reconciler.reconcileOnce();
    await sleep(50);
    t.equal(reconciler.stats().eventRestoredEntries, before.eventRestoredEntries, 'its own deletes restored nothing');
    t.equal(reconciler.stats().writtenBackEntries, before.writtenBackEntries, 'nor did the write-back');
    t.same(
      rawDump(lab.mapDir).filter((l) => !l.startsWith('cilium_lb4_maglev')),
      [theirs],
      "only the other writer's entry is left",
    );

    // A key that was kube-lb's, deleted by someone else once kube-lb let it go, stays deleted: the write-back's
    // mirror follows the plan.
    execFileSync('bpftool', ['map', 'delete', 'pinned', path, 'key', 'hex', ...hex(key).split(' ')]);
    await sleep(50);
    t.same(
      rawDump(lab.mapDir).filter((l) => l.startsWith(LB4_MAPS.backends.name)),
      [],
      "no longer kube-lb's: not written back",
    );
    t.equal(reconciler.stats().writtenBackEntries, before.writtenBackEntries);
  },
);

t.test('without the tracing program the reconciler says so and repairs on its polling period', async (t) => {
  const lab = await labFor(t, 'evpoll', { version: '1.18' });
  const feed = openChangeFeed({ objectPath: join(tmpdir(), `kube-lb-${process.pid}-no-such-object.bpf.o`) });
  const periodMs = 200;
  const { reconciler } = reconcilerFor(t, lab, periodMs, feed);
  reconciler.setDesired([web(lab)]);
  reconciler.start();
  await waitFor('first pass', async () => reconciler.stats().passes > 0);
  const { detection } = reconciler.stats();
  t.equal(detection.mode, 'polling');
  t.match(
    detection.reason,
    /no-such-object\.bpf\.o.*No such file/s,
    `the reason names what failed: ${detection.reason}`,
  );
  const programmed = rawDump(lab.mapDir);
  const pruned = await pruneFromAnotherProcess({ dir: lab.mapDir });
  const ms = await restoredAfter(lab.mapDir, programmed, pruned.endNs, 10_000);
  t.ok(
    ms <= periodMs + EVENT_REPAIR_BOUND_MS,
    `repaired by a pass ${ms.toFixed(1)} ms after the prune (period ${periodMs} ms)`,
  );
  t.equal(reconciler.stats().eventRestoredEntries, 0, 'nothing came from events');
});

t.test('without CAP_SYS_NICE the consumer thread stays at nice 0 and says why', async (t) => {
  // The same watch in a process whose capability sets lack CAP_SYS_NICE (setpriv drops it).
  const script = `import { MapWatch } from ${JSON.stringify(join(import.meta.dirname, '../../../src/native/map-watch.ts'))};
const w = MapWatch.open();
console.log(JSON.stringify(w.consumerPriority()));
w.close();`;
  const node = [process.execPath, '--input-type=module', '-e', script];
  const run = (command: readonly string[]): unknown =>
    JSON.parse(execFileSync(command[0]!, command.slice(1), { encoding: 'utf8' }));
  t.same(run(node), { nice: -10 }, 'with it: nice -10');
  t.same(
    run(['setpriv', '--bounding-set', '-sys_nice', '--inh-caps', '-sys_nice', '--', ...node]),
    { nice: 0, refused: 'setpriority: EACCES' },
    'without it: nice 0, and the refusal named',
  );
});
