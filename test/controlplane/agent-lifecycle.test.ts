// The agent against two real clusters, as a real process with its real RBAC on both sides: a LoadBalancer
// Service gets a VIP in its status, follows port, node and endpoint changes, and releases its VIP when deleted;
// a Service of another class is never touched.
import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import type { ConsumerCluster, VIPClaim } from '../../src/api/v1alpha1.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { FINALIZER } from '../../src/core/agent/naming.ts';
import { SERVICE_CONDITIONS } from '../../src/core/agent/status.ts';
import { Ledger } from '../../lab/ledger.ts';
import { keepsIpMode } from '../../lab/kubernetes-line.ts';
import { eventually, startAgentEnv, type AgentEnv } from '../support/agent-env.ts';
import { ensureNamespace, lbService, runPod, setPodReady } from '../../lab/consumer-objects.ts';

const ledger = Ledger.open('agent-lifecycle');
let env: AgentEnv;

t.before(async () => {
  env = await startAgentEnv(ledger);
  await ensureNamespace(env.core, 'shop');
  await env.startAgent();
  t.comment(`allocator: ${env.allocator.kind}`);
});
t.teardown(() => env?.stop());

const getClaim = async (name: string): Promise<VIPClaim | undefined> => {
  try {
    return await env.claims.get(name, env.tenantNamespace);
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
};
const getService = (name: string, namespace = 'shop'): Promise<k8s.V1Service> =>
  env.core.readNamespacedService({ name, namespace });
const ingressIP = (svc: k8s.V1Service): string | undefined => svc.status?.loadBalancer?.ingress?.[0]?.ip;
const labelNode = (name: string, labels: Record<string, string | null>): Promise<unknown> =>
  env.core.patchNode(
    { name, body: { metadata: { labels } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
const backendNames = (c: VIPClaim | undefined): string =>
  (c?.spec.backends ?? []).map((b) => `${b.nodeName}${b.ready ? '' : '(not ready)'}`).join(',');

t.test('create → VIP in status (ipMode Proxy), claim complete, conditions and Events', async (t) => {
  await env.core.createNamespacedService({
    namespace: 'shop',
    body: lbService('shop', 'web', { annotations: { 'kube-lb.io/sharing-key': 'web' } }),
  });
  const svc = await eventually('web has an EXTERNAL-IP', async () => {
    const s = await getService('web');
    return ingressIP(s) ? s : undefined;
  });
  const cond = (type: string) => svc.status?.conditions?.find((c) => c.type === type);
  if (keepsIpMode(env.consumer.line)) {
    t.same(
      svc.status?.loadBalancer?.ingress?.map((i) => i.ipMode),
      ['Proxy'],
      'ipMode Proxy: kube-proxy must not claim the VIP on consumer nodes',
    );
    t.notOk(cond(SERVICE_CONDITIONS.IPModeProxy), 'no IPModeProxy condition where the cluster keeps ipMode');
  } else {
    t.same(
      svc.status?.loadBalancer?.ingress?.map((i) => i.ipMode),
      [undefined],
      `Kubernetes ${env.consumer.line.version} has no ipMode`,
    );
    const gap = await eventually('IPModeProxy=False on the Service', async () => {
      const c = (await getService('web')).status?.conditions?.find((x) => x.type === SERVICE_CONDITIONS.IPModeProxy);
      return c?.status === 'False' ? c : undefined;
    });
    t.equal(gap.reason, 'IPModeUnsupported');
    t.match(gap.message, ingressIP(svc)!, 'names the VIP that in-cluster clients reach past kube-lb');
  }
  t.match(ingressIP(svc), /^192\.0\.2\./);
  t.ok(svc.metadata?.finalizers?.includes(FINALIZER), 'finalizer set');
  t.equal(cond(SERVICE_CONDITIONS.Allocated)?.status, 'True');
  t.equal(cond(SERVICE_CONDITIONS.ClaimSynced)?.status, 'True');

  const claim = await getClaim('shop.web');
  t.ok(claim, 'claim shop.web in the tenant namespace');
  t.same(claim?.spec.service, { cluster: env.cluster, namespace: 'shop', name: 'web', uid: svc.metadata?.uid });
  t.same(claim?.metadata.labels, {
    'kube-lb.io/cluster': env.cluster,
    'kube-lb.io/service-namespace': 'shop',
    'kube-lb.io/service-name': 'web',
  });
  t.same(claim?.spec.ports, [{ name: 'http', protocol: 'TCP', port: 80, nodePort: svc.spec?.ports?.[0]?.nodePort }]);
  t.equal(backendNames(claim), 'node-a,node-b');
  t.equal(claim?.spec.sharingKey, 'web');
  t.equal(claim?.status?.vip, ingressIP(svc));

  const events = await eventually('Events on the Service', async () => {
    const list = await env.core.listNamespacedEvent({ namespace: 'shop', fieldSelector: 'involvedObject.name=web' });
    const reasons = list.items.map((e) => e.reason);
    return reasons.includes('ClaimCreated') && reasons.includes('Allocated') ? reasons : undefined;
  });
  t.ok(events.includes('ClaimCreated'));
});

t.test('update ports → claim updated (multi-port, mixed protocols)', async (t) => {
  await env.core.patchNamespacedService(
    {
      name: 'web',
      namespace: 'shop',
      body: {
        spec: {
          ports: [
            { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 },
            { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
            { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 5353 },
          ],
        },
      },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  const claim = await eventually('claim has three ports', async () => {
    const c = await getClaim('shop.web');
    return c?.spec.ports.length === 3 ? c : undefined;
  });
  const svc = await getService('web');
  t.same(
    claim.spec.ports.map((p) => `${p.port}/${p.protocol}->${p.nodePort}`),
    svc.spec!.ports!.map((p) => `${p.port}/${p.protocol}->${p.nodePort}`),
  );
  t.ok(ingressIP(svc), 'the VIP stays');
});

t.test('scale nodes → backends follow (join, exclusion label, not ready)', async (t) => {
  await env.consumer.createNodes([{ name: 'node-c', internalIP: '10.0.0.3' }]);
  await eventually('node-c joins', async () => backendNames(await getClaim('shop.web')) === 'node-a,node-b,node-c');
  await labelNode('node-b', { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' });
  await env.consumer.createNodes([{ name: 'node-c', internalIP: '10.0.0.3', ready: false }]);
  await eventually(
    'node-b excluded, node-c not ready',
    async () => backendNames(await getClaim('shop.web')) === 'node-a,node-c(not ready)',
  );
  await env.core.deleteNode({ name: 'node-c' });
  await labelNode('node-b', { 'node.kubernetes.io/exclude-from-external-load-balancers': null });
  const names = await eventually('node-c gone, node-b back', async () => {
    const n = backendNames(await getClaim('shop.web'));
    return n === 'node-a,node-b' ? n : undefined;
  });
  t.equal(names, 'node-a,node-b');
});

t.test('eTP Local → only nodes with ready endpoints; healthCheckNodePort passed', async (t) => {
  await env.consumer.createNodes([{ name: 'node-c', internalIP: '10.0.0.3' }]);
  await env.core.createNamespacedService({
    namespace: 'shop',
    body: lbService('shop', 'local', { externalTrafficPolicy: 'Local' }),
  });
  await runPod(env.core, 'shop', 'local-1', { nodeName: 'node-a', labels: { app: 'local' }, podIP: '10.244.0.11' });
  await runPod(env.core, 'shop', 'local-2', {
    nodeName: 'node-c',
    labels: { app: 'local' },
    podIP: '10.244.2.12',
    ready: false,
  });
  const claim = await eventually('only node-a has a ready endpoint', async () => {
    const c = await getClaim('shop.local');
    return c && backendNames(c) === 'node-a' ? c : undefined;
  });
  const svc = await getService('local');
  t.equal(claim.spec.externalTrafficPolicy, 'Local');
  t.ok(svc.spec?.healthCheckNodePort);
  t.equal(claim.spec.healthCheckNodePort, svc.spec?.healthCheckNodePort);
  await setPodReady(env.core, 'shop', 'local-2', '10.244.2.12', true);
  await eventually(
    'node-c follows its pod',
    async () => backendNames(await getClaim('shop.local')) === 'node-a,node-c',
  );
  await env.core.deleteNamespacedPod({ name: 'local-1', namespace: 'shop', gracePeriodSeconds: 0 });
  await eventually('node-a leaves with its pod', async () => backendNames(await getClaim('shop.local')) === 'node-c');
  t.pass('backends follow the endpoints');
});

t.test('a Service of another class is never touched', async (t) => {
  await env.core.createNamespacedService({
    namespace: 'shop',
    body: lbService('shop', 'theirs', { loadBalancerClass: 'example.com/other-lb' }),
  });
  await env.core.createNamespacedService({
    namespace: 'shop',
    body: lbService('shop', 'noclass', { loadBalancerClass: null }),
  });
  // Something the agent does for certain after seeing both: a new Service of ours gets its IP.
  await env.core.createNamespacedService({ namespace: 'shop', body: lbService('shop', 'marker') });
  await eventually('marker has an IP', async () => ingressIP(await getService('marker')));
  for (const name of ['theirs', 'noclass']) {
    const svc = await getService(name);
    t.notOk(svc.metadata?.finalizers?.length, `${name}: no finalizer`);
    t.notOk(svc.status?.loadBalancer?.ingress?.length, `${name}: no ingress`);
    t.notOk(svc.status?.conditions?.length, `${name}: no conditions`);
    t.equal(await getClaim(`shop.${name}`), undefined, `${name}: no claim`);
  }
});

t.test(
  "refusals reach the user: the allocator's reason, or the LB API's rejection, as a condition and a Warning",
  async (t) => {
    const taken = ingressIP(await getService('marker'))!;
    await env.core.createNamespacedService({
      namespace: 'shop',
      body: lbService('shop', 'clash', { annotations: { 'kube-lb.io/ips': taken } }),
    });
    await env.core.createNamespacedService({
      namespace: 'shop',
      body: lbService('shop', 'outside', { annotations: { 'kube-lb.io/ips': '198.51.100.7' } }),
    });
    for (const name of ['clash', 'outside']) {
      const svc = await eventually(`${name} refused`, async () => {
        const s = await getService(name);
        const bad = s.status?.conditions?.find(
          (c) =>
            c.status === 'False' &&
            (c.type === SERVICE_CONDITIONS.Allocated || c.type === SERVICE_CONDITIONS.ClaimSynced),
        );
        return bad ? s : undefined;
      });
      const bad = svc.status!.conditions!.find((c) => c.status === 'False')!;
      t.comment(`${name}: ${bad.type} ${bad.reason}: ${bad.message}`);
      t.notOk(ingressIP(svc), `${name}: no IP`);
      const warning = await eventually(`${name}: Warning Event`, async () => {
        const list = await env.core.listNamespacedEvent({
          namespace: 'shop',
          fieldSelector: `involvedObject.name=${name}`,
        });
        return list.items.find((e) => e.type === 'Warning' && e.reason === bad.reason);
      });
      t.ok(warning.message, `${name}: Warning ${warning.reason}`);
    }
    await env.core.deleteNamespacedService({ name: 'clash', namespace: 'shop' });
    await env.core.deleteNamespacedService({ name: 'outside', namespace: 'shop' });
  },
);

t.test(
  "heartbeat in the ConsumerCluster status, with the consumer cluster's Kubernetes version and ipMode",
  async (t) => {
    const cc = await eventually('heartbeat', async () => {
      const c = await resourceClient<ConsumerCluster>(env.lb.kubeConfig, 'ConsumerCluster').get(env.cluster);
      return c.status?.lastHeartbeatTime && c.status.kubernetesVersion ? c : undefined;
    });
    t.ok(Date.parse(cc.status!.lastHeartbeatTime!) > Date.now() - 60_000);
    t.equal(cc.status?.agentVersion, '0.1.0');
    t.equal(cc.status?.kubernetesVersion, env.consumer.line.version, 'the version the consumer apiserver reports');
    t.equal(cc.status?.ipModeProxy, keepsIpMode(env.consumer.line));
    const wide = env.lb.kubectl(['get', 'consumerclusters', '-o', 'wide']);
    t.match(
      wide,
      new RegExp(
        `${env.cluster}\\s.*${env.consumer.line.version.replace(/\./g, '\\.')}\\s+${keepsIpMode(env.consumer.line)}`,
      ),
      'kubectl get -o wide shows both',
    );
  },
);

t.test('delete → claim gone, Service gone, the IP free again', async (t) => {
  const ip = ingressIP(await getService('web'))!;
  await env.core.deleteNamespacedService({ name: 'web', namespace: 'shop' });
  await eventually('claim gone', async () => (await getClaim('shop.web')) === undefined);
  await eventually('Service gone (finalizer released)', async () => {
    try {
      await getService('web');
      return false;
    } catch (err) {
      return (err as { code?: number }).code === 404;
    }
  });
  await env.core.createNamespacedService({
    namespace: 'shop',
    body: lbService('shop', 'reuse', { annotations: { 'kube-lb.io/ips': ip } }),
  });
  const got = await eventually('the released IP is given again', async () => ingressIP(await getService('reuse')));
  t.equal(got, ip);
});
