// The webhook's verdicts (pure): the object under review is put into the cached snapshot and judged by the
// same validate() the controller uses. Rows: operation, object, verdict.
import t from 'tap';
import { admit, type AdmissionInput, type World } from '../../../src/core/allocation/admission.ts';
import { review } from '../../../src/allocator/webhook/server.ts';
import { claim, pool, tenant } from '../../support/allocation-fixtures.ts';

const world: World = {
  pools: [pool('a', ['192.0.2.0/26']), pool('b', ['198.51.100.0/28'])],
  tenants: [tenant('t1', 't1', ['10.10.0.0/16']), tenant('t2', 't2', ['10.20.0.0/16'])],
  claims: [
    claim('t1', 'web', { sharingKey: 'web', vip: '192.0.2.1', statusPool: 'a' }),
    claim('t1', 'tail', { vip: '192.0.2.50', statusPool: 'a' }),
  ],
};
const fresh = <T extends { metadata: { creationTimestamp?: string } }>(o: T): T => ({
  ...o,
  metadata: { ...o.metadata, creationTimestamp: undefined },
});

t.test('verdicts', async (t) => {
  const rows: Array<[string, AdmissionInput, string]> = [
    [
      'new pool beside',
      { operation: 'CREATE', kind: 'VIPPool', object: fresh(pool('c', ['203.0.113.0/24'])) },
      'allowed',
    ],
    [
      'new pool overlapping',
      { operation: 'CREATE', kind: 'VIPPool', object: fresh(pool('c', ['192.0.2.60-192.0.2.70'])) },
      'denied: VIPPool c spec.addresses[0]: 192.0.2.60-192.0.2.70 overlaps VIPPool a spec.addresses[0] 192.0.2.0/26 (192.0.2.60-192.0.2.63); VIPPool a is older and keeps these addresses, this pool hands out none until the overlap is removed',
    ],
    [
      'an old pool grown into another',
      {
        operation: 'UPDATE',
        kind: 'VIPPool',
        object: pool('b', ['198.51.100.0/28', '192.0.2.0/24']),
        oldObject: pool('b', ['198.51.100.0/28']),
      },
      'denied: VIPPool b spec.addresses[1]: 192.0.2.0/24 overlaps VIPPool a spec.addresses[0] 192.0.2.0/26 (192.0.2.0-192.0.2.63); VIPPool a is older and keeps these addresses, this pool hands out none until the overlap is removed',
    ],
    [
      'shrinking a pool under a held VIP warns',
      { operation: 'UPDATE', kind: 'VIPPool', object: pool('a', ['192.0.2.0/27']), oldObject: world.pools[0] },
      'allowed, warning: VIPPool a no longer contains their VIPs: 1 VIPClaim(s) keep their VIPs and are marked Allocated=False/OutsidePool; re-add the addresses to a pool, or recreate those Services to get new VIPs',
    ],
    [
      'deleting a pool in use warns',
      { operation: 'DELETE', kind: 'VIPPool', oldObject: world.pools[0] },
      'allowed, warning: VIPPool a is deleted: 2 VIPClaim(s) keep their VIPs and are marked Allocated=False/OutsidePool; re-add the addresses to a pool, or recreate those Services to get new VIPs',
    ],
    [
      'a second tenant for t1',
      { operation: 'CREATE', kind: 'ConsumerCluster', object: fresh(tenant('t3', 't1')) },
      'denied: ConsumerCluster t3 spec.tenantNamespace: namespace t1 is already the tenant namespace of ConsumerCluster t1',
    ],
    [
      'a tenant updating itself',
      { operation: 'UPDATE', kind: 'ConsumerCluster', object: tenant('t1', 't1', ['10.10.0.0/15']) },
      'allowed',
    ],
    [
      "a new tenant naming another tenant's nodes as its own",
      { operation: 'CREATE', kind: 'ConsumerCluster', object: fresh(tenant('t3', 't3', ['10.20.128.0/17'])) },
      'denied: ConsumerCluster t3 spec.allowedBackendCIDRs[0]: 10.20.128.0/17 overlaps ConsumerCluster t2 spec.allowedBackendCIDRs[0] 10.20.0.0/16 (10.20.128.0/17); t2 is older and keeps these addresses, this tenant gets no backends there unless both list each other in spec.sharedBackendsWith',
    ],
    [
      "an older tenant grown over a younger one's nodes",
      {
        operation: 'UPDATE',
        kind: 'ConsumerCluster',
        object: tenant('t1', 't1', ['10.10.0.0/16', '10.20.0.0/24']),
        oldObject: world.tenants[0],
      },
      'denied: ConsumerCluster t2 spec.allowedBackendCIDRs[0]: 10.20.0.0/16 overlaps ConsumerCluster t1 spec.allowedBackendCIDRs[1] 10.20.0.0/24 (10.20.0.0/24); t1 is older and keeps these addresses, this tenant gets no backends there unless both list each other in spec.sharedBackendsWith',
    ],
    [
      'an overlap only one side agrees to',
      {
        operation: 'CREATE',
        kind: 'ConsumerCluster',
        object: fresh(tenant('t3', 't3', ['10.20.0.0/24'], { sharedBackendsWith: ['t2'] })),
      },
      'denied: ConsumerCluster t3 spec.allowedBackendCIDRs[0]: 10.20.0.0/24 overlaps ConsumerCluster t2 spec.allowedBackendCIDRs[0] 10.20.0.0/16 (10.20.0.0/24); t2 is older and keeps these addresses, this tenant gets no backends there unless both list each other in spec.sharedBackendsWith',
    ],
    [
      'a good claim',
      {
        operation: 'CREATE',
        kind: 'VIPClaim',
        object: fresh(claim('t2', 'x', { backends: [{ nodeName: 'n', address: '10.20.1.1', ready: true }] })),
      },
      'allowed',
    ],
    [
      'a claim sharing "web" on TCP/80',
      { operation: 'CREATE', kind: 'VIPClaim', object: fresh(claim('t1', 'x', { sharingKey: 'web' })) },
      'denied: VIPClaim t1/x spec.sharingKey: VIPClaim t1/web already uses TCP/80 with sharing key "web"',
    ],
    [
      'a claim updating itself is not its own clash',
      { operation: 'UPDATE', kind: 'VIPClaim', object: claim('t1', 'web', { sharingKey: 'web' }) },
      'allowed',
    ],
    [
      'several problems at once',
      {
        operation: 'CREATE',
        kind: 'VIPClaim',
        object: fresh(
          claim('t1', 'x', {
            requestedIPs: ['8.8.8.8'],
            backends: [{ nodeName: 'n', address: '10.20.1.1', ready: true }],
          }),
        ),
      },
      'denied: VIPClaim t1/x spec.backends[0].address: 10.20.1.1 is outside ConsumerCluster t1 spec.allowedBackendCIDRs; VIPClaim t1/x spec.requestedIPs[0]: 8.8.8.8 is not in any VIPPool this claim may use',
    ],
    ['other kinds pass', { operation: 'CREATE', kind: 'L2Announcement', object: {} }, 'allowed'],
  ];
  for (const [what, input, want] of rows) {
    const v = admit(input, world);
    const got = v.allowed
      ? `allowed${v.warnings.length ? `, warning: ${v.warnings.join(' | ')}` : ''}`
      : `denied: ${v.message}`;
    t.equal(got, want, what);
  }
});

t.test('AdmissionReview in, AdmissionReview out', async (t) => {
  const out = review(
    {
      request: {
        uid: 'u-1',
        kind: { kind: 'ConsumerCluster' },
        operation: 'CREATE',
        object: fresh(tenant('t3', 't2')),
      },
    },
    world,
  );
  t.same(out.response, {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid: 'u-1',
      allowed: false,
      status: {
        code: 422,
        reason: 'Invalid',
        message:
          'ConsumerCluster t3 spec.tenantNamespace: namespace t2 is already the tenant namespace of ConsumerCluster t2',
      },
    },
  });
  t.throws(() => review({}, world), /not an AdmissionReview/);
});
