// Events behind the status path: a few in flight, Warnings first, Normal ones dropped beyond the backlog.
import t from 'tap';
import { PacedEvents } from '../../../src/kube/paced-events.ts';
import type { EventRecorder } from '../../../src/kube/events.ts';

t.test('order, concurrency and dropping', async (t) => {
  const written: string[] = [];
  const gates: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const recorder: EventRecorder = {
    record: (_target, type, reason) =>
      new Promise<void>((resolve) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        gates.push(() => {
          inFlight--;
          written.push(`${type}:${reason}`);
          resolve();
        });
      }),
  };
  let dropped = 0;
  const paced = new PacedEvents({ recorder, concurrency: 2, maxBacklog: 3, onDropped: () => dropped++ });
  const target = { apiVersion: 'v1', kind: 'X', name: 'x' };
  for (const r of ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']) await paced.record(target, 'Normal', r, '');
  await paced.record(target, 'Warning', 'w1', '');
  t.equal(dropped, 1, 'the sixth Normal finds the backlog full (2 in flight, 3 waiting)');
  t.equal(paced.backlog, 4, 'a Warning is kept even then');
  while (gates.length > 0) {
    gates.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  t.same(written, ['Normal:n1', 'Normal:n2', 'Warning:w1', 'Normal:n3', 'Normal:n4', 'Normal:n5']);
  t.equal(maxInFlight, 2);
});

t.test('Normal Events wait while the program is busy, at most maxDelayMs; Warnings never wait', async (t) => {
  const written: string[] = [];
  const recorder: EventRecorder = {
    record: async (_target, type, reason) => {
      written.push(`${type}:${reason}`);
    },
  };
  let busy = true;
  let now = 0;
  const paced = new PacedEvents({
    recorder,
    concurrency: 2,
    maxBacklog: 10,
    busy: () => busy,
    maxDelayMs: 1000,
    now: () => now,
  });
  const target = { apiVersion: 'v1', kind: 'X', name: 'x' };
  const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await paced.record(target, 'Normal', 'n1', '');
  await paced.record(target, 'Warning', 'w1', '');
  await settle(20);
  t.same(written, ['Warning:w1'], 'busy: the Warning goes, the Normal one waits');
  now = 500;
  await settle(250);
  t.same(written, ['Warning:w1'], 'still busy and not yet maxDelayMs: it still waits');
  busy = false;
  await settle(250);
  t.same(written, ['Warning:w1', 'Normal:n1'], 'idle: it goes');
  busy = true;
  await paced.record(target, 'Normal', 'n2', '');
  now = 1600;
  await settle(250);
  t.same(written, ['Warning:w1', 'Normal:n1', 'Normal:n2'], 'busy for longer than maxDelayMs: it goes anyway');
});
