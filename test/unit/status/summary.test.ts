// `kube-lb status` rows from a snapshot: the first condition that is not True names the state; programmed
// counts against live LB nodes; tenants with quota and heartbeat age; pools with usage.
import t from 'tap';
import type { Condition, ConsumerCluster, VIPClaim, VIPPool } from '../../../src/api/v1alpha1.ts';
import { age, summarize, summaryTables } from '../../../src/core/status/summary.ts';
import { render, type View } from '../../../src/cli/output.ts';

const asText = (s: ReturnType<typeof summarize>, wide: boolean) =>
  render(wide ? 'wide' : 'table', { data: s, names: [], human: (w) => summaryTables(s, w) } satisfies View);

const now = new Date('2026-01-01T12:00:00Z');
const cond = (type: string, status: 'True' | 'False', reason = type): Condition => ({
  type,
  status,
  reason,
  message: `${type} ${status}`,
  lastTransitionTime: '2026-01-01T11:00:00Z',
});
const allTrue = ['Allocated', 'Programmed', 'Announced', 'BackendsHealthy'].map((x) => cond(x, 'True'));

function claim(tenant: string, ns: string, name: string, status: VIPClaim['status']): VIPClaim {
  return {
    metadata: { name: `${ns}.${name}`, namespace: `kube-lb-tenant-${tenant}` },
    spec: {
      service: { cluster: tenant, namespace: ns, name, uid: 'u' },
      ports: [
        { protocol: 'TCP', port: 80, nodePort: 30080 },
        { protocol: 'UDP', port: 53, nodePort: 30053 },
      ],
      backends: [
        { nodeName: 'a', address: '10.0.0.1', ready: true },
        { nodeName: 'b', address: '10.0.0.2', ready: true },
      ],
      externalTrafficPolicy: 'Cluster',
    },
    ...(status ? { status } : {}),
  };
}

t.test('claims, tenants and pools', async (t) => {
  const claims = [
    claim('shop', 'web', 'front', {
      vip: '198.51.100.10',
      pool: 'public',
      announcedBy: 'lb-2',
      programmedNodes: ['lb-1', 'lb-2', 'lb-3'],
      backendHealth: [
        { address: '10.0.0.1', healthy: true },
        { address: '10.0.0.2', healthy: false },
      ],
      conditions: allTrue,
    }),
    claim('bank', 'pay', 'api', { conditions: [cond('Allocated', 'False', 'PoolExhausted')] }),
    claim('shop', 'web', 'new', undefined),
  ];
  const tenants: ConsumerCluster[] = [
    {
      metadata: { name: 'shop' },
      spec: { tenantNamespace: 'kube-lb-tenant-shop', allowedBackendCIDRs: [], maxVIPs: 5 },
      status: { vips: 1, lastHeartbeatTime: '2026-01-01T11:59:30Z' },
    },
    { metadata: { name: 'bank' }, spec: { tenantNamespace: 'kube-lb-tenant-bank', allowedBackendCIDRs: [] } },
  ];
  const pools: VIPPool[] = [
    { metadata: { name: 'public' }, spec: { addresses: ['198.51.100.0/28'] }, status: { capacity: 16, allocated: 1 } },
  ];
  const s = summarize({ claims, tenants, pools, lbNodes: 3, now });
  t.same(
    s.claims.map((r) => [r.tenant, r.service, r.vip, r.owner, r.programmed, r.health, r.state]),
    [
      ['bank', 'pay/api', '-', '-', '0/3', '-/2', 'Allocated=False PoolExhausted'],
      ['shop', 'web/front', '198.51.100.10', 'lb-2', '3/3', '1/2', 'Ready'],
      ['shop', 'web/new', '-', '-', '0/3', '-/2', 'Allocated=Unknown'],
    ],
  );
  t.same(
    s.tenants.map((r) => [r.name, r.claims, r.vips, r.heartbeat]),
    [
      ['bank', 1, '0/∞', '-'],
      ['shop', 2, '1/5', '30s'],
    ],
  );
  t.same(s.pools, [{ name: 'public', addresses: '198.51.100.0/28', used: '1/16' }]);
  const text = asText(s, false);
  t.match(text, /^TENANT\s+SERVICE\s+VIP\s+OWNER\s+PROGRAMMED\s+HEALTHY\s+STATE\n/);
  t.match(text, /shop\s+web\/front\s+198\.51\.100\.10\s+lb-2\s+3\/3\s+1\/2\s+Ready/);
  t.match(asText(s, true), /POOL\s+PORTS\s+MESSAGE/);
  t.match(asText(summarize({ claims: [], tenants: [], pools: [], lbNodes: undefined, now }), false), /^No claims\./);
});

t.test("ages read like kubectl's", async (t) => {
  t.equal(age(undefined, now), '-');
  t.equal(age('2026-01-01T11:59:00Z', now), '60s');
  t.equal(age('2026-01-01T11:00:00Z', now), '60m');
  t.equal(age('2025-12-31T12:00:00Z', now), '24h');
  t.equal(age('2025-12-01T12:00:00Z', now), '31d');
});
