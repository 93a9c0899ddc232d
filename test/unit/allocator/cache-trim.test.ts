// What the allocator keeps of a claim: everything its decisions, the webhook and the inventory metrics read,
// nothing of server-side apply's bookkeeping or the speakers' per-node reports.
import t from 'tap';
import type { VIPClaim } from '../../../src/api/v1alpha1.ts';
import { trimClaim } from '../../../src/allocator/cache-trim.ts';
import { LAST_APPLIED, stripManagedFields } from '../../../src/kube/trim.ts';
import { claim } from '../../support/allocation-fixtures.ts';

const wire = (): VIPClaim => {
  const c = claim('t0', 'a', { vip: '198.51.100.7', statusPool: 'p' });
  c.metadata = {
    ...c.metadata,
    resourceVersion: '42',
    labels: { app: 'x' },
    annotations: { [LAST_APPLIED]: '{"copy":true}', note: 'kept' },
    managedFields: [
      { manager: 'kube-lb-agent', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } },
    ],
  } as VIPClaim['metadata'];
  c.status = {
    ...c.status,
    conditions: [
      {
        type: 'Allocated',
        status: 'True',
        reason: 'Allocated',
        message: 'm',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
      {
        type: 'Programmed',
        status: 'True',
        reason: 'Programmed',
        message: 'n1',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
    programmedNodes: ['n1', 'n2'],
    announcedBy: 'n1',
    backendHealth: [{ address: '10.10.0.5', healthy: true }],
  } as VIPClaim['status'];
  return JSON.parse(JSON.stringify(c)) as VIPClaim;
};

t.test('a claim keeps its spec, identity, VIP and every condition', async (t) => {
  const c = trimClaim(wire());
  const before = wire();
  t.same(c.spec, before.spec, 'spec untouched');
  t.same(c.metadata, {
    name: 'a',
    namespace: 't0',
    uid: before.metadata.uid,
    creationTimestamp: before.metadata.creationTimestamp,
    generation: 1,
    resourceVersion: '42',
    labels: { app: 'x' },
    annotations: { note: 'kept' },
  });
  t.same(
    c.status,
    { vip: '198.51.100.7', pool: 'p', approved: before.status!.approved, conditions: before.status!.conditions },
    "speakers' reports dropped, approval and conditions of every type kept",
  );
});

t.test(
  "a current approval costs nothing: it points at the spec's own lists; one behind the spec keeps its copy",
  async (t) => {
    const current = trimClaim(wire());
    t.equal(current.status!.approved!.backends, current.spec.backends, "the spec's backends, not a copy");
    t.equal(current.status!.approved!.ports, current.spec.ports);
    const ahead = wire();
    ahead.spec.backends = [{ nodeName: 'n9', address: '10.10.0.9', ready: true }];
    const kept = trimClaim(ahead);
    t.not(kept.status!.approved!.backends, kept.spec.backends);
    t.same(kept.status!.approved!.backends, wire().spec.backends, 'the approved copy stays as it was');
  },
);

t.test('managedFields and last-applied go; an object without them is returned as it is', async (t) => {
  const only = stripManagedFields({ metadata: { name: 'x', annotations: { [LAST_APPLIED]: '{}' } } });
  t.same(only.metadata, { name: 'x' }, 'an annotations map left empty goes too');
  const plain = { metadata: { name: 'y', annotations: { a: 'b' } } };
  const meta = plain.metadata;
  t.equal(stripManagedFields(plain).metadata, meta, 'nothing to trim: the same metadata object');
  t.same(stripManagedFields({ metadata: undefined }), { metadata: undefined }, 'no metadata at all');
  const noStatus = claim('t0', 'b');
  t.equal(trimClaim(noStatus).status, undefined, 'a claim without status stays without');
});
