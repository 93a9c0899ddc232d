// What the allocator writes: its part of claim, pool and tenant status, and who should serve a claim.
import t from 'tap';
import { Allocator } from '../../../src/core/allocation/allocator.ts';
import { approvalOf } from '../../../src/core/allocation/approval.ts';
import {
  claimStatus,
  currentClaimFingerprint,
  isServable,
  poolStatus,
  tenantStatus,
} from '../../../src/core/allocation/status.ts';
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
    vip: '192.0.2.0',
    pool: 'p',
    approved: {
      generation: 1,
      vip: '192.0.2.0',
      ports: c.spec.ports,
      backends: c.spec.backends,
      externalTrafficPolicy: 'Cluster',
    },
    conditions: [
      {
        type: 'Allocated',
        status: 'True',
        reason: 'Allocated',
        message: 'VIP 192.0.2.0 from VIPPool p',
        observedGeneration: 1,
        lastTransitionTime: '2026-05-01T10:00:00Z',
      },
    ],
  });
  const written = { ...c, status: s.status };
  t.equal(currentClaimFingerprint(written), s.fingerprint, 'read back, nothing to write');
  const again = claimStatus(written, a.assign(toClaimRequest(written)), t1);
  t.equal(again.status.conditions[0]!.lastTransitionTime, '2026-05-01T10:00:00Z', 'unchanged status keeps its time');
  const refused = claimStatus(c, { kind: 'refused', reason: 'PoolExhausted', message: 'full' }, t1);
  t.same(refused.status, {
    conditions: [
      {
        type: 'Allocated',
        status: 'False',
        reason: 'PoolExhausted',
        message: 'full',
        observedGeneration: 1,
        lastTransitionTime: '2026-05-01T11:00:00Z',
      },
    ],
  });
  t.not(refused.fingerprint, s.fingerprint);
});

t.test('claim status approves what the speakers may program, in the same write as Allocated', async (t) => {
  const a = new Allocator();
  a.setModel(validate({ pools: [pool('p', ['192.0.2.0/31'])], tenants: [tenant('t1', 't1')] }));
  const c = claim('t1', 'x');
  const s = claimStatus(c, a.assign(toClaimRequest(c)), t0);
  const written: typeof c = JSON.parse(JSON.stringify({ ...c, status: s.status }));
  // Read back from the apiserver, keys come sorted: the fingerprint does not depend on their order.
  const sorted = (o: unknown): unknown =>
    Array.isArray(o)
      ? o.map(sorted)
      : o && typeof o === 'object'
        ? Object.fromEntries(
            Object.entries(o)
              .sort(([x], [y]) => (x < y ? -1 : 1))
              .map(([k, v]) => [k, sorted(v)]),
          )
        : o;
  t.equal(
    currentClaimFingerprint(sorted(written) as typeof c),
    s.fingerprint,
    'read back in another key order, nothing to write',
  );

  // The spec moves on: the approval follows once the allocator decides, with the new generation.
  const edited = {
    ...written,
    metadata: { ...written.metadata, generation: 2 },
    spec: { ...written.spec, backends: [{ nodeName: 'n2', address: '10.10.0.6', ready: true }] },
  };
  const next = claimStatus(edited, a.assign(toClaimRequest(edited)), t1);
  t.same(
    [next.status.approved?.generation, next.status.approved?.backends],
    [2, edited.spec.backends],
    'the new spec approved',
  );
  t.not(next.fingerprint, currentClaimFingerprint(edited), 'an approval behind the spec is written again');

  // Refused while keeping the VIP reserved: the VIP is recorded, with nothing to program.
  const outside = {
    ...edited,
    metadata: { ...edited.metadata, generation: 3 },
    spec: { ...edited.spec, backends: [{ nodeName: 'n3', address: '10.99.0.1', ready: true }] },
  };
  const held = claimStatus(outside, a.assign(toClaimRequest(outside)), t1);
  t.equal(held.status.conditions[0]!.reason, 'NotAllowed');
  t.same(
    held.status.approved,
    { generation: 3, vip: '192.0.2.0', ports: [], backends: [], externalTrafficPolicy: 'Cluster' },
    'the VIP stays recorded, nothing approved to serve',
  );

  // A change the claim asked for that could not be applied keeps it served: its current spec is approved.
  const kept = claimStatus(
    edited,
    { kind: 'held', vip: '192.0.2.0', pool: 'p', reason: 'RequestedIPUnavailable', message: 'm' },
    t1,
  );
  t.same(kept.status.approved?.backends, edited.spec.backends);
  t.notOk(
    claimStatus(c, { kind: 'refused', reason: 'PoolExhausted', message: 'full' }, t1).status.approved,
    'no VIP, no approval',
  );
});

