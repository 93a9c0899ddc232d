// The test ground itself: real kube-apiservers, two at once, doing what the product relies on.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Ledger } from '../../lab/ledger.ts';
import { startClusters, type TestCluster } from '../../lab/controlplane.ts';
import { spawnTracked } from '../../lab/process.ts';
import { createInformer } from '../../src/kube/informer.ts';
import { updateWithRetry } from '../../src/kube/update.ts';
import { createEventRecorder } from '../../src/kube/events.ts';
import { createLogger } from '../../src/shared/logger.ts';

const logger = createLogger({ program: 'test', level: 'silent' });
const ledger = Ledger.open('foundation');
const t0 = Date.now();
const [lb, consumer] = (await startClusters(ledger, [
  { name: 'lb' },
  {
    name: 'consumer',
    controllers: ['namespace', 'garbagecollector', 'endpointslice', 'serviceaccount', 'serviceaccount-token'],
  },
])) as [TestCluster, TestCluster];
t.comment(`two clusters started in ${Date.now() - t0} ms`);
t.teardown(async () => {
  await Promise.all([lb.stop(), consumer.stop()]);
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

t.test('two independent clusters run at once', async (t) => {
  const a = lb.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const b = consumer.kubeConfig.makeApiClient(k8s.CoreV1Api);
  t.not(lb.server, consumer.server);
  await a.createNamespace({ body: { metadata: { name: 'only-in-lb' } } });
  t.ok(await a.readNamespace({ name: 'only-in-lb' }));
  await t.rejects(b.readNamespace({ name: 'only-in-lb' }), { code: 404 }, 'the other cluster does not see it');
});

t.test('kubectl reports a v1.34 server', async (t) => {
  const out = JSON.parse(consumer.kubectl(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
  t.match(out.serverVersion.gitVersion, /^v1\.34\.\d+$/);
});

t.test('a LoadBalancer Service gets a ClusterIP and a NodePort from the apiserver', async (t) => {
  const core = consumer.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const svc = await core.createNamespacedService({
    namespace: 'default',
    body: {
      metadata: { name: 'web' },
      spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    },
  });
  const nodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
  t.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${nodePort} in range`);
  t.match(svc.spec?.clusterIP, /^10\.96\./);
});

t.test('Nodes created on request carry an InternalIP and are Ready', async (t) => {
  await consumer.createNodes([{ name: 'node-a', internalIP: '192.0.2.10', labels: { zone: 'a' } }]);
  const node = await consumer.kubeConfig.makeApiClient(k8s.CoreV1Api).readNode({ name: 'node-a' });
  t.same(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, '192.0.2.10');
  t.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
});

t.test('kube-controller-manager runs the controllers asked for (namespace deletion finishes)', async (t) => {
  const core = consumer.kubeConfig.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
  await core.deleteNamespace({ name: 'doomed' });
  await until('namespace gone', async () => {
    try {
      await core.readNamespace({ name: 'doomed' });
      return undefined;
    } catch (err) {
      return (err as { code?: number }).code === 404 ? true : undefined;
    }
  });
  t.pass('namespace finalized');
});

t.test('a Lease held by one participant is taken over when it stops renewing', async (t) => {
  const lease = `elect-${Date.now()}`;
  const fixture = join(import.meta.dirname, 'fixtures/elector.ts');
  const start = (id: string) => {
    const p = spawnTracked(ledger, id, process.execPath, [fixture, lb.kubeconfigPath, 'default', lease, id], {
      logFile: join(ledger.dir, `${id}.log`),
    });
    const lines: string[] = [];
    p.child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')));
    return { p, lines };
  };
  const a = start('alpha');
  await until('alpha leads', async () => (a.lines.includes('leading alpha') ? true : undefined));
  const b = start('beta');
  await sleep(1500);
  t.notOk(b.lines.includes('leading beta'), 'beta waits while alpha renews');

  const killedAt = Date.now();
  await a.p.kill(); // SIGKILL: alpha stops renewing without releasing
  await until('beta leads', async () => (b.lines.includes('leading beta') ? true : undefined));
  t.comment(`takeover after SIGKILL: ${Date.now() - killedAt} ms (lease duration 2 s)`);
  const coord = lb.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  const l = await coord.readNamespacedLease({ name: lease, namespace: 'default' });
  t.equal(l.spec?.holderIdentity, 'beta');
  t.equal(l.spec?.leaseTransitions, 1);

  // A graceful stop releases the Lease, so the next candidate does not wait for expiry.
  const c = start('gamma');
  await sleep(500);
  b.p.child.kill('SIGTERM');
  await once(b.p.child, 'exit');
  t.ok(b.lines.includes('stopped beta'), 'beta stepped down');
  await until('gamma leads', async () => (c.lines.includes('leading gamma') ? true : undefined));
  await c.p.stop();
});

t.test('informer lists, watches and resyncs', async (t) => {
  const core = lb.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const ns = 'informer';
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'before' }, data: { v: '1' } } });
  const informer = createInformer<k8s.V1ConfigMap>({
    kubeConfig: lb.kubeConfig,
    path: `/api/v1/namespaces/${ns}/configmaps`,
    list: () => core.listNamespacedConfigMap({ namespace: ns }),
    resyncMs: 300,
    logger,
  });
  const seen: string[] = [];
  informer.on({
    onUpsert: (o) => seen.push(`up ${o.metadata?.name}=${o.data?.v}`),
    onDelete: (o) => seen.push(`del ${o.metadata?.name}`),
  });
  await informer.start();
  await informer.synced;
  t.ok(informer.get('before', ns), 'listed object is cached');
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'after' }, data: { v: '1' } } });
  await core.replaceNamespacedConfigMap({
    name: 'after',
    namespace: ns,
    body: { metadata: { name: 'after' }, data: { v: '2' } },
  });
  await core.deleteNamespacedConfigMap({ name: 'before', namespace: ns });
  await until('events', async () => (seen.includes('del before') && seen.includes('up after=2') ? true : undefined));
  const count = seen.filter((s) => s === 'up after=2').length;
  await until('resync replays', async () =>
    seen.filter((s) => s === 'up after=2').length > count + 1 ? true : undefined,
  );
  t.equal(informer.list(ns).length, 1);
  await informer.stop();
});

t.test('conflicting writers both land through read-modify-write retries', async (t) => {
  const core = lb.kubeConfig.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedConfigMap({
    namespace: 'default',
    body: { metadata: { name: 'counter' }, data: { n: '0' } },
  });
  const bump = () =>
    updateWithRetry<k8s.V1ConfigMap>({
      read: () => core.readNamespacedConfigMap({ name: 'counter', namespace: 'default' }),
      mutate: (cm) => ({ ...cm, data: { n: String(Number(cm.data?.n) + 1) } }),
      write: (cm) => core.replaceNamespacedConfigMap({ name: 'counter', namespace: 'default', body: cm }),
      attempts: 50,
    });
  await Promise.all(Array.from({ length: 10 }, bump));
  const cm = await core.readNamespacedConfigMap({ name: 'counter', namespace: 'default' });
  t.equal(cm.data?.n, '10', 'no update was lost');
  const unchanged = await updateWithRetry<k8s.V1ConfigMap>({
    read: () => core.readNamespacedConfigMap({ name: 'counter', namespace: 'default' }),
    mutate: () => undefined,
    write: () => Promise.reject(new Error('must not write')),
  });
  t.equal(unchanged.written, false, 'no write when nothing changes');
});

t.test('repeated Events aggregate into one with a count', async (t) => {
  const recorder = createEventRecorder({ kubeConfig: lb.kubeConfig, component: 'kube-lb-test', instance: 'x', logger });
  const target = { apiVersion: 'v1', kind: 'ConfigMap', name: 'counter', namespace: 'default' };
  await recorder.record(target, 'Warning', 'Flapping', 'same thing');
  await recorder.record(target, 'Warning', 'Flapping', 'same thing');
  await recorder.record(target, 'Normal', 'Other', 'different');
  const list = await lb.kubeConfig.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: 'default' });
  const flapping = list.items.filter((e) => e.reason === 'Flapping');
  t.equal(flapping.length, 1);
  t.equal(flapping[0]!.count, 2);
  t.equal(list.items.filter((e) => e.reason === 'Other').length, 1);
});

t.test(
  'the CRDs from deploy/ are served and reject an invalid object with the apiserver validation error',
  async (t) => {
    const api = lb.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    const base = { group: 'kube-lb.io', version: 'v1alpha1', plural: 'vippools' };
    const good = await api.createClusterCustomObject({
      ...base,
      body: {
        apiVersion: 'kube-lb.io/v1alpha1',
        kind: 'VIPPool',
        metadata: { name: 'good' },
        spec: { addresses: ['192.0.2.0/28'] },
      },
    });
    t.equal((good as { metadata: { name: string } }).metadata.name, 'good');
    const err = (await api
      .createClusterCustomObject({
        ...base,
        body: {
          apiVersion: 'kube-lb.io/v1alpha1',
          kind: 'VIPPool',
          metadata: { name: 'bad' },
          spec: { addresses: ['192.0.2.300/24'] },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: number; body?: string } | undefined;
    t.equal(err?.code, 422, 'rejected as Invalid');
    t.match(String(err?.body), /spec\.addresses\[0\]/, 'the message names the field');
    t.match(String(err?.body), /192\.0\.2\.300\/24/, 'and the bad value');
  },
);
