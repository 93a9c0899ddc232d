// The allocator's controller over time, against a real apiserver (webhook off, so the allocator's own checks
// are what is tested): pending claims are retried when capacity appears (a freed IP, a grown pool, a raised
// quota); a shrunk or deleted pool leaves its claims with their VIPs, marked OutsidePool with an Event; a
// restart keeps every VIP; overlapping pools are a condition and the younger hands out nothing.
import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { loadApiKubeConfig } from '../../src/kube/api-client.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { Ledger } from '../../lab/ledger.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { claim, pool, tenant, type ClaimOptions } from '../support/allocation-fixtures.ts';
import {
  allocatedOf,
  eventually,
  startAllocator,
  waitClaim,
  waitReady,
  type AllocatorProcess,
} from '../../lab/allocator.ts';

const ledger = Ledger.open('alloc-lifecycle');
const [lb] = await startClusters(ledger, [{ name: 'lb' }]);
const cluster = lb!;
t.teardown(() => cluster.stop());
const kc = loadApiKubeConfig({ kubeconfig: cluster.kubeconfigPath }, { timeoutMs: 30_000, userAgent: 'kube-lb-test' });
const pools = resourceClient<VIPPool>(kc, 'VIPPool');
const tenants = resourceClient<ConsumerCluster>(kc, 'ConsumerCluster');
const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
const core = kc.makeApiClient(k8s.CoreV1Api);
await core.createNamespace({ body: { metadata: { name: 'team' } } });

const strip = <T extends { metadata: { creationTimestamp?: string } }>(o: T): T => ({
  ...o,
  metadata: { ...o.metadata, creationTimestamp: undefined },
});
const create = async (name: string, opts: ClaimOptions = {}) => {
  const c = strip(claim('team', name, opts));
  delete (c as { status?: unknown }).status;
  await claims.create(c);
};
const reason = (want: string) => (c: VIPClaim) => allocatedOf(c)?.reason === want;
const setAddresses = (name: string, addresses: string[]) =>
  pools.update(name, undefined, (p) => ({ ...p, spec: { ...p.spec, addresses } }));

let allocator: AllocatorProcess = await startAllocator(ledger, cluster, { identity: 'one', webhook: false });
t.teardown(() => allocator.proc.stop());
await waitReady(allocator);

await pools.create(strip(pool('small', ['192.0.2.10-192.0.2.11'])));
await tenants.create(strip(tenant('team', 'team', ['10.10.0.0/16'], { maxVIPs: 3 })));

t.test('pending claims are retried when capacity appears', async (t) => {
  for (const n of ['c1', 'c2', 'c3']) await create(n);
  const c1 = await waitClaim(kc, 'team', 'c1', reason('Allocated'));
  const c2 = await waitClaim(kc, 'team', 'c2', reason('Allocated'));
  t.same([c1.status?.vip, c2.status?.vip].sort(), ['192.0.2.10', '192.0.2.11']);
  const c3 = await waitClaim(kc, 'team', 'c3', reason('PoolExhausted'));
  t.match(allocatedOf(c3)?.message, /every eligible VIPPool is full \(small: 2 addresses\)/);

  await claims.delete('c1', 'team');
  const retried = await waitClaim(kc, 'team', 'c3', reason('Allocated'));
  t.equal(retried.status?.vip, c1.status?.vip, 'a freed IP goes to the claim that waited');

  await create('c4');
  await waitClaim(kc, 'team', 'c4', reason('PoolExhausted'));
  await setAddresses('small', ['192.0.2.10-192.0.2.13']);
  t.equal((await waitClaim(kc, 'team', 'c4', reason('Allocated'))).status?.vip, '192.0.2.12', 'a grown pool serves it');

  await create('c5');
  const over = await waitClaim(kc, 'team', 'c5', reason('QuotaExceeded'));
  t.match(allocatedOf(over)?.message, /holds 3 VIPs, its spec.maxVIPs is 3/);
  await tenants.update('team', undefined, (x) => ({ ...x, spec: { ...x.spec, maxVIPs: 4 } }));
  t.equal(
    (await waitClaim(kc, 'team', 'c5', reason('Allocated'))).status?.vip,
    '192.0.2.13',
    'a raised quota serves it',
  );
});

