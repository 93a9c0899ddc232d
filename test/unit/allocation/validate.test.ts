// validate(): one pure parse of pools and tenants into the model, with a problem (code, object, field,
// message) for everything wrong across objects. The webhook and the controller both use it.
import t from 'tap';
import {
  validate,
  problemsOf,
  checkClaim,
  toClaimRequest,
  sharingProblems,
  backendRefusal,
} from '../../../src/core/allocation/validate.ts';
import { parseIP } from '../../../src/core/ip/index.ts';
import { lbClusterDenyList } from '../../../src/core/allocation/deny-list.ts';
import { claim, pool, tenant } from '../../support/allocation-fixtures.ts';

const older = { created: '2026-01-01T00:00:00Z' };
const younger = { created: '2026-02-01T00:00:00Z' };

t.test('pool problems name the pool, the field and the other object', async (t) => {
  const m = validate({
    pools: [
      pool('a', ['192.0.2.0/25'], {}, older),
      pool('b', ['198.51.100.0/24', '192.0.2.100-192.0.2.130'], {}, younger),
      pool(
        'c',
        ['127.0.0.1/32', '2001:db8::ff-2001:db8::1', '203.0.113.0/24', '203.0.113.128/25', '2001:db8::/96'],
        {},
        older,
      ),
    ],
    tenants: [],
  });
  const codes = (name: string) => problemsOf(m, 'VIPPool', name).map((p) => `${p.code} ${p.object.field}`);
  t.same(codes('a'), ['PoolOverlap spec.addresses[0]'], 'the older pool is told too');
  t.same(codes('b'), ['PoolOverlap spec.addresses[1]']);
  t.same(codes('c'), [
    'ReservedAddress spec.addresses[0]',
    'InvalidAddress spec.addresses[1]',
    'AddressOverlap spec.addresses[3]',
    'PoolTooLarge spec.addresses[4]',
  ]);
  t.match(
    problemsOf(m, 'VIPPool', 'b')[0]!.message,
    /^VIPPool b spec\.addresses\[1\]: 192\.0\.2\.100-192\.0\.2\.130 overlaps VIPPool a spec\.addresses\[0\] 192\.0\.2\.0\/25 \(192\.0\.2\.100-192\.0\.2\.127\); VIPPool a is older/,
  );
  t.equal(m.pools.get('a')!.usable, true, 'the older pool keeps working');
  t.equal(m.pools.get('b')!.usable, false, 'the younger hands out nothing');
  t.equal(m.pools.get('c')!.capacity, 256, 'only the valid entry counts');
  t.equal(m.pools.get('c')!.usable, true);
});

t.test('capacity after avoidBuggyIPs; defaults', async (t) => {
  const m = validate({
    pools: [pool('p', ['10.0.0.0/23'], { avoidBuggyIPs: true }), pool('q', ['10.1.0.0/30'])],
    tenants: [],
  });
  t.equal(m.pools.get('p')!.capacity, 512 - 4);
  const q = m.pools.get('q')!;
  t.same([q.capacity, q.autoAssign, q.avoidBuggyIPs, q.priority], [4, true, false, 1000]);
});

t.test('tenants: one per namespace, the older keeps it', async (t) => {
  const m = validate({
    pools: [],
    tenants: [
      tenant('late', 'shared', ['10.0.0.0/8'], {}, younger),
      tenant('early', 'shared', ['10.0.0.0/8'], {}, older),
      tenant('bad', 'bad', ['10.0.0.1/8']),
    ],
  });
  t.equal(m.tenantByNamespace.get('shared')?.name, 'early');
  t.same(
    problemsOf(m, 'ConsumerCluster', 'late').map((p) => p.message),
    [
      'ConsumerCluster late spec.tenantNamespace: namespace shared is already the tenant namespace of ConsumerCluster early',
    ],
  );
  t.match(
    problemsOf(m, 'ConsumerCluster', 'bad')[0]!.message,
    /spec\.allowedBackendCIDRs\[0\]: host bits set in 10\.0\.0\.1\/8/,
  );
});

