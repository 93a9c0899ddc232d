// From claims and this node's health view to the frontends its maps must hold.
import t from 'tap';
import { planFrontends, plannedTargets, type HealthView } from '../../../src/core/speaker/plan.ts';
import type { HealthState } from '../../../src/core/health/state.ts';
import { backendGuard } from '../../../src/core/speaker/backend-guard.ts';
import { lbClusterDenyList } from '../../../src/core/allocation/deny-list.ts';
import { pool, tenant } from '../../support/allocation-fixtures.ts';
import { approvalOf } from '../../../src/core/allocation/approval.ts';
import { claim, TWO_NODES } from './fixtures.ts';

const allUnknown: HealthView = () => 'unknown';
const health =
  (states: Record<string, HealthState>): HealthView =>
  (k) =>
    states[k] ?? 'unknown';

t.test('a served claim becomes one frontend per port, every backend active at its NodePort', async (t) => {
  const c = claim({
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 },
      { name: 'dns', protocol: 'UDP', port: 53, nodePort: 30053 },
    ],
  });
  const plan = planFrontends([c], allUnknown, new Map());
  t.same(
    plan.frontends.map((f) => [f.vip, f.port, f.protocol, f.backends.map((b) => `${b.address}:${b.port}/${b.state}`)]),
    [
      ['198.51.100.200', 80, 'TCP', ['10.200.0.11:30080/active', '10.200.0.12:30080/active']],
      ['198.51.100.200', 53, 'UDP', ['10.200.0.11:30053/active', '10.200.0.12:30053/active']],
    ],
  );
  t.equal(plan.owners.get('198.51.100.200:53/UDP'), 'tenant-a/default.web');
  const p = plan.claims.get('tenant-a/default.web');
  t.ok(p?.serve);
  if (p?.serve) t.equal(p.fingerprint, 'tenant-a/default.web@1=198.51.100.200');
  t.same([...plannedTargets(plan)].sort(), ['tcp://10.200.0.11:30080', 'tcp://10.200.0.12:30080']);
});

t.test('claims not to serve are planned with the reason and produce no frontend', async (t) => {
  const plan = planFrontends(
    [
      claim({ name: 'novip', vip: undefined }),
      claim({ name: 'deleting', deleting: true }),
      claim({ name: 'refused', allocated: { status: 'False', reason: 'SharingConflict' } }),
      claim({ name: 'kept', vip: '198.51.100.201', allocated: { status: 'False', reason: 'OutsidePool' } }),
    ],
    allUnknown,
    new Map(),
  );
  const reasons = [...plan.claims.values()].map((c) => `${c.key}:${c.serve ? 'serve' : c.reason}`);
  t.same(reasons, [
    'tenant-a/deleting:Deleting',
    'tenant-a/kept:serve',
    'tenant-a/novip:NoVIP',
    'tenant-a/refused:NotAllocated',
  ]);
  t.same(
    plan.frontends.map((f) => f.vip),
    ['198.51.100.201'],
    'a VIP kept outside its pool is still served',
  );
});

t.test(
  'what is programmed is what the allocator approved: a spec ahead of it keeps the last approved copy served',
  async (t) => {
    const approved = claim({ generation: 3 });
    // The tenant edits its claim while the allocator is down: another backend (outside its ranges, say), another
    // port, Local traffic policy. Generation 4, approval still of generation 3.
    const ahead = claim({
      generation: 4,
      backends: [{ nodeName: 'evil', address: '10.0.0.1', ready: true }],
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 },
        { protocol: 'TCP', port: 6443, nodePort: 30443 },
      ],
      etp: 'Local',
      approved: approved.status!.approved!,
    });
    const plan = planFrontends([ahead], allUnknown, new Map());
    t.same(
      plan.frontends.map((f) => [f.port, f.externalTrafficPolicy, f.backends.map((b) => b.address)]),
      [[80, 'Cluster', ['10.200.0.11', '10.200.0.12']]],
      'the approved ports, policy and backends, none of the edit',
    );
    const p = plan.claims.get('tenant-a/default.web');
    if (p?.serve)
      t.equal(
        p.fingerprint,
        'tenant-a/default.web@3=198.51.100.200',
        'the fingerprint follows the approval, not the spec',
      );
    t.same(
      [...plannedTargets(plan)].sort(),
      ['tcp://10.200.0.11:30080', 'tcp://10.200.0.12:30080'],
      'only approved backends are probed',
    );
  },
);