t.test('a claim refused for a port clash gets the shared VIP when the clashing sharer leaves', async (t) => {
  const tcp = (port: number) => [{ protocol: 'TCP' as const, port, nodePort: 31000 + port }];
  await pools.update('small', undefined, (p) => ({
    ...p,
    spec: { ...p.spec, addresses: [...p.spec.addresses, '192.0.2.20/31'] },
  }));
  await tenants.update('team', undefined, (x) => ({ ...x, spec: { ...x.spec, maxVIPs: 5 } }));
  await create('s-http', { sharingKey: 'web', ports: tcp(80) });
  await create('s-https', { sharingKey: 'web', ports: tcp(443) });
  const http = await waitClaim(kc, 'team', 's-http', reason('Allocated'));
  await create('s-clash', { sharingKey: 'web', ports: tcp(80) });
  await waitClaim(kc, 'team', 's-clash', reason('SharingConflict'));
  await claims.delete('s-http', 'team');
  const shared = await waitClaim(kc, 'team', 's-clash', reason('Allocated'));
  t.equal(shared.status?.vip, http.status?.vip, 'retried at once, not at the next resync');
  for (const n of ['s-https', 's-clash']) await claims.delete(n, 'team');
  await tenants.update('team', undefined, (x) => ({ ...x, spec: { ...x.spec, maxVIPs: 4 } }));
  await pools.update('small', undefined, (p) => ({
    ...p,
    spec: { ...p.spec, addresses: p.spec.addresses.filter((a) => a !== '192.0.2.20/31') },
  }));
});

t.test('a shrunk or deleted pool marks its claims and revokes nothing', async (t) => {
  const before = new Map((await claims.list('team')).items.map((c) => [c.metadata.name!, c.status?.vip]));
  await setAddresses('small', ['192.0.2.10-192.0.2.11']);
  const outside = (await claims.list('team')).items.filter((c) =>
    ['192.0.2.12', '192.0.2.13'].includes(c.status?.vip ?? ''),
  );
  t.equal(outside.length, 2);
  for (const c of outside) {
    const marked = await waitClaim(kc, 'team', c.metadata.name!, reason('OutsidePool'));
    t.equal(marked.status?.vip, c.status?.vip, `${c.metadata.name} keeps ${c.status?.vip}`);
    t.equal(allocatedOf(marked)?.status, 'False');
    t.match(
      allocatedOf(marked)?.message,
      /no longer in any VIPPool this claim may use .*re-add the address to a pool, or recreate the Service/,
    );
  }
  const events = await eventually('OutsidePool Events', async () => {
    const list = await core.listNamespacedEvent({ namespace: 'team' });
    const hits = list.items.filter((e) => e.reason === 'OutsidePool' && e.type === 'Warning');
    return hits.length >= 2 ? hits : undefined;
  });
  t.ok(events.length >= 2, 'a Warning Event per marked claim');

  await pools.delete('small');
  for (const [name, vip] of before) {
    const c = await waitClaim(kc, 'team', name, reason('OutsidePool'));
    t.equal(c.status?.vip, vip, `${name} keeps ${vip} with its pool deleted`);
  }
  await pools.create(strip(pool('small', ['192.0.2.10-192.0.2.13'])));
  for (const [name, vip] of before) {
    const c = await waitClaim(kc, 'team', name, reason('Allocated'));
    t.equal(c.status?.vip, vip, `${name} is served again with ${vip} once the range is back`);
  }
});

t.test('a restarted allocator keeps every VIP', async (t) => {
  const before = new Map((await claims.list('team')).items.map((c) => [c.metadata.name!, c.status?.vip]));
  await allocator.proc.kill();
  allocator = await startAllocator(ledger, cluster, { identity: 'two', webhook: false });
  await waitReady(allocator);
  await create('after-restart');
  const fresh = await waitClaim(kc, 'team', 'after-restart', (c) => allocatedOf(c) !== undefined);
  t.equal(allocatedOf(fresh)?.reason, 'QuotaExceeded', 'the rebuilt allocator counts the quota from the claims');
  for (const [name, vip] of before) t.equal((await claims.get(name, 'team')).status?.vip, vip, `${name} kept ${vip}`);
});

t.test('overlapping pools: a condition on both, the younger hands out nothing', async (t) => {
  await pools.create(strip(pool('shadow', ['192.0.2.0/28'], { priority: 0 })));
  const shadow = await eventually('shadow status', async () => {
    const p = await pools.get('shadow');
    return p.status?.conditions?.some((c) => c.type === 'Overlap' && c.status === 'True') ? p : undefined;
  });
  const cond = (p: VIPPool, type: string) => p.status?.conditions?.find((c) => c.type === type);
  t.equal(cond(shadow, 'Ready')?.reason, 'Overlap');
  t.match(
    cond(shadow, 'Overlap')?.message,
    /VIPPool shadow spec\.addresses\[0\]: 192\.0\.2\.0\/28 overlaps VIPPool small spec\.addresses\[0\]/,
  );
  const small = await eventually('small status', async () => {
    const p = await pools.get('small');
    return cond(p, 'Overlap')?.status === 'True' ? p : undefined;
  });
  t.equal(cond(small, 'Ready')?.status, 'True', 'the older pool keeps working');
  await tenants.update('team', undefined, (x) => ({ ...x, spec: { ...x.spec, maxVIPs: 10 } }));
  const c = await waitClaim(kc, 'team', 'after-restart', reason('PoolExhausted'));
  t.notOk(c.status?.vip, 'priority 0 does not help the younger, overlapping pool');
});
