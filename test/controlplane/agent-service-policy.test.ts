// The consumer agent's Service policy (deploy/lb-consumer-cluster/optional/agent-service-policy.yaml) in a real
// apiserver, with the agent's real ServiceAccount token (deploy/lb-consumer-cluster/10-agent-rbac.yaml) and the
// agent's own write functions (src/agent/ports.ts): it may set the status and its finalizer of a LoadBalancer
// Service of its class, and take its entries back from a Service that stopped being its; it may not write the
// status of a ClusterIP Service or of another class's Service, change spec.selector, labels, or any finalizer
// but its own, nor add its finalizer where it serves nothing. The cluster admin is not affected.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { servicePort, serviceView } from '../../src/agent/ports.ts';
import { LOAD_BALANCER_CLASS } from '../../src/api/v1alpha1.ts';
import { FINALIZER } from '../../src/core/agent/naming.ts';
import type { ServiceStatusView } from '../../src/core/agent/views.ts';
import { apiMessage, apiStatus } from '../../src/kube/client.ts';
import { applyYaml, eventually, repoRoot, serviceAccountKubeconfig } from '../support/agent-env.ts';
import { ensureNamespace, lbService } from '../../lab/consumer-objects.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { Ledger } from '../../lab/ledger.ts';
import { SERVICE_POLICY_FILE } from '../support/agent-service-policy.ts';

const ledger = Ledger.open('agent-service-policy');
const [consumer] = await startClusters(ledger, [{ name: 'consumer', installCRDs: false }]);
const cluster = consumer!;
t.teardown(() => cluster.stop());
for (const f of [
  'deploy/lb-consumer-cluster/00-namespace.yaml',
  'deploy/lb-consumer-cluster/10-agent-rbac.yaml',
  SERVICE_POLICY_FILE,
]) {
  await applyYaml(cluster.kubeConfig, readFileSync(join(repoRoot, f), 'utf8'));
}
const admin = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
const agentKc = new k8s.KubeConfig();
agentKc.loadFromFile(await serviceAccountKubeconfig(cluster, 'kube-lb-system', 'kube-lb-agent'));
const agentCore = agentKc.makeApiClient(k8s.CoreV1Api);
const agent = servicePort(agentKc);

const NS = 'shop';
await ensureNamespace(admin, NS);
const foreignFinalizer = 'example.com/keep';
const web = lbService(NS, 'web');
await admin.createNamespacedService({
  namespace: NS,
  body: { ...web, metadata: { ...web.metadata, finalizers: [foreignFinalizer] } },
});
await admin.createNamespacedService({
  namespace: NS,
  body: lbService(NS, 'other-class', { loadBalancerClass: 'example.com/lb' }),
});
await admin.createNamespacedService({
  namespace: NS,
  body: { metadata: { namespace: NS, name: 'plain' }, spec: { ports: [{ port: 80 }], selector: { app: 'plain' } } },
});
const read = async (name: string) => serviceView(await admin.readNamespacedService({ name, namespace: NS }));

const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const served = (ip: string): ServiceStatusView => ({
  loadBalancer: { ingress: [{ ip, ipMode: 'Proxy' }] },
  conditions: [
    {
      type: 'kube-lb.io/Allocated',
      status: 'True',
      reason: 'Allocated',
      message: `VIP ${ip}`,
      lastTransitionTime: now,
    },
  ],
});

// What the apiserver's own validation lets through on a Service that is not type LoadBalancer (no ingress there).
const conditionsOnly = (ip: string): ServiceStatusView => ({ loadBalancer: {}, conditions: served(ip).conditions });

/** The apiserver's refusal of `op` by the policy: 403 with the policy's name in the message. */
async function refused(op: () => Promise<unknown>): Promise<string> {
  try {
    await op();
  } catch (err) {
    if (apiStatus(err) === 403 && /kube-lb-agent-services/.test(apiMessage(err))) return apiMessage(err);
    throw err;
  }
  throw new Error('allowed');
}

// The apiserver picks up a new policy and binding asynchronously: wait for the first refusal. Each try writes a
// condition the Service does not have yet (a try that got through before the policy was in force is kept, and
// repeating it would be a no-op the policy allows).
let attempt = 0;
await eventually(
  'the policy in force',
  async () => refused(async () => agent.setStatus(await read('plain'), conditionsOnly(`198.51.100.${++attempt}`))),
  60_000,
);

