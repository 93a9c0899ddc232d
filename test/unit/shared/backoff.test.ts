// The backoff helper as a story: a loop fails again and again, the delays double up to the ceiling within
// their jitter band, and a loop that ran healthy long enough starts over.
import t from 'tap';
import { Backoff, WATCH_BACKOFF, backoffDelay, type BackoffPolicy } from '../../../src/shared/backoff.ts';

const policy = (jitter: BackoffPolicy['jitter']): BackoffPolicy => ({
  initialMs: 200,
  maxMs: 30_000,
  jitter,
  resetAfterMs: 60_000,
});

t.test('no jitter: 200 ms doubling, capped at 30 s', async (t) => {
  const delays = Array.from({ length: 10 }, (_, i) => backoffDelay(policy('none'), i + 1));
  t.same(delays, [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000]);
  t.equal(backoffDelay(policy('none'), 5000), 30_000, 'a huge attempt number stays at the cap, not Infinity');
  t.equal(backoffDelay({ initialMs: 100, maxMs: 1000, factor: 3, jitter: 'none' }, 3), 900, 'another factor');
});

t.test('full jitter spans [0, d]; equal jitter spans [d/2, d]', async (t) => {
  t.equal(
    backoffDelay(policy('full'), 4, () => 0),
    0,
  );
  t.equal(
    backoffDelay(policy('full'), 4, () => 0.999999),
    1599,
  );
  t.equal(
    backoffDelay(policy('equal'), 4, () => 0),
    800,
  );
  t.equal(
    backoffDelay(policy('equal'), 4, () => 0.999999),
    1599,
  );
  t.equal(
    backoffDelay(policy('equal'), 5000, () => 0.5),
    22_500,
    'the cap is jittered too, never NaN',
  );
  // Many clients failing together spread out: with the real random source, 1,000 draws of the 6th retry
  // take many distinct values inside the band.
  const draws = Array.from({ length: 1000 }, () => backoffDelay(policy('equal'), 6));
  t.ok(
    draws.every((d) => d >= 3200 && d <= 6400),
    'every draw in [3200, 6400]',
  );
  t.ok(new Set(draws).size > 100, 'draws spread across the band');
});

t.test('a failing loop backs off; a loop healthy for resetAfterMs starts over', async (t) => {
  const b = new Backoff(policy('none'));
  let now = 0;
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    const d = b.fail(now);
    seen.push(d);
    now += d + 1000; // the retry ran a second before failing again
  }
  t.same(seen, [200, 400, 800, 1600], 'failures a second apart keep doubling');
  t.equal(b.attempts, 4);
  now += 60_000; // then it ran a minute without failing
  t.equal(b.fail(now), 200, 'healthy for resetAfterMs: back to the first delay');
  t.equal(b.fail(now + 300), 400, 'and doubling again from there');
  b.reset();
  t.equal(b.attempts, 0);
  t.equal(b.fail(now + 400), 200, 'reset() starts over too');
});

t.test('without resetAfterMs only reset() starts over', async (t) => {
  const b = new Backoff({ initialMs: 10, maxMs: 1000, jitter: 'none' });
  t.equal(b.fail(0), 10);
  t.equal(b.fail(10_000_000), 20);
});

t.test('the watch policy: 200 ms to 30 s with equal jitter', async (t) => {
  const b = new Backoff(WATCH_BACKOFF, () => 0);
  t.equal(b.fail(0), 100);
  t.equal(b.fail(1), 200);
});

t.test('bad input is refused with the values named', async (t) => {
  t.throws(() => new Backoff({ initialMs: 0, maxMs: 10, jitter: 'none' }), /initialMs=0/);
  t.throws(() => new Backoff({ initialMs: 100, maxMs: 10, jitter: 'none' }), /maxMs=10/);
  t.throws(() => new Backoff({ initialMs: 1, maxMs: 10, factor: 0.5, jitter: 'none' }), /factor=0.5/);
  t.throws(() => backoffDelay(policy('none'), 0), /attempt must be an integer >= 1, got 0/);
});
