// The webhook's verdicts (pure): the object under review is put into the cached snapshot and judged by the
// same validate() the controller uses. Rows: operation, object, verdict.
import t from 'tap';
import { admit, type AdmissionInput, type World } from '../../../src/core/allocation/admission.ts';
import { review } from '../../../src/allocator/webhook/server.ts';
import { claim, pool, tenant } from '../../support/allocation-fixtures.ts';
import { bfdProfile, bgpAdvertisement, bgpPeer } from '../../support/bgp-fixtures.ts';

const world: World = {
  pools: [pool('a', ['192.0.2.0/26']), pool('b', ['198.51.100.0/28'])],
  tenants: [tenant('t1', 't1', ['10.10.0.0/16']), tenant('t2', 't2', ['10.20.0.0/16'])],
  claims: [
    claim('t1', 'web', { sharingKey: 'web', vip: '192.0.2.1', statusPool: 'a' }),
    claim('t1', 'tail', { vip: '192.0.2.50', statusPool: 'a' }),
  ],
  bgpPeers: [
    bgpPeer('rtr-a', '198.18.0.1', { nodeSelector: { matchLabels: { rack: 'r1' } }, bfdProfile: 'fast' }),
    bgpPeer('rtr-v6', '2001:db8::1'),
  ],
  bgpAdvertisements: [bgpAdvertisement('all')],
  bfdProfiles: [bfdProfile('fast'), bfdProfile('unused')],
};
const r1 = { matchLabels: { rack: 'r1' } };
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
    [
      'a peer with a router of its own',
      { operation: 'CREATE', kind: 'BGPPeer', object: bgpPeer('rtr-b', '198.18.0.2') },
      'allowed',
    ],
    [
      'a second peer for one router, on every node',
      { operation: 'CREATE', kind: 'BGPPeer', object: bgpPeer('dup', '198.18.0.1') },
      "denied: BGPPeer dup spec.peerAddress: 198.18.0.1 port 179 is also BGPPeer rtr-a's router, and their spec.nodeSelector may both select one LB node, which would open two sessions to it; give both peers matchLabels with different values for one label key, or make them one peer",
    ],
    [
      'the same router on another port',
      { operation: 'CREATE', kind: 'BGPPeer', object: bgpPeer('alt', '198.18.0.1', { peerPort: 1179 }) },
      'allowed',
    ],
    [
      'the same router from other racks',
      {
        operation: 'CREATE',
        kind: 'BGPPeer',
        object: bgpPeer('r2', '198.18.0.1', { nodeSelector: { matchLabels: { rack: 'r2', zone: 'z1' } } }),
      },
      'allowed',
    ],
    [
      'the same router, selected by another label key',
      {
        operation: 'CREATE',
        kind: 'BGPPeer',
        object: bgpPeer('z1', '198.18.0.1', { nodeSelector: { matchLabels: { zone: 'z1' } } }),
      },
      "denied: BGPPeer z1 spec.peerAddress: 198.18.0.1 port 179 is also BGPPeer rtr-a's router, and their spec.nodeSelector may both select one LB node, which would open two sessions to it; give both peers matchLabels with different values for one label key, or make them one peer",
    ],
    [
      'the same router, selected by expressions',
      {
        operation: 'CREATE',
        kind: 'BGPPeer',
        object: bgpPeer('ex', '198.18.0.1', {
          peerPort: 179,
          nodeSelector: { matchExpressions: [{ key: 'rack', operator: 'In', values: ['r2'] }] },
        }),
      },
      "denied: BGPPeer ex spec.peerAddress: 198.18.0.1 port 179 is also BGPPeer rtr-a's router, and their spec.nodeSelector may both select one LB node, which would open two sessions to it; give both peers matchLabels with different values for one label key, or make them one peer",
    ],
    [
      'an IPv6 router spelled another way',
      { operation: 'CREATE', kind: 'BGPPeer', object: bgpPeer('v6', '2001:DB8:0::1') },
      "denied: BGPPeer v6 spec.peerAddress: 2001:db8::1 port 179 is also BGPPeer rtr-v6's router, and their spec.nodeSelector may both select one LB node, which would open two sessions to it; give both peers matchLabels with different values for one label key, or make them one peer",
    ],
    [
      'a peer updating itself',
      {
        operation: 'UPDATE',
        kind: 'BGPPeer',
        object: bgpPeer('rtr-a', '198.18.0.1', { nodeSelector: r1, holdTimeSeconds: 9, keepaliveTimeSeconds: 3 }),
      },
      'allowed',
    ],
    [
      'a peer naming a BFDProfile that does not exist',
      { operation: 'CREATE', kind: 'BGPPeer', object: bgpPeer('rtr-c', '198.18.0.3', { bfdProfile: 'slow' }) },
      'allowed, warning: BGPPeer rtr-c spec.bfdProfile: there is no BFDProfile slow (yet)',
    ],
    ['deleting a peer', { operation: 'DELETE', kind: 'BGPPeer', oldObject: world.bgpPeers[0] }, 'allowed'],
    [
      'an advertisement to a peer that does not exist',
      {
        operation: 'CREATE',
        kind: 'BGPAdvertisement',
        object: bgpAdvertisement('some', { peers: ['rtr-a', 'nope'], communities: ['no-export', '65535:0'] }),
      },
      'allowed, warning: BGPAdvertisement some spec.peers[1]: there is no BGPPeer nope (yet); nothing is advertised to it until it exists',
    ],
    [
      'communities out of range',
      {
        operation: 'UPDATE',
        kind: 'BGPAdvertisement',
        object: bgpAdvertisement('all', {
          communities: ['64512:100', '65536:1', 'no-such'],
          largeCommunities: ['4294967295:0:1', '1:4294967296:0'],
        }),
      },
      'denied: BGPAdvertisement all spec.communities[1]: 65536:1 is out of range: each part of ASN:VALUE is 0 to 65535; BGPAdvertisement all spec.communities[2]: no-such is not ASN:VALUE nor one of no-export, no-advertise, local-AS, blackhole, graceful-shutdown; BGPAdvertisement all spec.largeCommunities[1]: 1:4294967296:0 is out of range: each part of A:B:C is 0 to 4294967295',
    ],
    [
      'deleting a BFDProfile a peer names',
      { operation: 'DELETE', kind: 'BFDProfile', oldObject: world.bfdProfiles[0] },
      'denied: BFDProfile fast is named in spec.bfdProfile of BGPPeer rtr-a: change or delete those peers first',
    ],
    [
      'deleting a BFDProfile no peer names',
      { operation: 'DELETE', kind: 'BFDProfile', oldObject: world.bfdProfiles[1] },
      'allowed',
    ],
    [
      'changing a BFDProfile a peer names',
      { operation: 'UPDATE', kind: 'BFDProfile', object: bfdProfile('fast', { detectMultiplier: 5 }) },
      'allowed',
    ],
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
  const warned = review(
    {
      request: {
        uid: 'u-2',
        kind: { kind: 'BGPPeer' },
        operation: 'CREATE',
        object: bgpPeer('rtr-c', '198.18.0.3', { bfdProfile: 'slow' }),
      },
    },
    world,
  );
  t.same(
    warned.response,
    {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: 'u-2',
        allowed: true,
        warnings: ['BGPPeer rtr-c spec.bfdProfile: there is no BFDProfile slow (yet)'],
      },
    },
    'admitted with the warning, which kubectl prints',
  );
});
