// The LB cluster's own addresses are never backends, against a real apiserver and the allocator with its webhook:
// a claim whose backend is the `kubernetes` Service's address (how anything in the cluster reaches the apiserver)
// is refused, naming the field and the rule (the ServiceCIDR the apiserver publishes), even though the tenant's
// ranges cover it. And the operator's deny-list ConfigMap applies as soon as it is written: the webhook refuses new
// claims there and the controller marks the claims already allocated there.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { apiMessage } from '../../src/kube/client.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { DENY_LIST_CONFIGMAP, DENY_LIST_KEY } from '../../src/core/allocation/deny-list.ts';
import { Ledger } from '../../lab/ledger.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { claim, pool, tenant } from '../support/allocation-fixtures.ts';
import { allocatedOf, eventually, startAllocator, waitClaim, waitReady } from '../../lab/allocator.ts';

const ledger = Ledger.open('deny-list');
const [lb] = await startClusters(ledger, [{ name: 'lb' }]);
const cluster = lb!;
t.teardown(() => cluster.stop());
const kc = cluster.kubeConfig;
const core = kc.makeApiClient(k8s.CoreV1Api);
const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
await core.createNamespace({ body: { metadata: { name: 'tenant-a' } } });

const allocator = await startAllocator(ledger, cluster, { identity: 'solo', webhook: true });
t.teardown(() => allocator.proc.stop());
await waitReady(allocator);

const fresh = (ns: string, name: string, address: string): VIPClaim => {
  const c = claim(ns, name, { backends: [{ nodeName: 'n1', address, ready: true }] });
  delete (c as { status?: unknown }).status;
  return { ...c, metadata: { ...c.metadata, creationTimestamp: undefined } };
};
const refusal = async (c: VIPClaim): Promise<string | undefined> => {
  try {
    await claims.create(c);
    return undefined;
  } catch (err) {
    return apiMessage(err);
  }
};

await resourceClient<VIPPool>(kc, 'VIPPool').create({ ...pool('p', ['192.0.2.0/26']), metadata: { name: 'p' } });
// A tenant whose ranges (wrongly) cover the LB cluster's Service range and more.
await resourceClient<ConsumerCluster>(kc, 'ConsumerCluster').create({
  ...tenant('tenant-a', 'tenant-a', ['10.0.0.0/8']),
  metadata: { name: 'tenant-a' },
});

t.test("a backend equal to the apiserver's address is refused, naming the field and the rule", async (t) => {
  const apiserverIP = (await core.readNamespacedService({ name: 'kubernetes', namespace: 'default' })).spec!.clusterIP!;
  // The webhook needs a moment to be called by the apiserver; until then the claim would be admitted (fail open).
  const message = await eventually('the webhook refuses it', async () => {
    const m = await refusal(fresh('tenant-a', `api-${Date.now()}`, apiserverIP));
    return m;
  });
  t.match(message, `spec.backends[0].address: ${apiserverIP} is in the LB cluster's Service range`);
  t.match(message, /\(ServiceCIDR kubernetes\): never a backend/);
  // The controller says the same for a claim that got past admission (created while the webhook was not asked).
  t.equal(await refusal(fresh('tenant-a', 'fine', '10.250.0.5')), undefined, 'a consumer node address is admitted');
  await waitClaim(kc, 'tenant-a', 'fine', (c) => allocatedOf(c)?.status === 'True');
});

t.test('the operator deny-list ConfigMap applies at once to admission and to allocated claims', async (t) => {
  await core.createNamespacedConfigMap({
    namespace: 'default', // the allocator's --namespace here
    body: {
      metadata: { name: DENY_LIST_CONFIGMAP },
      data: { [DENY_LIST_KEY]: '# the storage network\n10.250.0.0/24' },
    },
  });
  const message = await eventually('the webhook refuses a new one', async () =>
    refusal(fresh('tenant-a', `store-${Date.now()}`, '10.250.0.6')),
  );
  t.match(message, `10.250.0.6 is in 10.250.0.0/24, denied by ConfigMap default/${DENY_LIST_CONFIGMAP}`);
  // A claim already allocated there keeps its VIP reserved and is no longer Allocated (the speakers stop serving it).
  try {
    const marked = await waitClaim(kc, 'tenant-a', 'fine', (c) => allocatedOf(c)?.status === 'False');
    t.equal(allocatedOf(marked)?.reason, 'NotAllowed');
    t.match(
      allocatedOf(marked)?.message,
      `spec.backends[0].address: 10.250.0.5 is in 10.250.0.0/24, denied by ConfigMap default/${DENY_LIST_CONFIGMAP} key ${DENY_LIST_KEY}: never a backend`,
    );
  } catch (err) {
    t.comment(
      readFileSync(join(cluster.dir, 'allocator-solo.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('tenant-a/fine'))
        .slice(-10)
        .join('\n'),
    );
    t.comment(JSON.stringify((await claims.get('fine', 'tenant-a')).status));
    throw err;
  }
});