t.test("a VIP without the allocator's approval is not served, and says so", async (t) => {
  const plan = planFrontends(
    [
      claim({ name: 'none', approved: null, allocated: { status: 'False', reason: 'OutsidePool' } }),
      claim({ name: 'other', approved: approvalOf(claim(), '198.51.100.9', true) }),
      claim({ name: 'reserved', approved: approvalOf(claim(), '198.51.100.200', false) }),
    ],
    allUnknown,
    new Map(),
  );
  t.same(plan.frontends, [], 'nothing programmed');
  const why = Object.fromEntries(
    [...plan.claims.values()].map((c) => [c.key, c.serve ? 'serve' : `${c.reason}: ${c.message}`]),
  );
  t.same(why, {
    'tenant-a/none': 'NotApproved: the allocator has approved nothing for status.vip 198.51.100.200',
    'tenant-a/other': 'NotApproved: status.vip 198.51.100.200 is not the VIP the allocator approved (198.51.100.9)',
    'tenant-a/reserved': 'NoPorts: the approved claim lists no ports',
  });
});

t.test(
  'a claim allocated before approvals existed (an upgrade) is served from its spec until the allocator approves it',
  async (t) => {
    const legacy = claim({ name: 'legacy', approved: null });
    const plan = planFrontends([legacy], allUnknown, new Map());
    t.same(
      plan.frontends.map((f) => [f.vip, f.port, f.backends.map((b) => b.address)]),
      [['198.51.100.200', 80, ['10.200.0.11', '10.200.0.12']]],
      'served from its spec',
    );
    const p = plan.claims.get('tenant-a/legacy');
    if (p?.serve) t.equal(p.fingerprint, 'tenant-a/legacy@1=198.51.100.200');
    t.same(
      planFrontends([claim({ name: 'legacy', approved: null, vip: undefined })], allUnknown, new Map()).frontends,
      [],
      'not without a VIP',
    );
  },
);

t.test('health: a failing backend is quarantined, a not-ready one terminating, the rest active', async (t) => {
  const c = claim({ backends: [...TWO_NODES, { nodeName: 'node-c', address: '10.200.0.13', ready: false }] });
  const plan = planFrontends([c], health({ 'tcp://10.200.0.12:30080': 'unhealthy' }), new Map());
  t.same(
    plan.frontends[0]!.backends.map((b) => b.state),
    ['active', 'quarantined', 'terminating'],
  );
  const p = plan.claims.get('tenant-a/default.web');
  if (p?.serve) t.equal(p.ports[0]!.selection, 'SomeUnhealthy');
});

t.test('all backends failing keeps the last selected set (memory carried between plans)', async (t) => {
  const c = claim();
  const first = planFrontends([c], health({ 'tcp://10.200.0.12:30080': 'unhealthy' }), new Map());
  const second = planFrontends(
    [c],
    health({ 'tcp://10.200.0.11:30080': 'unhealthy', 'tcp://10.200.0.12:30080': 'unhealthy' }),
    first.memory,
  );
  t.same(
    second.frontends[0]!.backends.map((b) => b.state),
    ['active', 'quarantined'],
  );
  const p = second.claims.get('tenant-a/default.web');
  if (p?.serve) t.equal(p.ports[0]!.selection, 'AllUnhealthyKeptLast');
});

t.test(
  'eTP Local uses the health check node port for every port; affinity and source ranges pass through',
  async (t) => {
    const c = claim({ etp: 'Local', healthCheckNodePort: 31999 });
    c.spec.sessionAffinity = { type: 'ClientIP', timeoutSeconds: 60 };
    c.spec.loadBalancerSourceRanges = ['192.0.2.0/24'];
    c.status!.approved = approvalOf(c, '198.51.100.200', true); // as the allocator approves them
    const plan = planFrontends([c], health({ 'http://10.200.0.11:31999/healthz': 'unhealthy' }), new Map());
    const f = plan.frontends[0]!;
    t.equal(f.externalTrafficPolicy, 'Local');
    t.same(f.sessionAffinity, { timeoutSeconds: 60 });
    t.same(f.sourceRanges, ['192.0.2.0/24']);
    t.same(
      f.backends.map((b) => b.state),
      ['quarantined', 'active'],
    );
  },
);

t.test('two claims on one frontend: the older keeps it, the newer is not served at all', async (t) => {
  const old = claim({ name: 'old', created: '2025-01-01T00:00:00Z' });
  const young = claim({
    name: 'young',
    created: '2025-01-01T00:00:05Z',
    ports: [
      { protocol: 'TCP', port: 443, nodePort: 30443 },
      { protocol: 'TCP', port: 80, nodePort: 30081 },
    ],
  });
  const plan = planFrontends([young, old], allUnknown, new Map());
  t.same(
    plan.frontends.map((f) => `${f.port}/${f.origin}`),
    ['80/tenant-a/old'],
  );
  const y = plan.claims.get('tenant-a/young');
  t.equal(y?.serve, false);
  if (y && !y.serve) {
    t.equal(y.reason, 'FrontendConflict');
    t.match(y.message, /198\.51\.100\.200:80\/TCP is already served for claim tenant-a\/old/);
  }
});