t.test(
  'tenant backend ranges: an overlap needs both tenants to agree, else the older keeps the addresses',
  async (t) => {
    const tenants = (shared: { a?: readonly string[]; b?: readonly string[] }) => [
      tenant('a', 'a', ['10.10.0.0/16'], shared.a ? { sharedBackendsWith: [...shared.a] } : {}, older),
      tenant(
        'b',
        'b',
        ['10.10.5.0/24', '10.30.0.0/16'],
        shared.b ? { sharedBackendsWith: [...shared.b] } : {},
        younger,
      ),
    ];
    const refusals = (m: ReturnType<typeof validate>, name: string) =>
      ['10.10.5.1', '10.30.0.1'].map((ip) => backendRefusal(m, m.tenants.get(name)!, parseIP(ip)!) ?? 'ok');
    for (const [what, shared] of [
      ['neither agrees', {}],
      ['only the younger agrees', { b: ['a'] }],
      ['only the older agrees', { a: ['b'] }],
    ] as const) {
      const m = validate({ pools: [], tenants: tenants(shared) });
      t.same(
        problemsOf(m, 'ConsumerCluster', 'b').map((p) => p.message),
        [
          'ConsumerCluster b spec.allowedBackendCIDRs[0]: 10.10.5.0/24 overlaps ConsumerCluster a spec.allowedBackendCIDRs[0] 10.10.0.0/16 (10.10.5.0/24); a is older and keeps these addresses, this tenant gets no backends there unless both list each other in spec.sharedBackendsWith',
        ],
        `${what}: the younger is told, naming both fields`,
      );
      t.same(problemsOf(m, 'ConsumerCluster', 'a'), [], `${what}: the older is not`);
      t.same(
        refusals(m, 'b'),
        [
          "is in ConsumerCluster a's backend ranges, which b overlaps without both listing each other in spec.sharedBackendsWith",
          'ok',
        ],
        `${what}: the younger loses only the shared addresses`,
      );
      t.same(
        refusals(m, 'a'),
        ['ok', 'is outside ConsumerCluster a spec.allowedBackendCIDRs'],
        `${what}: the older keeps them`,
      );
    }
    const agreed = validate({ pools: [], tenants: tenants({ a: ['b'], b: ['a'] }) });
    t.same(agreed.problems, [], 'both agree: no problem');
    t.same(refusals(agreed, 'b'), ['ok', 'ok'], 'and both may use the shared addresses');
  },
);

t.test(
  'a range overlap that arises later stops no running Service: backends approved before keep being served',
  async (t) => {
    const m = validate({
      pools: [pool('p', ['192.0.2.0/24'])],
      tenants: [tenant('a', 'a', ['10.10.0.0/16'], {}, older), tenant('b', 'b', ['10.10.5.0/24'], {}, younger)],
    });
    const backends = [
      { nodeName: 'n1', address: '10.10.5.1', ready: true },
      { nodeName: 'n2', address: '10.10.5.2', ready: true },
    ];
    // Approved with .1 before the overlap arose; the tenant then adds .2.
    const approved = claim('b', 'web', { vip: '192.0.2.7', statusPool: 'p', backends: [backends[0]!] });
    const edited = { ...approved, spec: { ...approved.spec, backends } };
    t.same(
      checkClaim(m, toClaimRequest(edited)).map((p) => p.message),
      [
        "VIPClaim b/web spec.backends[1].address: 10.10.5.2 is in ConsumerCluster a's backend ranges, which b overlaps without both listing each other in spec.sharedBackendsWith",
      ],
      'only the backend the claim was never approved for is refused',
    );
    t.same(
      checkClaim(m, toClaimRequest(claim('b', 'new', { backends: [backends[0]!] }))).map((p) => p.code),
      ['BackendNotAllowed'],
      'a new claim gets none there',
    );
  },
);

