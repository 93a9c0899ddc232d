// The allocator's specification as stories: each is a list of ordered rows on one allocator, "what happens"
// and "what it decides". Decisions print as `allocated VIP`, `held REASON VIP` or `refused REASON`.
import t, { type Test } from 'tap';
import { Allocator, type Decision } from '../../../src/core/allocation/allocator.ts';
import { claimStatus } from '../../../src/core/allocation/status.ts';
import { toClaimRequest, validate } from '../../../src/core/allocation/validate.ts';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../../src/api/v1alpha1.ts';
import { claim, clock, pool, tenant, type ClaimOptions } from '../../support/allocation-fixtures.ts';

/** One allocator with a mutable world of pools, tenants and claims around it. */
class World {
  readonly alloc = new Allocator();
  pools: VIPPool[] = [];
  tenants: ConsumerCluster[] = [];
  readonly claims = new Map<string, VIPClaim>();
  readonly now = clock();

  constructor(pools: VIPPool[], tenants: ConsumerCluster[]) {
    this.pools = pools;
    this.tenants = tenants;
    this.sync();
  }

  sync(): string {
    // The tenants here all use the fixtures' 10.10.0.0/16, by agreement (spec.sharedBackendsWith): these stories
    // are about VIPs, not backend ranges.
    const names = this.tenants.map((t) => t.metadata.name!);
    const agreed = this.tenants.map((t) => ({
      ...t,
      spec: { ...t.spec, sharedBackendsWith: names.filter((n) => n !== t.metadata.name) },
    }));
    this.alloc.setModel(validate({ pools: this.pools, tenants: agreed }));
    return 'ok';
  }

  setPools(pools: VIPPool[]): string {
    this.pools = pools;
    return this.sync();
  }

  setTenants(tenants: ConsumerCluster[]): string {
    this.tenants = tenants;
    return this.sync();
  }

  /** Creates or updates a claim and assigns; the decision is written back to its status as the controller would. */
  assign(ns: string, name: string, opts: ClaimOptions = {}): string {
    const key = `${ns}/${name}`;
    const prev = this.claims.get(key);
    const c = claim(ns, name, { created: prev?.metadata.creationTimestamp ?? this.now(), ...opts });
    if (prev?.status) c.status = prev.status;
    this.claims.set(key, c);
    const d = this.alloc.assign(toClaimRequest(c));
    c.status = claimStatus(c, d, WRITTEN).status;
    return show(d);
  }

  delete(ns: string, name: string): string {
    this.claims.delete(`${ns}/${name}`);
    return `freed ${this.alloc.release(`${ns}/${name}`) ?? 'nothing'}`;
  }

  /** A new allocator process: adopts every claim's status in age order, then decides for each. */
  restart(): World {
    const next = new World(this.pools, this.tenants);
    const sorted = [...this.claims.values()].sort((a, b) =>
      a.metadata.creationTimestamp! < b.metadata.creationTimestamp! ? -1 : 1,
    );
    for (const c of sorted) {
      next.claims.set(`${c.metadata.namespace}/${c.metadata.name}`, c);
      next.alloc.adopt(toClaimRequest(c));
    }
    return next;
  }

  /** Re-decides an existing claim without changing it (a resync). */
  recheck(ns: string, name: string): string {
    const c = this.claims.get(`${ns}/${name}`)!;
    const d = this.alloc.assign(toClaimRequest(c));
    c.status = claimStatus(c, d, WRITTEN).status;
    return show(d);
  }
}

/** Status is written as the controller writes it (the VIP, its pool, the approval and Allocated); time does not matter here. */
const WRITTEN = new Date('2026-01-01T00:00:00Z');

function show(d: Decision): string {
  if (d.kind === 'allocated') return `allocated ${d.vip}`;
  if (d.kind === 'held') return `held ${d.reason} ${d.vip}`;
  return `refused ${d.reason}`;
}

type Row = [what: string, act: () => string, expect: string];

function story(t: Test, rows: Row[]): void {
  for (const [what, act, expect] of rows) t.equal(act(), expect, what);
}

const T1 = tenant('t1', 't1');
const T2 = tenant('t2', 't2');