t.test(
  'the guard: backends a tenant may not use are neither programmed nor probed, whatever the claim status says',
  async (t) => {
    const guard = backendGuard({
      pools: [pool('public', ['198.51.100.0/24'])],
      tenants: [tenant('c1', 'tenant-a', ['10.200.0.0/16'])],
      // Inside the tenant's ranges (a misconfiguration), still refused.
      lbNodes: new Map([['10.200.0.99', 'lb-1']]),
    });
    // Allocated=True from an earlier generation: the allocator has not seen this spec (down, or behind).
    const c = claim({
      backends: [
        { nodeName: 'node-a', address: '10.200.0.11', ready: true },
        { nodeName: 'x', address: '127.0.0.1', ready: true },
        { nodeName: 'y', address: '10.96.0.1', ready: true },
        { nodeName: 'z', address: '198.51.100.7', ready: true },
        { nodeName: 'w', address: '10.200.0.99', ready: true },
      ],
    });
    const plan = planFrontends([c], allUnknown, new Map(), guard);
    t.same(
      plan.frontends.map((f) => f.backends.map((b) => b.address)),
      [['10.200.0.11']],
      'only the allowed backend is programmed',
    );
    t.same([...plannedTargets(plan)], ['tcp://10.200.0.11:30080'], 'and only it is health-checked');
    const p = plan.claims.get('tenant-a/default.web');
    t.ok(p?.serve, 'the claim itself stays served');
    if (p?.serve) {
      t.same(
        p.ports[0]!.backends.filter((b) => b.refused).map((b) => `${b.address} ${b.refused}`),
        [
          '127.0.0.1 is loopback 127.0.0.0/8, never a backend',
          '10.96.0.1 is outside ConsumerCluster c1 spec.allowedBackendCIDRs',
          '198.51.100.7 is in VIPPool public: a VIP is never a backend',
          '10.200.0.99 is LB node lb-1: traffic to it would loop into the LB cluster',
        ],
      );
    }
    t.same(
      planFrontends([c], allUnknown, new Map()).frontends[0]!.backends.length,
      5,
      'without a guard, all five (the old behaviour)',
    );
  },
);

t.test('the guard: a claim in a namespace no tenant owns, or naming another cluster, is not served', async (t) => {
  const guard = backendGuard({ pools: [], tenants: [tenant('c1', 'tenant-a', ['10.200.0.0/16'])], lbNodes: new Map() });
  const stray = claim({ ns: 'tenant-b' });
  const plan = planFrontends([stray, claim()], allUnknown, new Map(), guard);
  const p = plan.claims.get('tenant-b/default.web');
  t.same(p && !p.serve ? [p.reason, p.message] : undefined, [
    'TenantNotAllowed',
    'VIPClaim tenant-b/default.web: namespace tenant-b is not the tenantNamespace of any ConsumerCluster',
  ]);
  t.same(
    plan.frontends.map((f) => f.origin),
    ['tenant-a/default.web'],
    "the tenant's own claim is served",
  );
});

t.test(
  "the guard: a tenant's backend entries are counted oldest claim first; the claim that does not fit is not served",
  async (t) => {
    const guard = backendGuard({
      pools: [],
      tenants: [tenant('c1', 'tenant-a', ['10.200.0.0/16'], { limits: { backendEntries: 5 } })],
      lbNodes: new Map(),
    });
    const twoPorts = [
      { name: 'a', protocol: 'TCP' as const, port: 80, nodePort: 30080 },
      { name: 'b', protocol: 'TCP' as const, port: 443, nodePort: 30443 },
    ];
    // 2 ports × 2 backends = 4 entries each: the older fits (4 of 5), the newer would make 8.
    const older = claim({ name: 'old', ports: twoPorts, created: '2025-01-01T00:00:00Z' });
    const newer = claim({ name: 'new', vip: '198.51.100.201', ports: twoPorts, created: '2025-02-01T00:00:00Z' });
    const plan = planFrontends([newer, older], allUnknown, new Map(), guard);
    t.same(
      plan.frontends.map((f) => f.origin),
      ['tenant-a/old', 'tenant-a/old'],
    );
    const p = plan.claims.get('tenant-a/new');
    t.same(p && !p.serve ? [p.reason, p.message] : undefined, [
      'LimitExceeded',
      'ConsumerCluster c1 spec.limits.backendEntries is 5: its older claims take 4, this one needs 4 (ports × backends)',
    ]);
    const tooMany = claim({
      name: 'wide',
      backends: [...TWO_NODES, { nodeName: 'node-c', address: '10.200.0.13', ready: true }],
    });
    const narrow = backendGuard({
      pools: [],
      tenants: [tenant('c1', 'tenant-a', ['10.200.0.0/16'], { limits: { backendsPerClaim: 2 } })],
      lbNodes: new Map(),
    });
    const q = planFrontends([tooMany], allUnknown, new Map(), narrow).claims.get('tenant-a/wide');
    t.same(
      q && !q.serve ? q.reason : undefined,
      'LimitExceeded',
      'a claim over a per-claim limit is not served either',
    );
  },
);

