// Tenant isolation with the real RBAC from deploy/tenant and a real ServiceAccount token: an agent's credentials
// reach its own tenant namespace's VIPClaims and its own ConsumerCluster status, and nothing of another tenant's.
// It cannot write claim status either, so it cannot hand itself an address.
import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import type { ConsumerCluster, VIPClaim } from '../../src/api/v1alpha1.ts';
import { apiStatus } from '../../src/kube/client.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { Ledger } from '../../lab/ledger.ts';
import { startClusters, type TestCluster } from '../../lab/controlplane.ts';
import { applyYaml, serviceAccountKubeconfig, tenantRbac } from '../support/agent-env.ts';

const ledger = Ledger.open('agent-isolation');
let lb: TestCluster;

const claim = (namespace: string, cluster: string, name: string): VIPClaim => ({
  apiVersion: 'kube-lb.io/v1alpha1',
  kind: 'VIPClaim',
  metadata: { name: `shop.${name}`, namespace, labels: { 'kube-lb.io/cluster': cluster } },
  spec: {
    service: { cluster, namespace: 'shop', name, uid: `uid-${name}` },
    ports: [{ protocol: 'TCP', port: 80, nodePort: 30080 }],
    backends: [{ nodeName: 'n1', address: '10.0.0.1', ready: true }],
    externalTrafficPolicy: 'Cluster',
  },
});

t.before(async () => {
  [lb] = (await startClusters(ledger, [{ name: 'lb' }])) as [TestCluster];
  for (const name of ['east', 'west']) {
    await applyYaml(lb.kubeConfig, tenantRbac(name, `tenant-${name}`));
    await resourceClient<ConsumerCluster>(lb.kubeConfig, 'ConsumerCluster').create({
      apiVersion: 'kube-lb.io/v1alpha1',
      kind: 'ConsumerCluster',
      metadata: { name },
      spec: { tenantNamespace: `tenant-${name}`, allowedBackendCIDRs: ['10.0.0.0/16'] },
    });
  }
  await resourceClient<VIPClaim>(lb.kubeConfig, 'VIPClaim').create(claim('tenant-west', 'west', 'theirs'));
});
t.teardown(() => lb?.stop());

/** The HTTP status a call ends with: 200 for success. */
async function status(call: () => Promise<unknown>): Promise<number | undefined> {
  try {
    await call();
    return 200;
  } catch (err) {
    return apiStatus(err);
  }
}

t.test("east's agent credentials: its own claims and heartbeat only", async (t) => {
  const path = await serviceAccountKubeconfig(lb, 'tenant-east', 'kube-lb-agent');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
  const clusters = resourceClient<ConsumerCluster>(kc, 'ConsumerCluster');
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const heartbeat = (name: string) => () =>
    custom.patchClusterCustomObjectStatus(
      {
        group: 'kube-lb.io',
        version: 'v1alpha1',
        plural: 'consumerclusters',
        name,
        body: { status: { lastHeartbeatTime: '2025-01-01T00:00:00Z' } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );

  // Its own tenant namespace: everything the agent needs.
  t.equal(
    await status(() => claims.create(claim('tenant-east', 'east', 'mine'))),
    200,
    'create a claim in its namespace',
  );
  t.equal(await status(() => claims.list('tenant-east')), 200, 'list its claims');
  const mine = await claims.get('shop.mine', 'tenant-east');
  t.equal(
    await status(() =>
      claims.replace({ ...mine, spec: { ...mine.spec, ports: [{ protocol: 'UDP', port: 53, nodePort: 30053 }] } }),
    ),
    200,
    'update its claim',
  );
  t.equal(await status(heartbeat('east')), 200, 'heartbeat to its own ConsumerCluster');
  t.equal(await status(() => clusters.get('east')), 200, 'read its own ConsumerCluster');

  // Not even its own claims' status: the allocator's word cannot be forged.
  t.equal(
    await status(() => claims.replaceStatus({ ...mine, status: { vip: '192.0.2.99' } })),
    403,
    'cannot write claim status',
  );

  // Another tenant: nothing.
  t.equal(await status(() => claims.list('tenant-west')), 403, "cannot list west's claims");
  t.equal(await status(() => claims.get('shop.theirs', 'tenant-west')), 403, "cannot read west's claim");
  t.equal(
    await status(() => claims.create(claim('tenant-west', 'west', 'intruder'))),
    403,
    "cannot create in west's namespace",
  );
  t.equal(await status(() => claims.delete('shop.theirs', 'tenant-west')), 403, "cannot delete west's claim");
  t.equal(await status(() => claims.list()), 403, 'cannot list claims across namespaces');
  t.equal(await status(heartbeat('west')), 403, "cannot write west's ConsumerCluster status");
  t.equal(await status(() => clusters.get('west')), 403, "cannot read west's ConsumerCluster");
  t.equal(await status(() => clusters.list()), 403, 'cannot list tenants');
  t.equal(
    await status(() => core.listNamespacedSecret({ namespace: 'tenant-east' })),
    403,
    'no Secrets, even in its own namespace',
  );

  const west = await resourceClient<VIPClaim>(lb.kubeConfig, 'VIPClaim').get('shop.theirs', 'tenant-west');
  t.same(west.spec.service.cluster, 'west', "west's claim untouched");
});