t.test('isServable: an approved VIP and Allocated True, or False for a reason that keeps a valid VIP', async (t) => {
  const cond = (status: 'True' | 'False', reason: string) => [
    { type: 'Allocated', status, reason, message: '', lastTransitionTime: '' },
  ];
  const ok = approvalOf(claim('t1', 'x'), '192.0.2.1', true);
  const rows: Array<[string, Parameters<typeof isServable>[0], boolean]> = [
    ['allocated', { status: { vip: '192.0.2.1', approved: ok, conditions: cond('True', 'Allocated') } }, true],
    [
      'outside a shrunk pool',
      { status: { vip: '192.0.2.1', approved: ok, conditions: cond('False', 'OutsidePool') } },
      true,
    ],
    [
      'a requested move that could not happen',
      { status: { vip: '192.0.2.1', approved: ok, conditions: cond('False', 'RequestedIPUnavailable') } },
      true,
    ],
    [
      'backends outside the tenant',
      { status: { vip: '192.0.2.1', approved: ok, conditions: cond('False', 'NotAllowed') } },
      false,
    ],
    ['tenant gone', { status: { vip: '192.0.2.1', approved: ok, conditions: cond('False', 'UnknownTenant') } }, false],
    [
      'ports clash on a shared VIP',
      { status: { vip: '192.0.2.1', approved: ok, conditions: cond('False', 'SharingConflict') } },
      false,
    ],
    ['no verdict yet', { status: { vip: '192.0.2.1' } }, false],
    [
      'allocated before approvals existed (an upgrade)',
      { status: { vip: '192.0.2.1', conditions: cond('True', 'Allocated') } },
      true,
    ],
    [
      'no approval and no Allocated=True: no record',
      { status: { vip: '192.0.2.1', conditions: cond('False', 'OutsidePool') } },
      false,
    ],
    [
      'a VIP other than the approved one',
      { status: { vip: '192.0.2.9', approved: ok, conditions: cond('True', 'Allocated') } },
      false,
    ],
    ['no VIP', { status: { conditions: cond('False', 'PoolExhausted') } }, false],
  ];
  for (const [what, c, want] of rows) t.equal(isServable(c), want, what);
});

t.test('pool and tenant status', async (t) => {
  const m = validate({
    pools: [
      pool('old', ['192.0.2.0/24'], {}, { created: '2026-01-01T00:00:00Z' }),
      pool('new', ['192.0.2.128/25', '10.0.0.1/8'], {}, { created: '2026-02-01T00:00:00Z' }),
    ],
    tenants: [tenant('t1', 't1')],
  });
  const ready = (p: string) =>
    poolStatus(m.pools.get(p)!, 3, undefined, t0).status.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
  t.same(ready('old'), ['Ready=True/Ready', 'Valid=True/Valid', 'Overlap=True/PoolOverlap']);
  t.same(ready('new'), ['Ready=False/Overlap', 'Valid=False/InvalidAddress', 'Overlap=True/PoolOverlap']);
  const s = poolStatus(m.pools.get('old')!, 3, undefined, t0).status;
  t.same([s.capacity, s.allocated, s.observedGeneration], [256, 3, 1]);
  const ts = tenantStatus(m.tenants.get('t1')!, 5, 2, undefined, t0).status;
  t.same([ts.claims, ts.vips, ts.conditions[0]!.reason], [5, 2, 'Ready']);
});
