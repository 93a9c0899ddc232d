import t from 'tap';
import { matchesSelector } from '../../../src/core/labels.ts';

const labels = { zone: 'a', role: 'lb', tier: 'edge' };

t.test('label selectors follow Kubernetes semantics', async (t) => {
  t.ok(matchesSelector(undefined, labels), 'unset selects everything');
  t.ok(matchesSelector({}, labels), 'empty selects everything');
  t.ok(matchesSelector({ matchLabels: { zone: 'a' } }, labels));
  t.notOk(matchesSelector({ matchLabels: { zone: 'b' } }, labels));
  t.notOk(matchesSelector({ matchLabels: { zone: 'a' } }, undefined));
  t.ok(matchesSelector({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, labels));
  t.notOk(matchesSelector({ matchExpressions: [{ key: 'x', operator: 'In', values: ['a'] }] }, labels));
  t.ok(
    matchesSelector({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['a'] }] }, labels),
    'NotIn holds when absent',
  );
  t.notOk(matchesSelector({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels));
  t.ok(matchesSelector({ matchExpressions: [{ key: 'role', operator: 'Exists' }] }, labels));
  t.notOk(matchesSelector({ matchExpressions: [{ key: 'role', operator: 'DoesNotExist' }] }, labels));
  t.notOk(
    matchesSelector(
      { matchLabels: { zone: 'a' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['core'] }] },
      labels,
    ),
    'all terms must hold',
  );
});
