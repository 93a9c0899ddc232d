// The allocator against a real apiserver with its webhook registered (clientConfig.url on 127.0.0.1, the
// certificate bootstrapped by the allocator itself): each cross-object rule accepted and refused with a
// message naming the object and the field, then a corpus of malformed and hostile objects, each refused at
// admission (schema, CEL or webhook) or marked with a clear condition, while nothing already allocated moves;
// and BGP mode's objects: their defaults, CEL rules, webhook refusals and warnings, and printer columns.
import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import type {
  BFDProfile,
  BGPAdvertisement,
  BGPPeer,
  ConsumerCluster,
  VIPClaim,
  VIPPool,
} from '../../src/api/v1alpha1.ts';
import { apiMessage } from '../../src/kube/client.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { Ledger } from '../../lab/ledger.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { claim, pool, tenant, type ClaimOptions } from '../support/allocation-fixtures.ts';
import { allocatedOf, eventually, startAllocator, waitClaim, waitReady } from '../../lab/allocator.ts';
import { bfdProfile, bgpAdvertisement, bgpPeer } from '../support/bgp-fixtures.ts';

const ledger = Ledger.open('alloc-admission');
const [lb] = await startClusters(ledger, [{ name: 'lb' }]);
const cluster = lb!;
t.teardown(() => cluster.stop());
const kc = cluster.kubeConfig;
const pools = resourceClient<VIPPool>(kc, 'VIPPool');
const tenants = resourceClient<ConsumerCluster>(kc, 'ConsumerCluster');
const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
const core = kc.makeApiClient(k8s.CoreV1Api);
for (const ns of ['tenant-a', 'tenant-b', 'stranger']) await core.createNamespace({ body: { metadata: { name: ns } } });

// Objects as an API client sends them: no creationTimestamp, the apiserver sets it.
const fresh = <T extends { metadata: { creationTimestamp?: string } }>(o: T): T => ({
  ...o,
  metadata: { ...o.metadata, creationTimestamp: undefined },
});
const newPool = (...a: Parameters<typeof pool>) => fresh(pool(...a));
const newTenant = (...a: Parameters<typeof tenant>) => fresh(tenant(...a));
const newClaim = (ns: string, name: string, opts: ClaimOptions = {}) => {
  const c = fresh(claim(ns, name, { cluster: ns, ...opts }));
  delete (c as { status?: unknown }).status;
  return c;
};

const allocator = await startAllocator(ledger, cluster, { identity: 'solo', webhook: true });
t.teardown(() => allocator.proc.stop());
await waitReady(allocator);

// The apiserver learns about a new webhook configuration asynchronously: probe with a dry run until it answers.
await eventually('webhook in the apiserver', async () => {
  try {
    await kc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
      group: 'kube-lb.io',
      version: 'v1alpha1',
      plural: 'vipclaims',
      namespace: 'stranger',
      body: newClaim('stranger', 'probe'),
      dryRun: 'All',
    });
    return undefined;
  } catch (err) {
    return /denied the request/.test(apiMessage(err)) ? true : undefined;
  }
});

// Baseline: what must not move.
await pools.create(newPool('pool-a', ['192.0.2.0/26']));
await pools.create(newPool('pool-b', ['198.51.100.0/28'], { autoAssign: false }, { labels: { tier: 'gold' } }));
await pools.create(newPool('tiny', ['203.0.113.7/32'], { autoAssign: false }));
await tenants.create(
  newTenant('tenant-a', 'tenant-a', ['10.10.0.0/16'], {
    poolSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] },
  }),
);
await tenants.create(newTenant('tenant-b', 'tenant-b', ['10.20.0.0/16'], { maxVIPs: 1 }));
const tcp = (port: number) => [{ protocol: 'TCP' as const, port, nodePort: 30000 + port }];
const bBackend = [{ nodeName: 'b1', address: '10.20.0.5', ready: true }];
const baseline: Array<[string, string, ClaimOptions]> = [
  ['tenant-a', 'web-http', { sharingKey: 'web', ports: tcp(80) }],
  ['tenant-a', 'web-https', { sharingKey: 'web', ports: tcp(443) }],
  ['tenant-a', 'tiny-holder', { pool: 'tiny' }],
  ['tenant-b', 'b1', { backends: bBackend }],
];
for (const [ns, name, opts] of baseline)
  await eventually(`create ${ns}/${name}`, async () => {
    await claims.create(newClaim(ns, name, opts));
    return true;
  });