t.test('one small pool: lowest free first, idempotent, exhausted, freed', async (t) => {
  const w = new World([pool('p1', ['192.0.2.0/30'])], [T1, T2]);
  story(t, [
    ['s1 gets the lowest address', () => w.assign('t1', 's1'), 'allocated 192.0.2.0'],
    ['s1 asked again keeps it', () => w.assign('t1', 's1'), 'allocated 192.0.2.0'],
    [
      "s2 of the same tenant cannot grab s1's IP without a sharing key",
      () => w.assign('t1', 's2', { requestedIPs: ['192.0.2.0'] }),
      'refused SharingConflict',
    ],
    [
      's3 of another tenant cannot grab it at all',
      () => w.assign('t2', 's3', { requestedIPs: ['192.0.2.0'] }),
      'refused RequestedIPUnavailable',
    ],
    ['s3 asks for a free one', () => w.assign('t2', 's3', { requestedIPs: ['192.0.2.2'] }), 'allocated 192.0.2.2'],
    ['s2 now takes the lowest free', () => w.assign('t1', 's2'), 'allocated 192.0.2.1'],
    ['s4 takes the last', () => w.assign('t1', 's4'), 'allocated 192.0.2.3'],
    ['s5 finds the pool full', () => w.assign('t1', 's5'), 'refused PoolExhausted'],
    ['deleting s3 frees its VIP', () => w.delete('t2', 's3'), 'freed 192.0.2.2'],
    ['s5 retried gets it', () => w.assign('t1', 's5'), 'allocated 192.0.2.2'],
    ['deleting an unknown claim frees nothing', () => w.delete('t1', 'nope'), 'freed nothing'],
  ]);
});

t.test('IP sharing by sharing key', async (t) => {
  const w = new World([pool('p1', ['192.0.2.0/29'])], [T1, T2]);
  const tcp = (port: number) => [{ protocol: 'TCP' as const, port, nodePort: 30000 + port }];
  story(t, [
    [
      'web-http with key "web"',
      () => w.assign('t1', 'web-http', { sharingKey: 'web', ports: tcp(80) }),
      'allocated 192.0.2.0',
    ],
    [
      'web-https, same key, other port: same VIP',
      () => w.assign('t1', 'web-https', { sharingKey: 'web', ports: tcp(443) }),
      'allocated 192.0.2.0',
    ],
    [
      'dns over UDP/53 shares too',
      () => w.assign('t1', 'dns', { sharingKey: 'web', ports: [{ protocol: 'UDP', port: 53, nodePort: 30053 }] }),
      'allocated 192.0.2.0',
    ],
    [
      'TCP/80 again with the key: clear refusal',
      () => w.assign('t1', 'clash', { sharingKey: 'web', ports: tcp(80) }),
      'refused SharingConflict',
    ],
    [
      'another tenant with the same key gets its own VIP',
      () => w.assign('t2', 'web', { sharingKey: 'web', ports: tcp(80) }),
      'allocated 192.0.2.1',
    ],
    ['a claim without a key never shares', () => w.assign('t1', 'solo', { ports: tcp(8080) }), 'allocated 192.0.2.2'],
    [
      'requesting the shared VIP with the key works',
      () => w.assign('t1', 'metrics', { sharingKey: 'web', requestedIPs: ['192.0.2.0'], ports: tcp(9090) }),
      'allocated 192.0.2.0',
    ],
    [
      'requesting another IP for a key that is on .0 is refused',
      () => w.assign('t1', 'other', { sharingKey: 'web', requestedIPs: ['192.0.2.5'], ports: tcp(9091) }),
      'refused SharingConflict',
    ],
    [
      "requesting a key-less claim's VIP with a key is refused",
      () => w.assign('t1', 'x', { sharingKey: 'k2', requestedIPs: ['192.0.2.2'], ports: tcp(1) }),
      'refused SharingConflict',
    ],
    ['the VIP stays while one sharer remains', () => w.delete('t1', 'web-http'), 'freed nothing'],
    [
      'the clash is gone, so the refused claim now shares',
      () => w.assign('t1', 'clash', { sharingKey: 'web', ports: tcp(80) }),
      'allocated 192.0.2.0',
    ],
    [
      'a sharer changing to a clashing port keeps the VIP reserved but is not served',
      () => w.assign('t1', 'dns', { sharingKey: 'web', ports: tcp(443) }),
      'held SharingConflict 192.0.2.0',
    ],
    ['the innocent sharer is untouched', () => w.recheck('t1', 'web-https'), 'allocated 192.0.2.0'],
    [
      'changing back clears it',
      () => w.assign('t1', 'dns', { sharingKey: 'web', ports: [{ protocol: 'UDP', port: 53, nodePort: 30053 }] }),
      'allocated 192.0.2.0',
    ],
    [
      'leaving the group moves the claim to a VIP of its own',
      () => w.assign('t1', 'dns', { sharingKey: 'dns', ports: [{ protocol: 'UDP', port: 53, nodePort: 30053 }] }),
      'allocated 192.0.2.3',
    ],
  ]);
});