t.test('claim checks: tenancy, backends, requested IPs, pool', async (t) => {
  const m = validate({
    pools: [pool('open', ['192.0.2.0/24']), pool('gold', ['198.51.100.0/24'], {}, { labels: { tier: 'gold' } })],
    // Both on 10.10.0.0/16, by agreement (spec.sharedBackendsWith), so each one's backends there are its own.
    tenants: [
      tenant('t1', 't1', ['10.10.0.0/16'], {
        poolSelector: { matchLabels: { tier: 'open' } },
        sharedBackendsWith: ['t2'],
      }),
      tenant('t2', 't2', ['10.10.0.0/16'], { sharedBackendsWith: ['t1'] }),
    ],
  });
  const check = (ns: string, name: string, opts: Parameters<typeof claim>[2]) =>
    checkClaim(m, toClaimRequest(claim(ns, name, opts))).map((p) => `${p.code}: ${p.message}`);
  t.same(check('nobody', 'x', {}), [
    'UnknownTenant: VIPClaim nobody/x: namespace nobody is not the tenantNamespace of any ConsumerCluster',
  ]);
  t.same(check('t2', 'x', { cluster: 't1' }), [
    'ClusterMismatch: VIPClaim t2/x spec.service.cluster: "t1" is not the tenant of namespace t2 (ConsumerCluster t2)',
  ]);
  t.same(
    check('t2', 'x', {
      backends: [
        { nodeName: 'a', address: '10.10.0.1', ready: true },
        { nodeName: 'b', address: '10.11.0.1', ready: true },
      ],
    }),
    [
      'BackendNotAllowed: VIPClaim t2/x spec.backends[1].address: 10.11.0.1 is outside ConsumerCluster t2 spec.allowedBackendCIDRs',
    ],
  );
  // A tenant allowed everywhere still cannot point a VIP at loopback, link-local, multicast, 0.0.0.0/8 or a VIP.
  const open = validate({ pools: [pool('open', ['192.0.2.0/24'])], tenants: [tenant('all', 'all', ['0.0.0.0/0'])] });
  const backends = ['127.0.0.1', '169.254.169.254', '224.0.0.5', '0.0.0.1', '192.0.2.7', '10.1.2.3'].map(
    (address, i) => ({ nodeName: `n${i}`, address, ready: true }),
  );
  t.same(
    checkClaim(open, toClaimRequest(claim('all', 'x', { cluster: 'all', backends }))).map(
      (p) => `${p.code}: ${p.message}`,
    ),
    [
      'BackendNotAllowed: VIPClaim all/x spec.backends[0].address: 127.0.0.1 is loopback 127.0.0.0/8, never a backend',
      'BackendNotAllowed: VIPClaim all/x spec.backends[1].address: 169.254.169.254 is link-local 169.254.0.0/16, never a backend',
      'BackendNotAllowed: VIPClaim all/x spec.backends[2].address: 224.0.0.5 is multicast 224.0.0.0/4, never a backend',
      'BackendNotAllowed: VIPClaim all/x spec.backends[3].address: 0.0.0.1 is "this network" 0.0.0.0/8, never a backend',
      'BackendNotAllowed: VIPClaim all/x spec.backends[4].address: 192.0.2.7 is in VIPPool open: a VIP is never a backend',
    ],
    'only the consumer node address passes',
  );
  t.same(check('t2', 'x', { requestedIPs: ['192.0.2.9', '203.0.113.1'] }), [
    'RequestedIPNotAllowed: VIPClaim t2/x spec.requestedIPs[1]: 203.0.113.1 is not in any VIPPool this claim may use',
  ]);
  t.same(check('t1', 'x', { pool: 'gold' }), [
    'PoolNotAllowed: VIPClaim t1/x spec.pool: VIPPool gold may not serve this claim: ConsumerCluster t1 spec.poolSelector does not select VIPPool gold',
  ]);
  t.same(check('t2', 'x', { pool: 'nope' }), ['UnknownPool: VIPClaim t2/x spec.pool: there is no VIPPool nope']);
  t.same(check('t2', 'ok', { pool: 'gold', requestedIPs: ['198.51.100.7'] }), []);
});

t.test('sharing problems: same key, same port and protocol', async (t) => {
  const a = toClaimRequest(
    claim('t1', 'a', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 80, nodePort: 30080 }] }),
  );
  const b = toClaimRequest(
    claim('t1', 'b', { sharingKey: 'k', ports: [{ protocol: 'UDP', port: 80, nodePort: 30081 }] }),
  );
  const c = toClaimRequest(
    claim('t1', 'c', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 80, nodePort: 30082 }] }),
  );
  const other = toClaimRequest(
    claim('t2', 'd', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 80, nodePort: 30083 }] }),
  );
  t.same(sharingProblems(b, [a, other]), [], 'UDP/80 beside TCP/80 is fine; another tenant is irrelevant');
  t.same(
    sharingProblems(c, [a, b]).map((p) => p.message),
    ['VIPClaim t1/c spec.sharingKey: VIPClaim t1/a already uses TCP/80 with sharing key "k"'],
  );
});

