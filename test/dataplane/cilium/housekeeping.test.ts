// Cilium's prune and an agent restart on the newest line, with a 10 ms client loop on a kube-lb VIP: Cilium
// deletes kube-lb's entries; the kernel write-back puts backends and revNAT back before Cilium's delete returns,
// the addon writes the service entries back as it consumes their events (housekeeping-story.ts). Then, on the
// same lab, IDs (ids-story.ts): held connections keep their backends across a restart of both, and Cilium's
// allocator walking into kube-lb's service ID makes kube-lb move without touching Cilium's entries.
import t, { type Test } from 'tap';
import { NEWEST_CILIUM_LINE } from '../../../lab/cilium-agent.ts';
import { recreateLab } from '../../cilium/recreate-story.ts';
import { pruneRun, restartRun, type HousekeepingFigures } from '../../cilium/housekeeping-story.ts';
import { collisionRun, lateService, restartTogetherRun } from '../../cilium/ids-story.ts';

/** What kube-lb promises for one write-back: measured in single milliseconds; the margin is generous. */
const REPAIR_BOUND_MS = 1000;

const lab = await recreateLab({ label: 'cilium-housekeeping' });
t.teardown(() => lab.down());

function report(t: Test, what: string, f: HousekeepingFigures): void {
  t.comment(
    `${what}: ${f.writtenBack} entries written back before JavaScript saw them, ${f.eventRestored} from events, ${f.passRepaired} by passes, longest event delete-to-rewrite ${f.gapMaxMs.toFixed(1)} ms; ` +
      `client ${f.failedRequests} failed of ${f.okRequests + f.failedRequests}, outages ${JSON.stringify(f.outages)}; maps replaced ${f.mapReplacements} (${f.replacedMaps.join(', ')})`,
  );
}

await t.test(`Cilium ${NEWEST_CILIUM_LINE}: lb/prune`, async (t) => {
  const f = await pruneRun(lab);
  report(t, 'prune', f);
  t.equal(f.detection.mode, 'events', `the speaker follows change events: ${f.detection.reason}`);
  t.ok(
    f.writtenBack > 0,
    "Cilium deleted kube-lb entries, and the write-back put them back: backends and revNAT before Cilium's deletes returned, service entries as the addon consumed their events",
  );
  t.equal(f.eventRestored, 0, 'none was left for the JavaScript event handler');
  t.equal(
    f.passRepaired,
    0,
    'no pass had to repair anything: the write-back and the events dealt with the whole prune',
  );
  t.equal(f.idMoves, 0, 'no ID was given up: the prune only deleted');
  t.ok(
    f.gapMaxMs <= REPAIR_BOUND_MS,
    `any entry written back from its event was back within ${REPAIR_BOUND_MS} ms (longest ${f.gapMaxMs.toFixed(1)} ms)`,
  );
  // The service entries' gap is the addon's wake-up (tens of microseconds when the event loop is free).
  t.ok(f.failedRequests <= 1, `the client loop: ${f.failedRequests} failed`);
});

await t.test(`Cilium ${NEWEST_CILIUM_LINE}: agent restart, speaker running`, async (t) => {
  const f = await restartRun(lab);
  report(t, 'restart', f);
  t.equal(f.detection.mode, 'events');
  // The restarted agent prunes kube-lb's entries (written back on their events) or, some starts, re-creates maps
  // (their pins then name new maps, which a pass programs in full).
  t.ok(
    f.writtenBack + f.eventRestored + f.passRepaired > 0,
    'the restarted agent deleted kube-lb entries, and they came back',
  );
  t.ok(
    f.passRepaired === 0 || f.mapReplacements > 0,
    `passes repaired only what re-created maps lacked (${f.passRepaired} entries, ${f.mapReplacements} maps replaced)`,
  );
  t.ok(f.gapMaxMs <= REPAIR_BOUND_MS, `every entry back within ${REPAIR_BOUND_MS} ms of its delete`);
  t.ok(
    f.outages.every((o) => o.to !== undefined),
    'traffic came back after every outage',
  );
  t.equal(f.idMoves, 0, "no ID was given up: the restarted agent's restore wrote nothing under kube-lb's IDs");
});

// Set up inside the first subtest: tap ends the root test once no subtest is pending.
let late = '';

await t.test(
  `Cilium ${NEWEST_CILIUM_LINE}: kube-lb and Cilium restarted together with flows open, every flow keeps its backend`,
  async (t) => {
    late = await lateService(lab);
    await restartTogetherRun(t, lab, late);
  },
);

await t.test(
  `Cilium ${NEWEST_CILIUM_LINE}: its allocator walks into kube-lb's service ID; kube-lb moves, Cilium's entries are never touched`,
  (t) => collisionRun(t, lab, late),
);
