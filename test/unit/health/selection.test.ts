// Which backends get new flows, from readiness and health, including the fail-open rules.
import t from 'tap';
import { combineHealth, selectBackends, type Candidate } from '../../../src/core/health/selection.ts';

const c = (key: string, health: Candidate['health'] = 'healthy', ready = true): Candidate => ({ key, ready, health });

t.test('every ready backend in service is selected', async (t) => {
  const s = selectBackends([c('a'), c('b', 'unknown')], undefined);
  t.same(s.selected, ['a', 'b']);
  t.equal(s.reason, 'AllInService');
  t.equal(s.excluded.size, 0);
});

t.test('unhealthy backends are taken out while another one serves', async (t) => {
  const s = selectBackends([c('a'), c('b', 'unhealthy')], undefined);
  t.same(s.selected, ['a']);
  t.equal(s.reason, 'SomeUnhealthy');
  t.equal(s.excluded.get('b'), 'Unhealthy');
});

t.test('not-ready backends get no new flows; with none ready, the not-ready ones serve', async (t) => {
  const s = selectBackends([c('a'), c('b', 'healthy', false)], undefined);
  t.same(s.selected, ['a']);
  t.equal(s.excluded.get('b'), 'NotReady');
  const none = selectBackends([c('a', 'healthy', false), c('b', 'unhealthy', false)], undefined);
  t.same(none.selected, ['a']);
  t.equal(none.reason, 'NoneReady');
  t.equal(none.excluded.get('b'), 'Unhealthy');
});

t.test('all failing: the last selected set is kept rather than dropping all traffic', async (t) => {
  const before = selectBackends([c('a'), c('b', 'unhealthy')], undefined);
  const after = selectBackends([c('a', 'unhealthy'), c('b', 'unhealthy')], new Set(before.selected));
  t.same(after.selected, ['a']);
  t.equal(after.reason, 'AllUnhealthyKeptLast');
  t.equal(after.excluded.get('b'), 'Unhealthy');
});

t.test('all failing with no usable memory: every ready backend stays (fail open)', async (t) => {
  const s = selectBackends([c('a', 'unhealthy'), c('b', 'unhealthy')], new Set(['gone']));
  t.same(s.selected, ['a', 'b']);
  t.equal(s.reason, 'AllUnhealthyFailOpen');
});

t.test('no backends at all', async (t) => {
  t.equal(selectBackends([], undefined).reason, 'NoBackends');
});

t.test('combined health: any failing target fails the backend; unchecked is unknown', async (t) => {
  t.equal(combineHealth([]), 'unknown');
  t.equal(combineHealth(['healthy', 'unhealthy']), 'unhealthy');
  t.equal(combineHealth(['healthy', 'unknown']), 'unknown');
  t.equal(combineHealth(['healthy', 'healthy']), 'healthy');
});