t.test('tenancy: namespace, cluster name and backends', async (t) => {
  const w = new World(
    [pool('p1', ['192.0.2.0/29'])],
    [T1, tenant('dup', 't1', ['10.0.0.0/8'], {}, { created: '2026-02-01T00:00:00Z' })],
  );
  story(t, [
    ['a namespace no tenant owns', () => w.assign('stranger', 's'), 'refused UnknownTenant'],
    [
      "a claim naming another cluster than its namespace's tenant",
      () => w.assign('t1', 's', { cluster: 't2' }),
      'refused NotAllowed',
    ],
    [
      'a claim naming the younger tenant that also wants namespace t1',
      () => w.assign('t1', 's', { cluster: 'dup' }),
      'refused NotAllowed',
    ],
    [
      'backends outside allowedBackendCIDRs',
      () => w.assign('t1', 's', { backends: [{ nodeName: 'n', address: '10.11.0.1', ready: true }] }),
      'refused NotAllowed',
    ],
    ['a good claim', () => w.assign('t1', 's'), 'allocated 192.0.2.0'],
    [
      'its backends move outside: the VIP is kept reserved, not served',
      () => w.assign('t1', 's', { backends: [{ nodeName: 'n', address: '192.168.1.1', ready: true }] }),
      'held NotAllowed 192.0.2.0',
    ],
    ['back inside: served again, same VIP', () => w.assign('t1', 's'), 'allocated 192.0.2.0'],
    ['the tenant is deleted: VIP kept, claim not served', () => w.setTenants([]), 'ok'],
    ['rechecked', () => w.recheck('t1', 's'), 'held UnknownTenant 192.0.2.0'],
    [
      'nobody else gets the reserved VIP meanwhile',
      () => {
        w.setTenants([T2]);
        return w.assign('t2', 'x', { requestedIPs: ['192.0.2.0'] });
      },
      'refused RequestedIPUnavailable',
    ],
    ['the tenant comes back', () => w.setTenants([T1, T2]), 'ok'],
    ['the claim is served with its old VIP', () => w.recheck('t1', 's'), 'allocated 192.0.2.0'],
  ]);
});

t.test('choosing a pool: priority, autoAssign, allocateTo, tenant poolSelector, avoidBuggyIPs', async (t) => {
  const gold = tenant('gold', 'gold', ['10.10.0.0/16'], {}, { labels: { tier: 'gold' } });
  const w = new World(
    [
      pool('cheap', ['198.51.100.0/30'], { priority: 2000 }),
      pool('first', ['192.0.2.255-192.0.3.1'], { priority: 10, avoidBuggyIPs: true }),
      pool('manual', ['203.0.113.0/30'], { autoAssign: false }),
      pool('prod-only', ['203.0.113.64/30'], { priority: 1, allocateTo: { namespaces: ['prod'] } }),
      pool('gold-only', ['203.0.113.128/30'], {
        priority: 0,
        allocateTo: { clusterSelector: { matchLabels: { tier: 'gold' } } },
      }),
      pool(
        'labelled',
        ['203.0.113.192/30'],
        { priority: 0, allocateTo: { serviceSelector: { matchExpressions: [{ key: 'public', operator: 'Exists' }] } } },
        { labels: { zone: 'dmz' } },
      ),
    ],
    [T1, gold, tenant('dmz', 'dmz', ['10.10.0.0/16'], { poolSelector: { matchLabels: { zone: 'dmz' } } })],
  );
  story(t, [
    ['lowest priority value first, skipping .255 and .0', () => w.assign('t1', 'a'), 'allocated 192.0.3.1'],
    ['that pool is now full: the next by priority', () => w.assign('t1', 'b'), 'allocated 198.51.100.0'],
    [
      'a requested .255 in an avoidBuggyIPs pool is refused',
      () => w.assign('t1', 'c', { requestedIPs: ['192.0.2.255'] }),
      'refused RequestedIPUnavailable',
    ],
    [
      'a non-autoAssign pool serves a requested IP',
      () => w.assign('t1', 'd', { requestedIPs: ['203.0.113.2'] }),
      'allocated 203.0.113.2',
    ],
    ['and a claim that names it', () => w.assign('t1', 'e', { pool: 'manual' }), 'allocated 203.0.113.0'],
    [
      'Services in namespace prod get the prod-only pool',
      () => w.assign('t1', 'f', { serviceNamespace: 'prod' }),
      'allocated 203.0.113.64',
    ],
    ['a gold tenant gets the gold-only pool', () => w.assign('gold', 'g'), 'allocated 203.0.113.128'],
    [
      'a Service labelled public gets the labelled pool',
      () => w.assign('t1', 'h', { serviceLabels: { public: 'yes' } }),
      'allocated 203.0.113.192',
    ],
    [
      'a tenant whose poolSelector picks only zone=dmz',
      () => w.assign('dmz', 'i', { serviceLabels: { public: '1' } }),
      'allocated 203.0.113.193',
    ],
    ['... a Service of it not labelled public gets nothing', () => w.assign('dmz', 'j'), 'refused NotAllowed'],
    ['a claim naming a pool that does not exist', () => w.assign('t1', 'k', { pool: 'nope' }), 'refused NotAllowed'],
    [
      'a claim naming a pool not allocated to its Service namespace',
      () => w.assign('t1', 'l', { pool: 'prod-only' }),
      'refused NotAllowed',
    ],
    [
      'a requested IP outside every pool',
      () => w.assign('t1', 'm', { requestedIPs: ['192.0.2.77'] }),
      'refused RequestedIPUnavailable',
    ],
    [
      'the first free of several requested IPs wins',
      () => w.assign('t1', 'n', { requestedIPs: ['203.0.113.2', '203.0.113.3'] }),
      'allocated 203.0.113.3',
    ],
  ]);
});