const before = new Map<string, string>();
for (const [ns, name] of baseline) {
  const c = await waitClaim(kc, ns, name, (x) => allocatedOf(x)?.status === 'True');
  before.set(`${ns}/${name}`, c.status!.vip!);
}

async function refusal(create: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await create();
    return undefined;
  } catch (err) {
    return apiMessage(err);
  }
}

t.test('webhook rules: each accepted and refused, naming the object and the field', async (t) => {
  const rows: Array<[what: string, create: () => Promise<unknown>, expect: RegExp | 'accepted']> = [
    [
      'a pool overlapping another',
      () => pools.create(newPool('overlap', ['192.0.2.32/27'])),
      /denied the request: VIPPool overlap spec\.addresses\[0\]: 192\.0\.2\.32\/27 overlaps VIPPool pool-a spec\.addresses\[0\] 192\.0\.2\.0\/26/,
    ],
    ['a pool beside the others', () => pools.create(newPool('beside', ['192.0.2.64/27'])), 'accepted'],
    [
      "a requested IP outside the tenant's pools",
      () => claims.create(newClaim('tenant-a', 'req-out', { requestedIPs: ['198.51.100.3'] })),
      /VIPClaim tenant-a\/req-out spec\.requestedIPs\[0\]: 198\.51\.100\.3 is not in any VIPPool this claim may use/,
    ],
    [
      'a requested IP inside them',
      () => claims.create(newClaim('tenant-a', 'req-in', { requestedIPs: ['192.0.2.40'] })),
      'accepted',
    ],
    [
      'backends outside allowedBackendCIDRs',
      () =>
        claims.create(
          newClaim('tenant-a', 'be-out', { backends: [{ nodeName: 'x', address: '10.20.0.9', ready: true }] }),
        ),
      /VIPClaim tenant-a\/be-out spec\.backends\[0\]\.address: 10\.20\.0\.9 is outside ConsumerCluster tenant-a spec\.allowedBackendCIDRs/,
    ],
    [
      'backends inside',
      () =>
        claims.create(
          newClaim('tenant-a', 'be-in', { backends: [{ nodeName: 'x', address: '10.10.3.3', ready: true }] }),
        ),
      'accepted',
    ],
    [
      'a tenant namespace already used by another tenant',
      () => tenants.create(newTenant('dup', 'tenant-a')),
      /ConsumerCluster dup spec\.tenantNamespace: namespace tenant-a is already the tenant namespace of ConsumerCluster tenant-a/,
    ],
    [
      'a tenant with a namespace of its own',
      () => tenants.create(newTenant('tenant-c', 'tenant-c', ['10.30.0.0/16'])),
      'accepted',
    ],
    [
      "a tenant over another tenant's nodes",
      () => tenants.create(newTenant('tenant-d', 'tenant-d', ['10.20.5.0/24'])),
      /ConsumerCluster tenant-d spec\.allowedBackendCIDRs\[0\]: 10\.20\.5\.0\/24 overlaps ConsumerCluster tenant-b spec\.allowedBackendCIDRs\[0\] 10\.20\.0\.0\/16/,
    ],
    [
      "a claim in another tenant's namespace",
      () => claims.create(newClaim('tenant-a', 'spoof', { cluster: 'tenant-b', backends: bBackend })),
      /VIPClaim tenant-a\/spoof spec\.service\.cluster: "tenant-b" is not the tenant of namespace tenant-a/,
    ],
    [
      'a claim in a namespace no tenant owns',
      () => claims.create(newClaim('stranger', 'lost')),
      /VIPClaim stranger\/lost: namespace stranger is not the tenantNamespace of any ConsumerCluster/,
    ],
  ];
  for (const [what, create, expect] of rows) {
    const msg = await refusal(create);
    if (expect === 'accepted') t.equal(msg, undefined, `${what}: accepted`);
    else t.match(msg ?? 'accepted', expect, `${what}: refused`);
  }
});

type Outcome = { refused: RegExp } | { marked: string; ns: string; name: string };
const p =
  (name: string, addresses: string[], spec: Partial<VIPPool['spec']> = {}) =>
  () =>
    pools.create(newPool(name, addresses, spec));
