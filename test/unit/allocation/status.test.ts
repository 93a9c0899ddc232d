// What the allocator writes: its part of claim, pool and tenant status, and who should serve a claim.
import t from 'tap';
import { Allocator } from '../../../src/core/allocation/allocator.ts';
import { claimStatus, currentClaimFingerprint, isServable, poolStatus, tenantStatus } from '../../../src/core/allocation/status.ts';
import { toClaimRequest, validate } from '../../../src/core/allocation/validate.ts';
import { claim, pool, tenant } from '../../support/allocation-fixtures.ts';

const t0 = new Date('2026-05-01T10:00:00Z');
const t1 = new Date('2026-05-01T11:00:00Z');

t.test('claim status: fields, condition, fingerprint, transition time', async (t) => {
  const a = new Allocator();
  a.setModel(validate({ pools: [pool('p', ['192.0.2.0/31'])], tenants: [tenant('t1', 't1')] }));
  const c = claim('t1', 'x');
  const d = a.assign(toClaimRequest(c));
  const s = claimStatus(c, d, t0);
  t.same(s.status, {
    vip: '192.0.2.0', pool: 'p',
    conditions: [{ type: 'Allocated', status: 'True', reason: 'Allocated', message: 'VIP 192.0.2.0 from VIPPool p', observedGeneration: 1, lastTransitionTime: '2026-05-01T10:00:00Z' }],
  });
  const written = { ...c, status: s.status };
  t.equal(currentClaimFingerprint(written), s.fingerprint, 'read back, nothing to write');
  const again = claimStatus(written, a.assign(toClaimRequest(written)), t1);
  t.equal(again.status.conditions[0]!.lastTransitionTime, '2026-05-01T10:00:00Z', 'unchanged status keeps its time');
  const refused = claimStatus(c, { kind: 'refused', reason: 'PoolExhausted', message: 'full' }, t1);
  t.same(refused.status, { conditions: [{ type: 'Allocated', status: 'False', reason: 'PoolExhausted', message: 'full', observedGeneration: 1, lastTransitionTime: '2026-05-01T11:00:00Z' }] });
  t.not(refused.fingerprint, s.fingerprint);
});

t.test('isServable: a VIP and Allocated True, or False for a reason that keeps a valid VIP', async (t) => {
  const cond = (status: 'True' | 'False', reason: string) => [{ type: 'Allocated', status, reason, message: '', lastTransitionTime: '' }];
  const rows: Array<[string, Parameters<typeof isServable>[0], boolean]> = [
    ['allocated', { status: { vip: '192.0.2.1', conditions: cond('True', 'Allocated') } }, true],
    ['outside a shrunk pool', { status: { vip: '192.0.2.1', conditions: cond('False', 'OutsidePool') } }, true],
    ['a requested move that could not happen', { status: { vip: '192.0.2.1', conditions: cond('False', 'RequestedIPUnavailable') } }, true],
    ['backends outside the tenant', { status: { vip: '192.0.2.1', conditions: cond('False', 'NotAllowed') } }, false],
    ['tenant gone', { status: { vip: '192.0.2.1', conditions: cond('False', 'UnknownTenant') } }, false],
    ['ports clash on a shared VIP', { status: { vip: '192.0.2.1', conditions: cond('False', 'SharingConflict') } }, false],
    ['no verdict yet', { status: { vip: '192.0.2.1' } }, false],
    ['no VIP', { status: { conditions: cond('False', 'PoolExhausted') } }, false],
  ];
  for (const [what, c, want] of rows) t.equal(isServable(c), want, what);
});

t.test('pool and tenant status', async (t) => {
  const m = validate({
    pools: [pool('old', ['192.0.2.0/24'], {}, { created: '2026-01-01T00:00:00Z' }), pool('new', ['192.0.2.128/25', '10.0.0.1/8'], {}, { created: '2026-02-01T00:00:00Z' })],
    tenants: [tenant('t1', 't1')],
  });
  const ready = (p: string) => poolStatus(m.pools.get(p)!, 3, undefined, t0).status.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
  t.same(ready('old'), ['Ready=True/Ready', 'Valid=True/Valid', 'Overlap=True/PoolOverlap']);
  t.same(ready('new'), ['Ready=False/Overlap', 'Valid=False/InvalidAddress', 'Overlap=True/PoolOverlap']);
  const s = poolStatus(m.pools.get('old')!, 3, undefined, t0).status;
  t.same([s.capacity, s.allocated, s.observedGeneration], [256, 3, 1]);
  const ts = tenantStatus(m.tenants.get('t1')!, 5, 2, undefined, t0).status;
  t.same([ts.claims, ts.vips, ts.conditions[0]!.reason], [5, 2, 'Ready']);
});
