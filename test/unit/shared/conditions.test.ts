import t from 'tap';
import { setCondition, conditionUnchanged, findCondition } from '../../../src/core/conditions.ts';

const t0 = new Date('2026-01-01T00:00:00.123Z');
const t1 = new Date('2026-01-01T00:05:00Z');

t.test('lastTransitionTime moves only when the status changes', async (t) => {
  let list = setCondition(
    undefined,
    { type: 'Allocated', status: 'False', reason: 'PoolExhausted', message: 'full' },
    t0,
  );
  t.equal(list[0]!.lastTransitionTime, '2026-01-01T00:00:00Z');
  list = setCondition(list, { type: 'Allocated', status: 'False', reason: 'QuotaExceeded', message: 'quota' }, t1);
  t.equal(list[0]!.lastTransitionTime, '2026-01-01T00:00:00Z', 'same status keeps the time');
  t.equal(list[0]!.reason, 'QuotaExceeded');
  list = setCondition(list, { type: 'Allocated', status: 'True', reason: 'Allocated', message: 'ok' }, t1);
  t.equal(list[0]!.lastTransitionTime, '2026-01-01T00:05:00Z');
  list = setCondition(list, { type: 'Programmed', status: 'Unknown', reason: 'Pending', message: '' }, t1);
  t.equal(list.length, 2);
  t.equal(findCondition(list, 'Programmed')?.status, 'Unknown');
});

t.test('unchanged detection ignores timestamps', async (t) => {
  const list = setCondition([], { type: 'A', status: 'True', reason: 'R', message: 'm', observedGeneration: 2 }, t0);
  t.ok(conditionUnchanged(list, { type: 'A', status: 'True', reason: 'R', message: 'm' }));
  t.notOk(conditionUnchanged(list, { type: 'A', status: 'True', reason: 'R', message: 'm', observedGeneration: 3 }));
  t.notOk(conditionUnchanged(list, { type: 'B', status: 'True', reason: 'R', message: 'm' }));
});