t.test('quota: maxVIPs counts distinct VIPs', async (t) => {
  const w = new World([pool('p1', ['192.0.2.0/28'])], [tenant('t1', 't1', ['10.10.0.0/16'], { maxVIPs: 2 })]);
  story(t, [
    ['first', () => w.assign('t1', 'a'), 'allocated 192.0.2.0'],
    ['second, with a sharing key', () => w.assign('t1', 'b', { sharingKey: 'k' }), 'allocated 192.0.2.1'],
    ['a third VIP is over quota', () => w.assign('t1', 'c'), 'refused QuotaExceeded'],
    [
      'sharing an existing VIP costs nothing',
      () => w.assign('t1', 'd', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 81, nodePort: 30081 }] }),
      'allocated 192.0.2.1',
    ],
    [
      'a requested IP is counted too',
      () => w.assign('t1', 'e', { requestedIPs: ['192.0.2.9'] }),
      'refused QuotaExceeded',
    ],
    ['the quota is raised', () => w.setTenants([tenant('t1', 't1', ['10.10.0.0/16'], { maxVIPs: 3 })]), 'ok'],
    ['the pending claim is retried', () => w.recheck('t1', 'c'), 'allocated 192.0.2.2'],
    [
      'lowered below use: nothing is revoked',
      () => w.setTenants([tenant('t1', 't1', ['10.10.0.0/16'], { maxVIPs: 1 })]),
      'ok',
    ],
    ['a holder is still allocated', () => w.recheck('t1', 'a'), 'allocated 192.0.2.0'],
    [
      'moving while over quota is refused; the old VIP stays',
      () => w.assign('t1', 'a', { requestedIPs: ['192.0.2.8'] }),
      'held QuotaExceeded 192.0.2.0',
    ],
    [
      'at quota, a move off an unshared VIP is allowed',
      () => w.setTenants([tenant('t1', 't1', ['10.10.0.0/16'], { maxVIPs: 3 })]),
      'ok',
    ],
    ['a moves', () => w.assign('t1', 'a', { requestedIPs: ['192.0.2.8'] }), 'allocated 192.0.2.8'],
  ]);
});