t.test('claims are read canonically', async (t) => {
  const r = toClaimRequest(
    claim('t1', 'a', { requestedIPs: ['2001:DB8::0:1', 'bogus'], vip: '2001:0db8::2', statusPool: 'p' }),
  );
  t.same(r.requestedIPs, ['2001:db8::1', 'bogus']);
  t.same(r.recorded, { vip: '2001:db8::2', pool: 'p', backends: ['10.10.0.5'] });
});

t.test("per-claim limits: defaults, and a tenant's own", async (t) => {
  const ports = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ protocol: 'TCP' as const, port: 1000 + i, nodePort: 31000 + i }));
  const backends = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ nodeName: `n${i}`, address: `10.10.${i >> 8}.${i & 255}`, ready: true }));
  const m = validate({
    pools: [pool('p', ['198.18.0.0/24'])],
    tenants: [
      tenant('a', 'a', ['10.10.0.0/16'], { sharedBackendsWith: ['b'] }),
      tenant('b', 'b', ['10.10.0.0/16'], {
        limits: { portsPerClaim: 2, backendsPerClaim: 3 },
        sharedBackendsWith: ['a'],
      }),
    ],
  });
  const codes = (ns: string, opts: Parameters<typeof claim>[2]) =>
    checkClaim(m, toClaimRequest(claim(ns, 'x', opts))).map((p) => `${p.code}: ${p.message}`);
  t.same(codes('a', { ports: ports(64), backends: backends(1000) }), [], 'the defaults: 64 ports, 1,000 backends');
  t.same(codes('a', { ports: ports(65) }), [
    'LimitExceeded: VIPClaim a/x spec.ports: 65 ports, ConsumerCluster a spec.limits.portsPerClaim is 64',
  ]);
  t.same(codes('b', { ports: ports(3), backends: backends(4) }), [
    'LimitExceeded: VIPClaim b/x spec.ports: 3 ports, ConsumerCluster b spec.limits.portsPerClaim is 2',
    'LimitExceeded: VIPClaim b/x spec.backends: 4 backends, ConsumerCluster b spec.limits.backendsPerClaim is 3',
  ]);
});

t.test(
  "the LB cluster's own addresses and the operator's deny-list are never backends, and the refusal names the rule",
  async (t) => {
    const { denied } = lbClusterDenyList({
      serviceCIDRs: [{ name: 'kubernetes', cidrs: ['10.96.0.0/12', 'fd00:10:96::/112'] }],
      apiservers: ['172.18.0.2'],
      configured: {
        source: 'ConfigMap kube-lb-system/kube-lb-backend-deny-list key cidrs',
        entries: ['10.250.0.0/24', '10.200.9.9'],
      },
    });
    const m = validate({
      pools: [pool('open', ['192.0.2.0/24'])],
      tenants: [tenant('all', 'all', ['0.0.0.0/0'])],
      denied,
    });
    const backends = ['10.96.0.1', '172.18.0.2', '10.250.0.7', '10.200.9.9', '10.200.9.10'].map((address, i) => ({
      nodeName: `n${i}`,
      address,
      ready: true,
    }));
    t.same(
      checkClaim(m, toClaimRequest(claim('all', 'x', { cluster: 'all', backends }))).map(
        (p) => `${p.code}: ${p.message}`,
      ),
      [
        "BackendNotAllowed: VIPClaim all/x spec.backends[0].address: 10.96.0.1 is in the LB cluster's Service range 10.96.0.0/12 (ServiceCIDR kubernetes): never a backend",
        "BackendNotAllowed: VIPClaim all/x spec.backends[1].address: 172.18.0.2 is the LB cluster's apiserver 172.18.0.2 (EndpointSlice default/kubernetes): never a backend",
        'BackendNotAllowed: VIPClaim all/x spec.backends[2].address: 10.250.0.7 is in 10.250.0.0/24, denied by ConfigMap kube-lb-system/kube-lb-backend-deny-list key cidrs: never a backend',
        'BackendNotAllowed: VIPClaim all/x spec.backends[3].address: 10.200.9.9 is in 10.200.9.9, denied by ConfigMap kube-lb-system/kube-lb-backend-deny-list key cidrs: never a backend',
      ],
      'only the consumer node address passes',
    );
    t.equal(
      backendRefusal(validate({ pools: [], tenants: [] }), m.tenants.get('all')!, parseIP('10.96.0.1')!),
      undefined,
      'without the list, the Service range is an ordinary address',
    );
  },
);