t.test('its own Service: status and its finalizer', async (t) => {
  const withStatus = await agent.setStatus(await read('web'), served('198.51.100.7'));
  t.equal(
    withStatus.status?.loadBalancer?.ingress?.[0]?.ip,
    '198.51.100.7',
    'status of a LoadBalancer Service of its class',
  );
  const withFinalizer = await agent.setFinalizers(withStatus, [...(withStatus.metadata?.finalizers ?? []), FINALIZER]);
  t.same(withFinalizer.metadata?.finalizers, [foreignFinalizer, FINALIZER], 'its finalizer added beside the other');
  t.equal(withFinalizer.spec?.loadBalancerClass, LOAD_BALANCER_CLASS);
});

t.test('what it may not do', async (t) => {
  t.match(
    await refused(async () => agent.setStatus(await read('plain'), conditionsOnly('198.51.100.200'))),
    /not a LoadBalancer Service of class/,
    'status (conditions) of a ClusterIP Service',
  );
  t.match(
    await refused(async () => agent.setStatus(await read('other-class'), served('198.51.100.9'))),
    /not a LoadBalancer Service of class/,
    "status of another class's Service",
  );
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  t.match(
    await refused(() =>
      agentCore.patchNamespacedService(
        { name: 'web', namespace: NS, body: { spec: { selector: { app: 'elsewhere' } } } },
        mergePatch,
      ),
    ),
    /may not change the spec/,
    'spec.selector of its own Service',
  );
  t.match(
    await refused(() =>
      agentCore.patchNamespacedService(
        { name: 'web', namespace: NS, body: { metadata: { labels: { owner: 'agent' } } } },
        mergePatch,
      ),
    ),
    /labels, annotations or owner references/,
    'labels',
  );
  t.match(
    await refused(() =>
      agentCore.patchNamespacedServiceStatus(
        { name: 'web', namespace: NS, body: { metadata: { annotations: { a: 'b' } } } },
        mergePatch,
      ),
    ),
    /labels, annotations or owner references/,
    'annotations through the status subresource',
  );
  t.match(
    await refused(async () => agent.setFinalizers(await read('web'), [FINALIZER])),
    /no finalizer but/,
    'removing another finalizer',
  );
  t.match(
    await refused(async () =>
      agent.setFinalizers(await read('web'), [foreignFinalizer, FINALIZER, 'example.com/mine']),
    ),
    /no finalizer but/,
    'adding another finalizer',
  );
  t.match(
    await refused(async () => agent.setFinalizers(await read('plain'), [FINALIZER])),
    /add its finalizer only to/,
    'its finalizer on a ClusterIP Service',
  );
  t.same(
    (await admin.readNamespacedService({ name: 'web', namespace: NS })).spec?.selector,
    { app: 'web' },
    'nothing changed',
  );
});

t.test('a Service that stopped being its: it may take its entries back, nothing more', async (t) => {
  // As after a class change: the admin moves the Service to ClusterIP while the agent's VIP and finalizer are on it.
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  await admin.patchNamespacedService(
    {
      name: 'web',
      namespace: NS,
      body: {
        spec: {
          type: 'ClusterIP',
          loadBalancerClass: null,
          externalTrafficPolicy: null,
          allocateLoadBalancerNodePorts: null,
        },
      },
    },
    mergePatch,
  );
  const moved = await read('web');
  t.equal(moved.spec?.type, 'ClusterIP');
  t.same(
    moved.status?.loadBalancer?.ingress ?? [],
    [],
    'the apiserver dropped the ingress with the type (its validation allows none on ClusterIP)',
  );
  t.match(
    await refused(() => agent.setStatus(moved, conditionsOnly('198.51.100.8'))),
    /only remove its entries/,
    'no new condition on it',
  );
  const released = await agent.setStatus(moved, { loadBalancer: {}, conditions: [] });
  t.same(released.status?.conditions ?? [], [], 'its conditions taken back');
  const after = await read('web');
  const gone = await agent.setFinalizers(
    after,
    (after.metadata?.finalizers ?? []).filter((f) => f !== FINALIZER),
  );
  t.same(gone.metadata?.finalizers, [foreignFinalizer], 'its finalizer removed from a Service it no longer serves');
});

t.test('the policy binds the agent alone', async (t) => {
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const patched = await admin.patchNamespacedService(
    { name: 'web', namespace: NS, body: { metadata: { finalizers: null }, spec: { selector: { app: 'new' } } } },
    mergePatch,
  );
  t.same(patched.spec?.selector, { app: 'new' }, 'the admin changes spec and finalizers as before');
});
