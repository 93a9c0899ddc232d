// The agent's decision for one Service, told as a story: each step feeds the plan what the caches would hold
// after the previous step's writes.
import t from 'tap';
import type { VIPClaim } from '../../../src/api/v1alpha1.ts';
import { planService, claimDigest, type PlanInput } from '../../../src/core/agent/plan.ts';
import { FINALIZER } from '../../../src/core/agent/naming.ts';
import { SERVICE_CONDITIONS } from '../../../src/core/agent/status.ts';
import type { ServiceView } from '../../../src/core/agent/views.ts';
import { allocated, current, identity, node, now, refused, service } from './fixtures.ts';

const nodes = [node('n1', '10.0.0.1'), node('n2', '10.0.0.2')];

function input(svc: ServiceView | undefined, claims: VIPClaim[] = [], over: Partial<PlanInput> = {}): PlanInput {
  return {
    namespace: 'shop',
    name: 'web',
    service: svc,
    claims,
    nodes,
    slices: [],
    identity,
    cluster: current,
    now,
    ...over,
  };
}

const withFinalizer = (svc: ServiceView): ServiceView => ({
  ...svc,
  metadata: { ...svc.metadata, finalizers: [FINALIZER] },
});

t.test('life of a Service', async (t) => {
  // 1. Created: finalizer first, then the claim; no status write yet (nothing to say).
  const svc = service();
  const p1 = planService(input(svc));
  t.equal(p1.reason, 'Create');
  t.ok(p1.addFinalizer, 'finalizer before the claim, so a deletion cannot leak it');
  t.equal(p1.write.op, 'create');
  t.equal(p1.status, undefined, 'ClaimSynced=True alone is not worth a status write');
  t.same(
    p1.events.map((e) => e.reason),
    ['ClaimCreated'],
  );
  if (p1.write.op !== 'create') return t.fail('expected create');
  const claim = p1.write.claim;

  // 2. The claim exists, no verdict yet: nothing to write.
  const svc2 = withFinalizer(svc);
  const p2 = planService(input(svc2, [{ ...claim, metadata: { ...claim.metadata, resourceVersion: '5' } }]));
  t.equal(p2.reason, 'InSync');
  t.same([p2.addFinalizer, p2.write.op, p2.status, p2.events], [false, 'none', undefined, []], 'no write of any kind');

  // 3. Allocated: the IP comes back with ipMode Proxy, the conditions mirrored, one Event.
  const p3 = planService(input(svc2, [allocated(claim, '192.0.2.10')]));
  t.same(p3.status?.loadBalancer?.ingress, [{ ip: '192.0.2.10', ipMode: 'Proxy' }]);
  t.same(
    p3.status?.conditions?.map((c) => [c.type, c.status, c.reason]),
    [
      [SERVICE_CONDITIONS.Allocated, 'True', 'Allocated'],
      [SERVICE_CONDITIONS.ClaimSynced, 'True', 'Synced'],
    ],
  );
  t.same(p3.events, [{ type: 'Normal', reason: 'Allocated', message: 'Allocated VIP 192.0.2.10: from pool default' }]);
  const svc3: ServiceView = { ...svc2, status: p3.status! };

  // 4. Same again: in sync, no writes.
  const p4 = planService(input(svc3, [allocated(claim, '192.0.2.10')]));
  t.same([p4.write.op, p4.status, p4.events], ['none', undefined, []]);

  // 5. Ports change: the claim's spec is patched (a JSON Patch, so the allocator's status writes cannot make it
  //    conflict), the status untouched.
  const svc5: ServiceView = {
    ...svc3,
    spec: { ...svc3.spec, ports: [...svc3.spec!.ports!, { name: 'dns', protocol: 'UDP', port: 53, nodePort: 30053 }] },
  };
  const p5 = planService(input(svc5, [allocated(claim, '192.0.2.10')]));
  t.equal(p5.reason, 'Update');
  if (p5.write.op !== 'patch') return t.fail('expected patch');
  t.same(p5.write.changed, ['ports']);
  t.same(
    p5.write.patch.map((o) => [o.op, o.path]),
    [['replace', '/spec']],
    'labels already right: only the spec',
  );
  t.equal((p5.write.patch[0]!.value as VIPClaim['spec']).ports.length, 2);
  t.equal(p5.status, undefined);
  const relabel = planService(
    input(svc5, [
      {
        ...allocated(claim, '192.0.2.10'),
        metadata: { ...claim.metadata, labels: { 'kube-lb.io/cluster': 'c1', other: 'x' } },
      },
    ]),
  );
  t.same(
    relabel.write.op === 'patch' && relabel.write.patch.slice(1).map((o) => o.path),
    ['/metadata/labels/kube-lb.io~1service-namespace', '/metadata/labels/kube-lb.io~1service-name'],
    "missing labels added one by one, others' kept",
  );

  // 6. A node joins: only the backends change.
  const p6 = planService(input(svc3, [allocated(claim, '192.0.2.10')], { nodes: [...nodes, node('n3', '10.0.0.3')] }));
  t.same(p6.write.op === 'patch' && p6.write.changed, ['backends']);

  // 7. The LB cluster is unreachable: the cache still holds the last claim, so the status stays as it is.
  const p7 = planService(input(svc3, [allocated(claim, '192.0.2.10')]));
  t.equal(p7.status, undefined, 'no status write, the IP is kept');

  // 8. Deleted: release the claim, then the finalizer; never touch the status of a dying Service.
  const dying: ServiceView = { ...svc3, metadata: { ...svc3.metadata, deletionTimestamp: '2025-06-01T12:01:00Z' } };
  const p8 = planService(input(dying, [allocated(claim, '192.0.2.10')]));
  t.equal(p8.reason, 'Deleting');
  t.same(p8.deleteClaims, ['shop.web']);
  t.ok(p8.removeFinalizer);
  t.equal(p8.status, undefined);
  t.same(
    p8.events.map((e) => e.message),
    ['VIPClaim tenant-c1/shop.web deleted, VIP 192.0.2.10 released'],
  );

  // 9. Deleted while the claim is not in the cache (yet): still delete it by name before letting go.
  const p9 = planService(input(dying, []));
  t.same([p9.deleteClaims, p9.removeFinalizer], [['shop.web'], true]);
});