const c = (ns: string, name: string, opts: ClaimOptions) => () => claims.create(newClaim(ns, name, opts));
const raw = (plural: string, ns: string | undefined, body: object) => () => {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const base = { group: 'kube-lb.io', version: 'v1alpha1', plural, body };
  return ns ? api.createNamespacedCustomObject({ ...base, namespace: ns }) : api.createClusterCustomObject(base);
};
const rawClaim = (name: string, spec: Record<string, unknown>) =>
  raw('vipclaims', 'tenant-a', {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPClaim',
    metadata: { name },
    spec: { ...newClaim('tenant-a', name).spec, ...spec },
  });

const corpus: Array<[what: string, create: () => Promise<unknown>, expect: Outcome]> = [
  [
    'CIDR with an octet above 255',
    p('h-octet', ['10.0.0.300/24']),
    { refused: /spec\.addresses\[0\].*invalid address 10\.0\.0\.300\/24/ },
  ],
  [
    'not an address at all',
    p('h-garbage', ['not-an-ip']),
    { refused: /spec\.addresses\[0\].*invalid address not-an-ip/ },
  ],
  ['reversed range', p('h-reversed', ['192.0.2.200-192.0.2.100']), { refused: /spec\.addresses\[0\].*is reversed/ }],
  [
    'range mixing families',
    p('h-mixed', ['192.0.2.1-2001:db8::1']),
    { refused: /spec\.addresses\[0\].*mixes IPv4 and IPv6/ },
  ],
  ['CIDR with host bits', p('h-hostbits', ['192.0.2.77/24']), { refused: /spec\.addresses\[0\].*host bits set/ }],
  [
    'IPv6 CIDR not in canonical form',
    p('h-v6upper', ['2001:DB8::/64']),
    { refused: /spec\.addresses\[0\].*not in canonical form/ },
  ],
  ['huge CIDR /7', p('h-huge', ['10.0.0.0/7']), { refused: /spec\.addresses\[0\].*too large/ }],
  [
    'huge range',
    p('h-hugerange', ['1.0.0.0-3.0.0.0']),
    { refused: /spec\.addresses\[0\].*more than 16777216 addresses/ },
  ],
  ['the whole Internet', p('h-all', ['0.0.0.0/0']), { refused: /spec\.addresses\[0\].*too large/ }],
  [
    'a pool overlapping pool-a',
    p('h-overlap', ['192.0.2.60-192.0.2.70']),
    { refused: /VIPPool h-overlap spec\.addresses\[0\].*overlaps VIPPool pool-a/ },
  ],
  [
    'entries overlapping inside one pool',
    p('h-self', ['198.18.0.0/24', '198.18.0.128/25']),
    { refused: /VIPPool h-self spec\.addresses\[1\].*overlaps spec\.addresses\[0\]/ },
  ],
  ['loopback', p('h-loop', ['127.0.0.0/24']), { refused: /VIPPool h-loop spec\.addresses\[0\].*loopback/ }],
  ['multicast', p('h-mcast', ['224.0.0.0/24']), { refused: /VIPPool h-mcast spec\.addresses\[0\].*multicast/ }],
  [
    'reversed IPv6 range (beyond CEL)',
    p('h-v6rev', ['2001:db8::ff-2001:db8::1']),
    { refused: /VIPPool h-v6rev spec\.addresses\[0\].*reversed/ },
  ],
  ['no addresses', p('h-empty', []), { refused: /spec\.addresses.*should have at least 1 items/ }],
  [
    'negative priority',
    p('h-prio', ['198.18.1.0/24'], { priority: -5 }),
    { refused: /spec\.priority.*greater than or equal to 0/ },
  ],
  [
    'selector In without values',
    p('h-sel', ['198.18.2.0/24'], {
      allocateTo: { clusterSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } },
    }),
    { refused: /spec\.allocateTo\.clusterSelector\.matchExpressions\[0\].*needs values/ },
  ],
  [
    '65 address entries',
    p(
      'h-many',
      Array.from({ length: 65 }, (_, i) => `198.19.${i}.0/24`),
    ),
    { refused: /spec\.addresses.*must have at most 64 items/ },
  ],
  [
    'a second tenant for namespace tenant-b',
    () => tenants.create(newTenant('h-dup', 'tenant-b')),
    { refused: /ConsumerCluster h-dup spec\.tenantNamespace/ },
  ],
  [
    'allowedBackendCIDRs with prefix 33',
    () => tenants.create(newTenant('h-cidr', 'h-cidr', ['10.0.0.0/33'])),
    { refused: /spec\.allowedBackendCIDRs\[0\].*not a CIDR/ },
  ],
  [
    'tenantNamespace that is not a DNS label',
    () => tenants.create(newTenant('h-ns', 'Bad_NS')),
    { refused: /spec\.tenantNamespace.*should match/ },
  ],
  [
    'negative maxVIPs',
    () => tenants.create(newTenant('h-quota', 'h-quota', ['10.0.0.0/8'], { maxVIPs: -1 })),
    { refused: /spec\.maxVIPs.*greater than or equal to 0/ },
  ],
  [
    'port 70000',
    c('tenant-a', 'h-port', { ports: [{ protocol: 'TCP', port: 70000, nodePort: 30000 }] }),
    { refused: /spec\.ports\[0\]\.port.*less than or equal to 65535/ },
  ],
  [
    'protocol ICMP',
    rawClaim('h-proto', { ports: [{ protocol: 'ICMP', port: 1, nodePort: 30001 }] }),
    { refused: /spec\.ports\[0\]\.protocol.*Unsupported value: "ICMP"/ },
  ],
  [
    'the same port twice',
    c('tenant-a', 'h-dupport', { ports: [...tcp(80), { protocol: 'TCP', port: 80, nodePort: 30099 }] }),
    { refused: /spec\.ports\[1\].*Duplicate value/ },
  ],
  [
    "backends in another tenant's network",
    c('tenant-a', 'h-backend', { backends: bBackend }),
    { refused: /VIPClaim tenant-a\/h-backend spec\.backends\[0\]\.address.*outside/ },
  ],
  [
    "a claim for tenant-b written into tenant-a's namespace",
    c('tenant-a', 'h-spoof', { cluster: 'tenant-b' }),
    { refused: /VIPClaim tenant-a\/h-spoof spec\.service\.cluster/ },
  ],
  [
    'a claim in a namespace of no tenant',
    c('stranger', 'h-stray', {}),
    { refused: /VIPClaim stranger\/h-stray: namespace stranger is not the tenantNamespace/ },
  ],
  [
    'a requested IP in no pool',
    c('tenant-a', 'h-reqout', { requestedIPs: ['8.8.8.8'] }),
    { refused: /VIPClaim tenant-a\/h-reqout spec\.requestedIPs\[0\]: 8\.8\.8\.8/ },
  ],
  [
    'a requested IP that is not an IP',
    c('tenant-a', 'h-reqbad', { requestedIPs: ['1.2.3'] }),
    { refused: /spec\.requestedIPs\[0\].*not an IP address: 1\.2\.3/ },
  ],
  [
    'healthCheckNodePort with eTP Cluster',
    c('tenant-a', 'h-hc', { healthCheckNodePort: 32000 }),
    { refused: /spec\.healthCheckNodePort.*only valid with externalTrafficPolicy Local/ },
  ],
  [
    'affinity timeout without ClientIP',
    c('tenant-a', 'h-aff', { sessionAffinity: { type: 'None', timeoutSeconds: 30 } }),
    { refused: /spec\.sessionAffinity\.timeoutSeconds/ },
  ],
  [
    'sharing key "web" with the clashing TCP/80',
    c('tenant-a', 'h-share', { sharingKey: 'web', ports: tcp(80) }),
    { refused: /VIPClaim tenant-a\/h-share spec\.sharingKey.*already uses TCP\/80/ },
  ],
  [
    'a pool that does not exist',
    c('tenant-a', 'h-nopool', { pool: 'nope' }),
    { refused: /VIPClaim tenant-a\/h-nopool spec\.pool: there is no VIPPool nope/ },
  ],
  [
    "a pool the tenant's poolSelector excludes",
    c('tenant-a', 'h-gold', { pool: 'pool-b' }),
    { refused: /VIPClaim tenant-a\/h-gold spec\.pool: VIPPool pool-b may not serve this claim/ },
  ],
  [
    'a claim without ports',
    c('tenant-a', 'h-noports', { ports: [] }),
    { refused: /spec\.ports.*should have at least 1 items/ },
  ],
  [
    "over the tenant's quota",
    c('tenant-b', 'h-quota', { backends: bBackend }),
    { marked: 'QuotaExceeded', ns: 'tenant-b', name: 'h-quota' },
  ],
  [
    'a full pool',
    c('tenant-a', 'h-full', { pool: 'tiny' }),
    { marked: 'PoolExhausted', ns: 'tenant-a', name: 'h-full' },
  ],
  [
    'an IP held by another tenant',
    c('tenant-a', 'h-taken', { requestedIPs: [before.get('tenant-b/b1')!] }),
    { marked: 'RequestedIPUnavailable', ns: 'tenant-a', name: 'h-taken' },
  ],
  [
    'a claim switching to another Service',
    async () => {
      const cur = await claims.get('web-http', 'tenant-a');
      return claims.replace({ ...cur, spec: { ...cur.spec, service: { ...cur.spec.service, name: 'hijack' } } });
    },
    { refused: /spec\.service: Invalid value.*service is immutable/ },
  ],
];