t.test('stability: restarts, pool edits, a shrunk and a deleted pool', async (t) => {
  let w = new World([pool('p1', ['192.0.2.0/29']), pool('p2', ['198.51.100.0/30'], { priority: 2000 })], [T1, T2]);
  story(t, [
    ['a', () => w.assign('t1', 'a'), 'allocated 192.0.2.0'],
    ['b', () => w.assign('t1', 'b'), 'allocated 192.0.2.1'],
    ['c', () => w.assign('t2', 'c'), 'allocated 192.0.2.2'],
    ['a leaves: .0 is free', () => w.delete('t1', 'a'), 'freed 192.0.2.0'],
    [
      'the allocator restarts',
      () => {
        w = w.restart();
        return 'ok';
      },
      'ok',
    ],
    ['b keeps its VIP', () => w.recheck('t1', 'b'), 'allocated 192.0.2.1'],
    ['c keeps its VIP', () => w.recheck('t2', 'c'), 'allocated 192.0.2.2'],
    ['a newcomer gets the freed .0, not a held one', () => w.assign('t1', 'd'), 'allocated 192.0.2.0'],
    [
      'the pool is rewritten as a range that still contains them',
      () => w.setPools([pool('p1', ['192.0.2.1-192.0.2.6']), w.pools[1]!]),
      'ok',
    ],
    ['d, now outside p1, keeps its VIP and is told so', () => w.recheck('t1', 'd'), 'held OutsidePool 192.0.2.0'],
    ['b is unaffected', () => w.recheck('t1', 'b'), 'allocated 192.0.2.1'],
    ['p1 is deleted', () => w.setPools([w.pools[1]!]), 'ok'],
    ['b keeps its VIP, marked', () => w.recheck('t1', 'b'), 'held OutsidePool 192.0.2.1'],
    ['new claims use what is left', () => w.assign('t1', 'e'), 'allocated 198.51.100.0'],
    ['the operator re-adds the range', () => w.setPools([pool('p1', ['192.0.2.0/29']), w.pools[0]!]), 'ok'],
    ['b is allocated again, same VIP', () => w.recheck('t1', 'b'), 'allocated 192.0.2.1'],
    [
      'the operator restarts the allocator again',
      () => {
        w = w.restart();
        return 'ok';
      },
      'ok',
    ],
    ['d keeps .0 after all this', () => w.recheck('t1', 'd'), 'allocated 192.0.2.0'],
  ]);
});

t.test('two claims recorded with one VIP (a split brain or a restore): the older keeps it', async (t) => {
  const w = new World([pool('p1', ['192.0.2.0/29'])], [T1, T2]);
  w.claims.set('t1/old', claim('t1', 'old', { created: '2026-01-01T00:00:01Z', vip: '192.0.2.3' }));
  w.claims.set('t2/new', claim('t2', 'new', { created: '2026-01-01T00:00:02Z', vip: '192.0.2.3' }));
  const r = w.restart();
  story(t, [
    ['the older claim', () => r.recheck('t1', 'old'), 'allocated 192.0.2.3'],
    ['the younger one gets a new VIP', () => r.recheck('t2', 'new'), 'allocated 192.0.2.0'],
  ]);
});

t.test(
  'an upgrade moves no VIP: a claim allocated before approvals existed (Allocated=True, no approval) is adopted',
  async (t) => {
    let w = new World([pool('p1', ['192.0.2.0/29'])], [T1]);
    const legacy = claim('t1', 'old', { vip: '192.0.2.4', approved: false });
    legacy.status = {
      ...legacy.status,
      conditions: [
        {
          type: 'Allocated',
          status: 'True',
          reason: 'Allocated',
          message: '',
          lastTransitionTime: '2025-01-01T00:00:00Z',
        },
      ],
    };
    w.claims.set('t1/old', legacy);
    w = w.restart();
    t.same(w.alloc.holdersOf('192.0.2.4'), ['t1/old'], 'adopted');
    story(t, [
      ['it keeps its VIP', () => w.recheck('t1', 'old'), 'allocated 192.0.2.4'],
      ['and is approved on it', () => w.claims.get('t1/old')!.status!.approved!.vip, '192.0.2.4'],
      ['a newcomer gets another', () => w.assign('t1', 'new'), 'allocated 192.0.2.0'],
    ]);
  },
);