t.test(
  "the guard: a VIP that is an LB node's address or special-purpose is never served (nor announced)",
  async (t) => {
    const guard = backendGuard({
      pools: [],
      tenants: [tenant('c1', 'tenant-a', ['10.200.0.0/16'])],
      lbNodes: new Map([['198.51.100.11', 'lb-1']]),
    });
    const plan = planFrontends(
      [
        claim({ name: 'node', vip: '198.51.100.11' }),
        claim({ name: 'lo', vip: '127.0.0.2' }),
        claim({ name: 'ok', vip: '198.51.100.200' }),
      ],
      allUnknown,
      new Map(),
      guard,
    );
    const why = (k: string) => {
      const p = plan.claims.get(k);
      return p && !p.serve ? `${p.reason}: ${p.message}` : 'served';
    };
    t.equal(
      why('tenant-a/node'),
      'VIPNotAllowed: status.vip 198.51.100.11 is the address of LB node lb-1: never programmed or announced',
    );
    t.match(why('tenant-a/lo'), /^VIPNotAllowed: status\.vip 127\.0\.0\.2 is loopback/);
    t.equal(why('tenant-a/ok'), 'served');
  },
);

t.test(
  'the guard judges a claim object once: the same object, the same verdict; a changed claim (a new object) anew',
  async (t) => {
    const guard = backendGuard({
      pools: [],
      tenants: [tenant('c1', 'tenant-a', ['10.200.0.0/16'])],
      lbNodes: new Map(),
    });
    const c = claim();
    const first = guard.check(c);
    t.equal(guard.check(c), first, 'cached for the object');
    const edited = claim({ backends: [...TWO_NODES, { nodeName: 'x', address: '127.0.0.1', ready: true }] });
    const again = guard.check(edited);
    t.ok(again.ok && again.refused.has('127.0.0.1'), 'the edited claim is judged on its own');
  },
);

t.test(
  "the guard: the LB cluster's Service range and apiserver, and the operator's deny-list, are refused with the rule",
  async (t) => {
    const { denied } = lbClusterDenyList({
      serviceCIDRs: [{ name: 'kubernetes', cidrs: ['10.96.0.0/12'] }],
      apiservers: ['10.200.0.250'],
      configured: {
        source: 'ConfigMap kube-lb-system/kube-lb-backend-deny-list key cidrs',
        entries: ['10.200.7.0/24'],
      },
    });
    // The tenant's range covers all three: the deny-list wins, as for LB nodes.
    const guard = backendGuard({
      pools: [],
      tenants: [tenant('c1', 'tenant-a', ['10.0.0.0/8'])],
      lbNodes: new Map(),
      denied,
    });
    const c = claim({
      backends: [
        { nodeName: 'node-a', address: '10.200.0.11', ready: true },
        { nodeName: 'x', address: '10.96.0.1', ready: true },
        { nodeName: 'y', address: '10.200.0.250', ready: true },
        { nodeName: 'z', address: '10.200.7.7', ready: true },
      ],
    });
    const plan = planFrontends([c], allUnknown, new Map(), guard);
    t.same(
      plan.frontends.map((f) => f.backends.map((b) => b.address)),
      [['10.200.0.11']],
      'only the consumer node is programmed',
    );
    const p = plan.claims.get('tenant-a/default.web');
    t.same(
      p?.serve ? p.ports[0]!.backends.filter((b) => b.refused).map((b) => `${b.address} ${b.refused}`) : undefined,
      [
        "10.96.0.1 is in the LB cluster's Service range 10.96.0.0/12 (ServiceCIDR kubernetes): never a backend",
        "10.200.0.250 is the LB cluster's apiserver 10.200.0.250 (EndpointSlice default/kubernetes): never a backend",
        '10.200.7.7 is in 10.200.7.0/24, denied by ConfigMap kube-lb-system/kube-lb-backend-deny-list key cidrs: never a backend',
      ],
    );
  },
);
