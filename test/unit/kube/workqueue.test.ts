import t from 'tap';
import { WorkQueue, done, retry, requeueAfter, type HandlerResult } from '../../../src/kube/workqueue.ts';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('one worker per key; adds while running collapse into one rerun', async (t) => {
  const running = new Set<string>();
  const calls: string[] = [];
  let overlap = false;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new WorkQueue(async (key): Promise<HandlerResult> => {
    if (running.has(key)) overlap = true;
    running.add(key);
    calls.push(key);
    if (calls.length === 1) await gate;
    running.delete(key);
    return done;
  });
  q.add('a');
  await tick();
  q.add('a');
  q.add('a');
  q.add('a');
  release();
  await q.idle();
  await tick();
  await q.idle();
  t.notOk(overlap, 'never two workers on one key');
  t.same(calls, ['a', 'a'], 'three adds while running become one rerun');
});

t.test('retry backs off and done stops', async (t) => {
  let n = 0;
  const q = new WorkQueue(async () => (++n < 3 ? retry('not yet') : done), { baseBackoffMs: 5 });
  q.add('k');
  while (n < 3) await tick(5);
  await q.idle();
  t.equal(n, 3);
  q.stop();
});

t.test('a thrown error is retried and reported', async (t) => {
  let n = 0;
  const errors: unknown[] = [];
  const q = new WorkQueue(
    async () => {
      if (++n === 1) throw new Error('boom');
      return done;
    },
    { baseBackoffMs: 1, onError: (_k, e) => errors.push(e) },
  );
  q.add('k');
  while (n < 2) await tick(2);
  t.equal(errors.length, 1);
  q.stop();
});

t.test('requeueAfter schedules one later run; stop cancels', async (t) => {
  let n = 0;
  const q = new WorkQueue(async () => {
    n++;
    return requeueAfter(10_000);
  });
  q.add('k');
  await q.idle();
  t.equal(n, 1);
  t.equal(q.length, 1, 'the later run is pending');
  q.stop();
  t.equal(q.length, 0);
});