t.test(
  `hostile corpus (${corpus.length} objects): refused at admission or marked, nothing allocated moves`,
  async (t) => {
    t.ok(corpus.length >= 30, 'at least 30 objects');
    for (const [what, create, expect] of corpus) {
      const msg = await refusal(create);
      if ('refused' in expect) {
        t.match(msg ?? 'accepted', expect.refused, `${what}: refused`);
        continue;
      }
      t.equal(msg, undefined, `${what}: accepted by admission`);
      const claimed = await waitClaim(kc, expect.ns, expect.name, (x) => allocatedOf(x) !== undefined);
      const cond = allocatedOf(claimed)!;
      t.equal(
        `${cond.status}/${cond.reason}`,
        `False/${expect.marked}`,
        `${what}: marked ${expect.marked}: ${cond.message}`,
      );
      t.notOk(claimed.status?.vip, `${what}: no VIP`);
    }

    // Give the allocator a moment to act on anything it would act on, then check the baseline.
    await eventually('allocator idle', async () =>
      (await claims.list()).items.every((x) => allocatedOf(x)) ? true : undefined,
    );
    for (const [key, vip] of before) {
      const [ns, name] = key.split('/') as [string, string];
      const now = await claims.get(name, ns);
      t.equal(now.status?.vip, vip, `${key} kept ${vip}`);
      t.equal(allocatedOf(now)?.status, 'True', `${key} still Allocated`);
    }
    const all = (await claims.list()).items;
    const owners = new Map<string, Set<string>>();
    for (const x of all) {
      if (!x.status?.vip) continue;
      const key = x.spec.sharingKey
        ? `${x.metadata.namespace}/${x.spec.sharingKey}`
        : `${x.metadata.namespace}/${x.metadata.name}`;
      owners.set(x.status.vip, (owners.get(x.status.vip) ?? new Set()).add(key));
    }
    t.same(
      [...owners].filter(([, o]) => o.size > 1),
      [],
      'no VIP is held by two owners (other than one sharing group)',
    );
    const events = await core.listNamespacedEvent({ namespace: 'tenant-b' });
    t.ok(
      events.items.some((e) => e.reason === 'QuotaExceeded' && e.involvedObject.name === 'h-quota'),
      'a Warning Event says QuotaExceeded',
    );
  },
);