t.test(
  'only a VIP the allocator recorded itself (status.approved.vip) is adopted: a forged status.vip is no record',
  async (t) => {
    let w = new World([pool('p1', ['192.0.2.0/29'])], [T1, T2]);
    story(t, [
      ['a', () => w.assign('t1', 'a'), 'allocated 192.0.2.0'],
      ['b', () => w.assign('t1', 'b'), 'allocated 192.0.2.1'],
    ]);
    // With the speakers' token (or any other status write): a's VIP onto an older claim of another tenant, a free pool
    // address onto another, and b's status.vip moved while its approval still names .1.
    w.claims.set('t2/x', claim('t2', 'x', { created: '2025-01-01T00:00:00Z', vip: '192.0.2.0', approved: false }));
    w.claims.set('t2/y', claim('t2', 'y', { created: '2025-01-01T00:00:01Z', vip: '192.0.2.5', approved: false }));
    const b = w.claims.get('t1/b')!;
    b.status = { ...b.status, vip: '192.0.2.6' };
    w = w.restart();
    t.same(
      w.alloc.holdersOf('192.0.2.0'),
      ['t1/a'],
      "the older claim showing a's VIP without an approval does not take it",
    );
    t.same(w.alloc.holdersOf('192.0.2.5'), [], 'a forged free address is reserved for nobody');
    t.same(w.alloc.holdersOf('192.0.2.6'), [], "nor is the address forged into b's status.vip");
    story(t, [
      ['a keeps its VIP', () => w.recheck('t1', 'a'), 'allocated 192.0.2.0'],
      [
        'b keeps the VIP it was approved, whatever its status.vip says',
        () => w.recheck('t1', 'b'),
        'allocated 192.0.2.1',
      ],
      ["b's status.vip is written back", () => w.claims.get('t1/b')!.status!.vip!, '192.0.2.1'],
      ['x is decided afresh, as a claim with no VIP', () => w.recheck('t2', 'x'), 'allocated 192.0.2.2'],
      ['y too: the lowest free address, not the one it showed', () => w.recheck('t2', 'y'), 'allocated 192.0.2.3'],
      ['y is approved on it', () => w.claims.get('t2/y')!.status!.approved!.vip, '192.0.2.3'],
    ]);
  },
);

t.test("a claim's own spec moves it; an impossible move keeps the old VIP", async (t) => {
  const w = new World([pool('p1', ['192.0.2.0/29']), pool('p2', ['198.51.100.0/30'], { autoAssign: false })], [T1, T2]);
  story(t, [
    ['a', () => w.assign('t1', 'a'), 'allocated 192.0.2.0'],
    ['x of another tenant holds .5', () => w.assign('t2', 'x', { requestedIPs: ['192.0.2.5'] }), 'allocated 192.0.2.5'],
    ['a asks for .4', () => w.assign('t1', 'a', { requestedIPs: ['192.0.2.4'] }), 'allocated 192.0.2.4'],
    ['.0 was released by the move', () => w.assign('t1', 'b'), 'allocated 192.0.2.0'],
    [
      "a asks for x's .5: refused, but a keeps .4",
      () => w.assign('t1', 'a', { requestedIPs: ['192.0.2.5'] }),
      'held RequestedIPUnavailable 192.0.2.4',
    ],
    ['a asks for pool p2', () => w.assign('t1', 'a', { pool: 'p2' }), 'allocated 198.51.100.0'],
  ]);
});

t.test('overlapping pools: the older keeps its addresses, the younger hands out none', async (t) => {
  const w = new World(
    [
      pool('young', ['192.0.2.0/24'], { priority: 0 }, { created: '2026-03-01T00:00:00Z' }),
      pool('old', ['192.0.2.128/25', '198.51.100.0/31'], {}, { created: '2026-01-01T00:00:00Z' }),
    ],
    [T1],
  );
  story(t, [
    ['the young pool has priority 0 but is not used', () => w.assign('t1', 'a'), 'allocated 192.0.2.128'],
    ['a claim naming the young pool is refused', () => w.assign('t1', 'b', { pool: 'young' }), 'refused NotAllowed'],
  ]);
});

t.test('IPv6 pools and ranges allocate too', async (t) => {
  const w = new World([pool('v6', ['2001:db8::ff-2001:db8::101'])], [tenant('t1', 't1', ['fd00::/64'])]);
  const v6backend = [{ nodeName: 'n', address: 'fd00::5', ready: true }];
  story(t, [
    ['first', () => w.assign('t1', 'a', { backends: v6backend }), 'allocated 2001:db8::ff'],
    [
      'second crosses the group boundary',
      () => w.assign('t1', 'b', { backends: v6backend }),
      'allocated 2001:db8::100',
    ],
    [
      'a requested address in a non-canonical spelling',
      () => w.assign('t1', 'c', { backends: v6backend, requestedIPs: ['2001:DB8:0::101'] }),
      'allocated 2001:db8::101',
    ],
    ['full', () => w.assign('t1', 'd', { backends: v6backend }), 'refused PoolExhausted'],
  ]);
});
