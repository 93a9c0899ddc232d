// Inventory counts behind the allocator's gauges and the speaker's map-entry gauge.
import t from 'tap';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../../src/api/v1alpha1.ts';
import { claimConditionCounts, poolUsage, tenantUsage } from '../../../src/core/metrics/inventory.ts';
import { mapEntryCounts } from '../../../src/core/metrics/map-entries.ts';
import type { MapsSnapshot, Ownership } from '../../../src/core/dataplane/ownership.ts';

const claim = (tenant: string, conditions: Array<[string, 'True' | 'False']>): VIPClaim => ({
  metadata: { name: 'x', namespace: `ns-${tenant}` },
  spec: {
    service: { cluster: tenant, namespace: 'a', name: 'b', uid: 'u' },
    ports: [],
    backends: [],
    externalTrafficPolicy: 'Cluster',
  },
  status: {
    conditions: conditions.map(([type, status]) => ({
      type,
      status,
      reason: 'R',
      message: '',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    })),
  },
});

t.test('claims by tenant, condition and status; unreported conditions are Unknown', async (t) => {
  const counts = claimConditionCounts([
    claim('a', [
      ['Allocated', 'True'],
      ['Programmed', 'False'],
    ]),
    claim('a', [['Allocated', 'True']]),
  ]);
  const get = (condition: string, status: string) =>
    counts.find((c) => c.condition === condition && c.status === status)?.count;
  t.equal(get('Allocated', 'True'), 2);
  t.equal(get('Programmed', 'False'), 1);
  t.equal(get('Programmed', 'Unknown'), 1);
  t.equal(get('BackendsHealthy', 'Unknown'), 2);
  t.equal(
    counts.reduce((n, c) => n + c.count, 0),
    8,
    'four conditions per claim',
  );
});

t.test('pools and tenants', async (t) => {
  const pools: VIPPool[] = [
    { metadata: { name: 'p' }, spec: { addresses: [] }, status: { capacity: 16, allocated: 3 } },
    { metadata: { name: 'new' }, spec: { addresses: [] } },
  ];
  t.same(poolUsage(pools), [
    { pool: 'p', capacity: 16, allocated: 3 },
    { pool: 'new', capacity: 0, allocated: 0 },
  ]);
  const tenants: ConsumerCluster[] = [
    {
      metadata: { name: 'a' },
      spec: { tenantNamespace: 'x', allowedBackendCIDRs: [] },
      status: { vips: 2, lastHeartbeatTime: '2026-01-01T00:00:10Z' },
    },
    { metadata: { name: 'b' }, spec: { tenantNamespace: 'y', allowedBackendCIDRs: [] } },
  ];
  t.same(tenantUsage(tenants), [
    { tenant: 'a', vips: 2, heartbeatSeconds: 1767225610 },
    { tenant: 'b', vips: 0, heartbeatSeconds: undefined },
  ]);
});

t.test('map entries by owner', async (t) => {
  const packed = (keySize: number, keys: number[][]) => ({
    count: keys.length,
    keySize,
    valueSize: 0,
    keys: new Uint8Array(keys.flat()),
    values: new Uint8Array(0),
  });
  const snapshot = {
    services: packed(12, [new Array(12).fill(0), new Array(12).fill(1), new Array(12).fill(2)]),
    backends: packed(4, [
      [1, 0, 0, 0],
      [0xff, 0xff, 0xff, 0xff],
    ]),
    revNat: packed(2, [
      [0xff, 0x00],
      [0x00, 0x01],
    ]),
    idTable: packed(8, []),
    backendIdTable: packed(8, []),
  } as unknown as MapsSnapshot;
  const own = {
    ourServiceEntry: new Uint8Array([0, 1, 1]),
    ourBackendIds: new Set([0xffffffff]),
    ourServiceIds: new Set([0xff00]),
  } as unknown as Ownership;
  t.same(mapEntryCounts(snapshot, own), [
    { map: 'services', owner: 'kube-lb', count: 2 },
    { map: 'services', owner: 'other', count: 1 },
    { map: 'backends', owner: 'kube-lb', count: 1 },
    { map: 'backends', owner: 'other', count: 1 },
    { map: 'revNat', owner: 'kube-lb', count: 1 },
    { map: 'revNat', owner: 'other', count: 1 },
  ]);
});