t.test('pool and tenant status and printer columns', async (t) => {
  const a = await eventually('pool-a status', async () => {
    const x = await pools.get('pool-a');
    return x.status?.allocated !== undefined && x.status.allocated >= 2 ? x : undefined;
  });
  t.equal(a.status?.capacity, 64);
  t.equal(a.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
  t.equal(a.status?.conditions?.find((x) => x.type === 'Overlap')?.status, 'False');
  const table = cluster.kubectl(['get', 'vippools']);
  t.match(table, /NAME\s+ADDRESSES\s+USED\s+CAPACITY/);
  t.match(table, /pool-a\s+\["192\.0\.2\.0\/26"\]\s+\d+\s+64/);
  const claimsTable = cluster.kubectl(['get', 'vipclaims', '-n', 'tenant-a']);
  t.match(claimsTable, /NAME\s+VIP\s+CLUSTER\s+SERVICE\s+ALLOCATED\s+PROGRAMMED\s+ANNOUNCED\s+AGE/);
  t.match(
    claimsTable,
    new RegExp(
      `web-http\\s+${before.get('tenant-a/web-http')!.replace(/\./g, '\\.')}\\s+tenant-a\\s+web-http\\s+Allocated`,
    ),
  );
  const b = await eventually('tenant-b status', async () => {
    const x = await tenants.get('tenant-b');
    return x.status?.vips === 1 ? x : undefined;
  });
  t.equal(b.status?.claims, 2, 'b1 and the over-quota claim');
});

t.test('BGP mode: defaults, CEL rules, the webhook and printer columns', async (t) => {
  const peers = resourceClient<BGPPeer>(kc, 'BGPPeer');
  const advertisements = resourceClient<BGPAdvertisement>(kc, 'BGPAdvertisement');
  const profiles = resourceClient<BFDProfile>(kc, 'BFDProfile');

  const peer = await peers.create(
    bgpPeer('tor-1', '198.18.0.1', {
      nodeSelector: { matchLabels: { rack: 'r1' } },
      passwordSecret: { name: 'tor-1-password' },
      bfdProfile: 'fast',
    }),
  );
  t.match(
    peer.spec,
    { peerPort: 179, holdTimeSeconds: 90, keepaliveTimeSeconds: 30, ebgpMultiHop: false },
    'BGPPeer defaults',
  );
  t.equal(peer.spec.passwordSecret?.key, 'password', 'the password key defaults to "password"');
  const adv = await advertisements.create(bgpAdvertisement('all', { communities: ['64512:100', 'no-export'] }));
  t.match(adv.spec, { aggregationLength: 32, aggregationLengthV6: 128 }, 'BGPAdvertisement defaults');
  const profile = await profiles.create(bfdProfile('fast'));
  t.same(
    profile.spec,
    {
      receiveIntervalMs: 300,
      transmitIntervalMs: 300,
      detectMultiplier: 3,
      echoMode: false,
      echoIntervalMs: 50,
      passiveMode: false,
      minimumTtl: 254,
    },
    'BFDProfile defaults',
  );

  const rows: Array<[what: string, create: () => Promise<unknown>, expect: RegExp | 'accepted']> = [
    ['hold time 2', () => peers.create(bgpPeer('h2', '198.18.1.1', { holdTimeSeconds: 2 })), /must be 0 or at least 3/],
    [
      'hold time 0 with the default keepalive',
      () => peers.create(bgpPeer('h0', '198.18.1.2', { holdTimeSeconds: 0 })),
      'accepted',
    ],
    [
      'keepalive equal to the hold time',
      () => peers.create(bgpPeer('ka', '198.18.1.3', { holdTimeSeconds: 9, keepaliveTimeSeconds: 9 })),
      /spec\.keepaliveTimeSeconds.*keepaliveTimeSeconds must be below holdTimeSeconds/,
    ],
    [
      'keepalive above the default hold time',
      () => peers.create(bgpPeer('ka2', '198.18.1.4', { keepaliveTimeSeconds: 100 })),
      /keepaliveTimeSeconds must be below holdTimeSeconds/,
    ],
    [
      'ebgpMultiHop on an iBGP session',
      () => peers.create(bgpPeer('mh', '198.18.1.5', { peerASN: 64512, ebgpMultiHop: true })),
      /spec\.ebgpMultiHop.*only allowed for eBGP/,
    ],
    [
      'ebgpMultiHop on an eBGP session',
      () => peers.create(bgpPeer('mh2', '198.18.1.6', { ebgpMultiHop: true })),
      'accepted',
    ],
    [
      'a source address of the other family',
      () => peers.create(bgpPeer('src', '198.18.1.7', { sourceAddress: '2001:db8::7' })),
      /spec\.sourceAddress.*one family/,
    ],
    ['a peer address that is not one', () => peers.create(bgpPeer('bad', '198.18.1.300')), /not an IP address/],
    [
      'AS 0',
      () => peers.create(bgpPeer('asn0', '198.18.1.8', { myASN: 0 })),
      /spec\.myASN.*greater than or equal to 1/,
    ],
    [
      'AS 2^32',
      () => peers.create(bgpPeer('asn32', '198.18.1.8', { peerASN: 4294967296 })),
      /spec\.peerASN.*less than or equal to 4294967295/,
    ],
    [
      'a four-byte AS',
      () => peers.create(bgpPeer('asn4', '198.18.1.9', { myASN: 4200000000, peerASN: 4294967295 })),
      'accepted',
    ],
    [
      'a second peer for tor-1 on the same nodes (webhook)',
      () => peers.create(bgpPeer('tor-1b', '198.18.0.1', { nodeSelector: { matchLabels: { zone: 'a' } } })),
      /denied the request: BGPPeer tor-1b spec\.peerAddress: 198\.18\.0\.1 port 179 is also BGPPeer tor-1's router/,
    ],
    [
      'the same router from another rack',
      () => peers.create(bgpPeer('tor-1-r2', '198.18.0.1', { nodeSelector: { matchLabels: { rack: 'r2' } } })),
      'accepted',
    ],
    [
      'a community out of range',
      () => advertisements.create(bgpAdvertisement('c1', { communities: ['65536:1'] })),
      /spec\.communities\[0\].*community 65536:1 is out of range/,
    ],
    [
      'a well-known community in the wrong case',
      () => advertisements.create(bgpAdvertisement('c2', { communities: ['NO-EXPORT'] })),
      /spec\.communities\[0\].*should match/,
    ],
    [
      'a large community out of range',
      () => advertisements.create(bgpAdvertisement('c3', { largeCommunities: ['4294967296:0:0'] })),
      /spec\.largeCommunities\[0\].*out of range/,
    ],
    [
      'aggregation length 33',
      () => advertisements.create(bgpAdvertisement('c4', { aggregationLength: 33 })),
      /spec\.aggregationLength.*less than or equal to 32/,
    ],
    [
      'a BFD multiplier of 1',
      () => profiles.create(bfdProfile('slow', { detectMultiplier: 1 })),
      /spec\.detectMultiplier.*greater than or equal to 2/,
    ],
    [
      'deleting a BFDProfile tor-1 names (webhook)',
      () => profiles.delete('fast'),
      /denied the request: BFDProfile fast is named in spec\.bfdProfile of BGPPeer tor-1/,
    ],
  ];
  for (const [what, create, expect] of rows) {
    const msg = await refusal(create);
    if (expect === 'accepted') t.equal(msg, undefined, `${what}: accepted`);
    else t.match(msg ?? 'accepted', expect, `${what}: refused`);
  }

  // Admission warnings reach the client: kubectl prints them, and --warnings-as-errors turns them into a failure.
  const warningOf = (body: object): string => {
    try {
      cluster.kubectl(['create', '--dry-run=server', '--warnings-as-errors', '-f', '-'], JSON.stringify(body));
      return 'no warning';
    } catch (err) {
      return String((err as { stderr?: unknown }).stderr);
    }
  };
  t.match(
    warningOf(bgpPeer('tor-2', '198.18.0.2', { bfdProfile: 'missing' })),
    /BGPPeer tor-2 spec\.bfdProfile: there is no BFDProfile missing/,
    'a peer naming a missing BFDProfile is admitted with a warning',
  );
  t.match(
    warningOf(bgpAdvertisement('to-nobody', { peers: ['tor-1', 'nobody'] })),
    /BGPAdvertisement to-nobody spec\.peers\[1\]: there is no BGPPeer nobody/,
    'an advertisement naming a missing peer is admitted with a warning',
  );

  await peers.replaceStatus({
    ...(await peers.get('tor-1')),
    status: {
      established: '1/2',
      conditions: [
        {
          type: 'Established',
          status: 'False',
          reason: 'NotEstablished',
          message: 'Established on 1 of 2 live LB nodes that peer; lb-2: Active (bad peer AS)',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
      nodes: [
        { node: 'lb-1', session: 'Established', since: '2026-01-01T00:00:00Z', prefixesAdvertised: 3 },
        { node: 'lb-2', session: 'Active', bfd: 'Down', message: 'NOTIFICATION: OPEN message error, bad peer AS' },
      ],
    },
  });
  const table = cluster.kubectl(['get', 'bgppeers', '-o', 'wide']);
  t.match(table, /NAME\s+PEER\s+PEERASN\s+MYASN\s+ESTABLISHED\s+READY\s+BFD\s+AGE/);
  // The summary the first live speaker writes (src/core/bgp/peer-summary.ts): live nodes Established, and Ready.
  t.match(table, /tor-1\s+198\.18\.0\.1\s+64513\s+64512\s+1\/2\s+False\s+fast\s/);
  t.match(
    cluster.kubectl(['get', 'bgpadv', '-o', 'wide']),
    /NAME\s+AGGREGATION\s+LOCALPREF\s+PEERS\s+AGE\n(?:.*\n)*all\s+32\s+\d+s\n/,
  );
  t.match(cluster.kubectl(['get', 'bfdp']), /NAME\s+RX\s+TX\s+MULTIPLIER\s+AGE\s+fast\s+300\s+300\s+3/);
});
