// Cilium's prune and an agent restart on the newest line, with a 10 ms client loop on a kube-lb VIP: Cilium
// deletes kube-lb's entries, the speaker's change events see each delete and write it back (housekeeping-story.ts).
import t, { type Test } from 'tap';
import { NEWEST_CILIUM_LINE } from '../../support/cilium-agent.ts';
import { recreateLab } from '../../cilium/recreate-story.ts';
import { pruneRun, restartRun, type HousekeepingFigures } from '../../cilium/housekeeping-story.ts';

/** What kube-lb promises for one write-back: measured in single milliseconds; the margin is generous. */
const REPAIR_BOUND_MS = 1000;

const lab = await recreateLab({ label: 'cilium-housekeeping' });
t.teardown(() => lab.down());

function report(t: Test, what: string, f: HousekeepingFigures): void {
  t.comment(
    `${what}: ${f.eventRestored} entries written back from events, ${f.passRepaired} by passes, longest delete-to-rewrite ${f.gapMaxMs.toFixed(1)} ms; ` +
      `client ${f.failedRequests} failed of ${f.okRequests + f.failedRequests}, outages ${JSON.stringify(f.outages)}`,
  );
}

await t.test(`Cilium ${NEWEST_CILIUM_LINE}: lb/prune`, async (t) => {
  const f = await pruneRun(lab);
  report(t, 'prune', f);
  t.equal(f.detection.mode, 'events', `the speaker follows change events: ${f.detection.reason}`);
  t.ok(f.eventRestored > 0, 'Cilium deleted kube-lb entries, and the speaker wrote each back from its event');
  t.equal(f.passRepaired, 0, 'no pass had to repair anything: the events dealt with the whole prune');
  t.ok(f.gapMaxMs <= REPAIR_BOUND_MS, `every entry back within ${REPAIR_BOUND_MS} ms of its delete (longest ${f.gapMaxMs.toFixed(1)} ms)`);
  t.ok(f.failedRequests <= 1, `the client loop: ${f.failedRequests} failed (a SYN can still meet a gap of a millisecond)`);
});

await t.test(`Cilium ${NEWEST_CILIUM_LINE}: agent restart, speaker running`, async (t) => {
  const f = await restartRun(lab);
  report(t, 'restart', f);
  t.equal(f.detection.mode, 'events');
  t.ok(f.eventRestored > 0, 'the restarted agent pruned kube-lb entries, written back from events');
  t.ok(f.gapMaxMs <= REPAIR_BOUND_MS, `every entry back within ${REPAIR_BOUND_MS} ms of its delete`);
  t.ok(f.outages.every((o) => o.to !== undefined), 'traffic came back after every outage');
});