t.test('the allocator refuses: the IP is cleared, a Warning carries its reason', async (t) => {
  const p = planService(input(withFinalizer(service()), []));
  const claim = p.write.op === 'create' ? p.write.claim : undefined;
  if (!claim) return t.fail('no claim');
  const svc: ServiceView = {
    ...withFinalizer(service()),
    status: { loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'Proxy' }] }, conditions: [] },
  };
  const r = planService(input(svc, [refused(claim, 'PoolExhausted', 'pool default has no free address')]));
  t.same(r.status?.loadBalancer?.ingress, []);
  t.same(r.events, [
    { type: 'Warning', reason: 'PoolExhausted', message: 'Allocated False: pool default has no free address' },
  ]);
});

t.test('the agent refuses a Service it cannot express', async (t) => {
  const svc = withFinalizer(service({ spec: { ports: [{ protocol: 'TCP', port: 80 }] } }));
  const p = planService(input(svc));
  t.equal(p.reason, 'Refused');
  t.equal(p.write.op, 'none');
  t.same(
    p.status?.conditions?.map((c) => [c.type, c.status, c.reason]),
    [[SERVICE_CONDITIONS.ClaimSynced, 'False', 'NodePortMissing']],
  );
  t.same(
    p.events.map((e) => [e.type, e.reason]),
    [['Warning', 'NodePortMissing']],
  );
  const again = planService(input({ ...svc, status: p.status! }));
  t.same([again.status, again.events], [undefined, []], 'a standing refusal is not repeated');
});

t.test('a claim the LB API rejected is not resent until the rejection expires', async (t) => {
  const svc = withFinalizer(service());
  const first = planService(input(svc));
  if (first.write.op !== 'create') return t.fail('expected create');
  const rejection = { digest: claimDigest(first.write.claim), message: 'backend 10.0.0.1 outside allowedBackendCIDRs' };
  const p = planService(input(svc, [], { rejection }));
  t.equal(p.reason, 'Rejected');
  t.equal(p.write.op, 'none');
  t.same(
    p.events.map((e) => [e.type, e.reason, e.message]),
    [['Warning', 'ClaimRejected', rejection.message]],
  );
  const changed = planService(input(svc, [], { rejection, nodes: [node('n9', '10.9.0.1')] }));
  t.equal(changed.write.op, 'create', 'a different claim is tried at once');
});

t.test('class or type changes away from kube-lb: claim deleted, status cleaned, finalizer removed', async (t) => {
  const base = withFinalizer(service());
  const first = planService(input(base));
  if (first.write.op !== 'create') return t.fail('expected create');
  const claim = allocated(first.write.claim, '192.0.2.10');
  const svc: ServiceView = {
    ...base,
    spec: { ...base.spec, type: 'ClusterIP' },
    status: {
      loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'Proxy' }] },
      conditions: [
        {
          type: SERVICE_CONDITIONS.Allocated,
          status: 'True',
          reason: 'Allocated',
          message: '',
          lastTransitionTime: '2025-01-01T00:00:00Z',
        },
        {
          type: 'example.com/Other',
          status: 'True',
          reason: 'Fine',
          message: '',
          lastTransitionTime: '2025-01-01T00:00:00Z',
        },
      ],
    },
  };
  const p = planService(input(svc, [claim]));
  t.equal(p.reason, 'Released');
  t.same(p.deleteClaims, ['shop.web']);
  t.same(p.status?.loadBalancer?.ingress, []);
  t.same(
    p.status?.conditions?.map((c) => c.type),
    ['example.com/Other'],
    "others' conditions are kept",
  );
  t.ok(p.removeFinalizer);
  t.same(
    planService(input(service({ spec: { loadBalancerClass: 'other.io/lb' } }))).reason,
    'NotOurs',
    'never touched',
  );
});

t.test('orphans and strays', async (t) => {
  const first = planService(input(service()));
  if (first.write.op !== 'create') return t.fail('expected create');
  const claim = first.write.claim;
  t.same(planService(input(undefined, [claim])).deleteClaims, ['shop.web'], 'Service gone while the agent was down');
  const stray: VIPClaim = { ...claim, metadata: { ...claim.metadata, name: 'old-name-shop-web' } };
  const p = planService(input(withFinalizer(service()), [claim, stray]));
  t.same(p.deleteClaims, ['old-name-shop-web']);
  const recreated = planService(
    input(withFinalizer(service({ metadata: { uid: 'uid-2' } })), [allocated(claim, '192.0.2.10')]),
  );
  t.equal(recreated.reason, 'ServiceReplaced');
  t.same(recreated.deleteClaims, ['shop.web'], 'spec.service is immutable: delete, then create anew');
});
