// One target's life under rise=2, fall=3: presumed in service before the first probe, out after three failures
// in a row, back after two successes in a row; the last failure is remembered.
import t from 'tap';
import {
  inService,
  observe,
  thresholdProblem,
  UNPROBED,
  type ProbeResult,
  type TargetHealth,
} from '../../../src/core/health/state.ts';

const ok: ProbeResult = { ok: true };
const refused: ProbeResult = { ok: false, failure: 'Refused', detail: 'connect ECONNREFUSED 10.0.0.5:30080' };
const th = { rise: 2, fall: 3 };

function run(results: ProbeResult[], from: TargetHealth = UNPROBED): { states: string[]; last: TargetHealth } {
  let h = from;
  const states: string[] = [];
  results.forEach((r, i) => {
    h = observe(h, r, th, 1000 + i).next;
    states.push(h.state);
  });
  return { states, last: h };
}

t.test('an unprobed target is in service; the first success confirms it', async (t) => {
  t.equal(UNPROBED.state, 'unknown');
  t.ok(inService('unknown'));
  const o = observe(UNPROBED, ok, th, 5);
  t.equal(o.next.state, 'healthy');
  t.same(o.transition, { from: 'unknown', to: 'healthy' });
  t.equal(o.next.since, 5);
});

t.test('fall consecutive failures take it out; fewer do not', async (t) => {
  t.same(run([ok, refused, refused, ok, refused, refused]).states, [
    'healthy',
    'healthy',
    'healthy',
    'healthy',
    'healthy',
    'healthy',
  ]);
  const r = run([ok, refused, refused, refused]);
  t.same(r.states, ['healthy', 'healthy', 'healthy', 'unhealthy']);
  t.notOk(inService(r.last.state));
  t.same(r.last.lastFailure, { failure: 'Refused', detail: 'connect ECONNREFUSED 10.0.0.5:30080' });
});

t.test('a target that never answered goes out after fall failures too', async (t) => {
  t.same(run([refused, refused, refused]).states, ['unknown', 'unknown', 'unhealthy']);
});

t.test('rise consecutive successes bring it back; a failure in between restarts the count', async (t) => {
  const down = run([refused, refused, refused]).last;
  t.same(run([ok, refused, ok, ok], down).states, ['unhealthy', 'unhealthy', 'unhealthy', 'healthy']);
  const back = run([ok, ok], down);
  t.equal(back.last.streak, 2);
  t.ok(back.last.lastFailure, 'the last failure is kept after recovery');
});

t.test('no transition is reported while the state holds', async (t) => {
  const h = run([ok]).last;
  t.equal(observe(h, ok, th, 9).transition, undefined);
  t.equal(observe(h, ok, th, 9).next.since, h.since);
});

t.test('thresholds are whole numbers from 1 to 100', async (t) => {
  t.equal(thresholdProblem({ rise: 1, fall: 100 }), undefined);
  t.match(thresholdProblem({ rise: 0, fall: 3 }), /rise threshold 0/);
  t.match(thresholdProblem({ rise: 2, fall: 1.5 }), /fall threshold 1.5/);
});
