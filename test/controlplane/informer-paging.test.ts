// The informer against a real apiserver: LISTs in pages with continue tokens, a continue token that expired
// (etcd compacted under the list) restarting the list from its first page, and the transform trimming every
// object before it is cached, from the list and from the watch alike.
import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import { loadApiKubeConfig } from '../../src/kube/api-client.ts';
import { apiStatus } from '../../src/kube/client.ts';
import { createInformer } from '../../src/kube/informer.ts';
import { customInformer, nodeInformer } from '../../src/kube/cluster-informers.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { GROUP, VERSION, type VIPPool } from '../../src/api/v1alpha1.ts';
import { listAllPages, type ListPage } from '../../src/kube/paging.ts';
import { LAST_APPLIED, stripManagedFields } from '../../src/kube/trim.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { Ledger } from '../../lab/ledger.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { eventually, inParallel } from '../../lab/allocator.ts';

const ledger = Ledger.open('informer-paging');
// Without the watch cache, as when the apiserver's cache no longer holds the snapshot a continue token names
// (Kubernetes 1.34 serves recent continuations from cache snapshots): then the token is etcd's revision, and
// a compaction expires it. That is the 410 a long list of a large cluster meets.
const [cluster] = await startClusters(ledger, [{ name: 'paging', apiserverFlags: ['--watch-cache=false'] }]);
t.teardown(() => cluster!.stop());
const kc = loadApiKubeConfig({ kubeconfig: cluster!.kubeconfigPath }, { timeoutMs: 30_000, userAgent: 'kube-lb-test' });
const core = kc.makeApiClient(k8s.CoreV1Api);
const NS = 'paging';
const N = 25;
await core.createNamespace({ body: { metadata: { name: NS } } });
await inParallel(
  Array.from({ length: N }, (_, i) => i),
  8,
  async (i) => {
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: {
          name: `cm-${String(i).padStart(2, '0')}`,
          annotations: { [LAST_APPLIED]: '{"a":"copy of the object"}', keep: 'me' },
        },
        data: { i: String(i) },
      },
    });
  },
);

/** etcd's client URL, from the command line the harness started it with. */
function etcdURL(): string {
  const etcd = cluster!.processes.find((p) => p.name.endsWith('/etcd'));
  const flag = etcd?.child.spawnargs.find((a) => a.startsWith('--listen-client-urls='));
  if (!flag) throw new Error('no etcd process with --listen-client-urls in the test cluster');
  return flag.slice(flag.indexOf('=') + 1);
}

/**
 * Compacts etcd past every revision read so far, as the apiserver does every 5 minutes: older snapshots are
 * gone. A write outside the apiserver's keys first moves the revision on, since compacting at revision R keeps
 * R itself readable (and a token of R would stay valid).
 */
async function compactEtcd(): Promise<void> {
  const url = etcdURL();
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const put = await fetch(`${url}/v3/kv/put`, {
    method: 'POST',
    body: JSON.stringify({ key: b64('/kube-lb-test/tick'), value: b64(String(Date.now())) }),
  });
  if (!put.ok) throw new Error(`etcd put failed: ${put.status} ${await put.text()}`);
  const revision = ((await put.json()) as { header: { revision: string } }).header.revision;
  const res = await fetch(`${url}/v3/kv/compaction`, {
    method: 'POST',
    body: JSON.stringify({ revision, physical: true }),
  });
  if (!res.ok) throw new Error(`etcd compaction failed: ${res.status} ${await res.text()}`);
}

const list = (page: ListPage) =>
  core.listNamespacedConfigMap({ namespace: NS, limit: page.limit, _continue: page.continue });

t.test('an informer lists in pages and caches trimmed objects, from the list and the watch', async (t) => {
  const pages: ListPage[] = [];
  const informer = createInformer<k8s.V1ConfigMap>({
    kubeConfig: kc,
    path: `/api/v1/namespaces/${NS}/configmaps`,
    list: (page) => {
      pages.push(page);
      return list(page);
    },
    pageSize: 10,
    transform: stripManagedFields,
    logger: createLogger({ program: 'test', level: 'silent' }),
  });
  await informer.start();
  t.teardown(() => informer.stop());
  await informer.synced;
  // The namespace also holds kube-root-ca.crt when a controller manager runs; this cluster has none.
  t.equal(informer.list(NS).length, N, 'every object cached');
  t.same(
    pages.map((p) => p.limit),
    [10, 10, 10],
    'three pages of 10',
  );
  t.equal(pages[0]!.continue, undefined, 'the first page has no token');
  t.ok(
    pages[1]!.continue && pages[2]!.continue && pages[1]!.continue !== pages[2]!.continue,
    "later pages carry the previous page's token",
  );
  const served = await core.readNamespacedConfigMap({ namespace: NS, name: 'cm-03' });
  t.ok(served.metadata?.managedFields?.length, 'the apiserver does keep managedFields (so trimming them is a test)');
  const listed = informer.get('cm-03', NS)!;
  t.equal(listed.metadata?.managedFields, undefined, 'listed object: no managedFields');
  t.same(listed.metadata?.annotations, { keep: 'me' }, 'listed object: last-applied dropped, other annotations kept');
  t.ok(listed.metadata?.resourceVersion, 'resourceVersion kept');

  await core.patchNamespacedConfigMap(
    { namespace: NS, name: 'cm-03', body: { data: { i: 'changed' } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  const watched = await eventually('the watch event', async () => {
    const c = informer.get('cm-03', NS);
    return c?.data?.i === 'changed' ? c : undefined;
  });
  t.equal(watched.metadata?.managedFields, undefined, 'watched object: no managedFields');
  t.same(watched.metadata?.annotations, { keep: 'me' }, 'watched object: last-applied dropped');
});

t.test('a continue token that expired restarts the list from the first page', async (t) => {
  // Precondition, on the real apiserver: after a compaction the token of page 1 is refused with 410.
  const first = await list({ limit: 10 });
  await compactEtcd();
  const refused = await list({ limit: 10, continue: first.metadata!._continue! }).then(
    () => undefined,
    (err: unknown) => err,
  );
  t.equal(apiStatus(refused), 410, 'the apiserver refuses an expired continue token with 410 Gone');

  const pages: ListPage[] = [];
  let compacted = false;
  const restarts: number[] = [];
  const result = await listAllPages<k8s.V1ConfigMap>(
    async (page) => {
      pages.push(page);
      const res = await list(page);
      if (!compacted) {
        // Between the first and second page, as if the list were slow: the snapshot of page 1 goes away.
        compacted = true;
        await compactEtcd();
      }
      return {
        items: res.items,
        metadata: { resourceVersion: res.metadata?.resourceVersion, continue: res.metadata?._continue },
      };
    },
    { pageSize: 10, onRestart: (n) => restarts.push(n) },
  );
  t.same(restarts, [1], 'one restart');
  t.same(
    pages.map((p) => p.continue === undefined),
    [true, false, true, false, false],
    'page 1, refused page 2, then page 1 again and the rest',
  );
  t.equal(result.items.length, N, 'the whole list, once');
  t.equal(new Set(result.items.map((c) => c.metadata?.name)).size, N, 'no object twice');
  t.ok(result.metadata.resourceVersion, 'with the resourceVersion to watch from');
});

t.test('a list that keeps expiring ends in one unpaged LIST; other errors are not retried', async (t) => {
  const limits: number[] = [];
  const result = await listAllPages<k8s.V1ConfigMap>(
    async (page) => {
      limits.push(page.limit);
      const res = await list(page);
      if (page.limit > 0) await compactEtcd(); // every paged list outlives its snapshot
      return {
        items: res.items,
        metadata: { resourceVersion: res.metadata?.resourceVersion, continue: res.metadata?._continue },
      };
    },
    { pageSize: 10, maxRestarts: 2 },
  );
  t.same(limits, [10, 10, 10, 10, 10, 10, 0], 'three tries of two pages each, then limit 0');
  t.equal(result.items.length, N);

  let calls = 0;
  const err = await listAllPages(
    async () => {
      calls++;
      await core.readNamespace({ name: 'no-such-namespace' });
      return { items: [] };
    },
    { pageSize: 10 },
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.equal(apiStatus(err), 404, 'a 404 is thrown as it is');
  t.equal(calls, 1, 'and not retried');
  await t.rejects(
    listAllPages(async () => ({ items: [] }), { pageSize: -1 }),
    /pageSize must be an integer >= 0, got -1/,
  );
});

t.test('a failed list or watch restarts after growing jittered delays, and the informer recovers', async (t) => {
  // The informer's own log is the record: each restart names its attempt and the delay the policy gave it.
  const restarts: { attempt: number; delayMs: number }[] = [];
  const logger = createLogger(
    { program: 'test', level: 'warn' },
    {
      write: (line: string) => {
        const entry = JSON.parse(line) as { msg: string; attempt?: number; delayMs?: number };
        if (entry.msg === 'list or watch failed; restarting')
          restarts.push({ attempt: entry.attempt!, delayMs: entry.delayMs! });
      },
    },
  );
  const policy = { initialMs: 50, maxMs: 400, jitter: 'equal' as const, resetAfterMs: 60_000 };
  const informer = createInformer<k8s.V1ConfigMap>({
    kubeConfig: kc,
    path: `/api/v1/namespaces/${NS}/configmaps`,
    list: (page) => list(page),
    backoff: policy,
    logger,
  });
  await informer.start();
  t.teardown(() => informer.stop());
  await informer.synced;

  await cluster!.stopApiserver();
  await eventually('six failed restarts', async () => (restarts.length >= 6 ? true : undefined), 60_000, 100);
  await cluster!.startApiserver();
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'after-outage' } } });
  await eventually(
    'the informer back on the watch',
    async () => (informer.get('after-outage', NS) ? true : undefined),
    60_000,
    100,
  );

  const seen = restarts.slice(0, 6);
  t.same(
    seen.map((r) => r.attempt),
    [1, 2, 3, 4, 5, 6],
    'one backoff across the outage: attempts count up',
  );
  for (const r of seen) {
    const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** (r.attempt - 1));
    t.ok(
      r.delayMs >= ceiling / 2 && r.delayMs <= ceiling,
      `attempt ${r.attempt}: ${r.delayMs} ms in [${ceiling / 2}, ${ceiling}]`,
    );
  }
});

t.test('the shared Node and kube-lb kind informers page their LISTs too', async (t) => {
  const lists: string[] = [];
  const counted = loadApiKubeConfig(
    { kubeconfig: cluster!.kubeconfigPath },
    {
      timeoutMs: 30_000,
      userAgent: 'kube-lb-test',
      onRequest: ({ method, resource }) => void (method === 'GET' && lists.push(resource)),
    },
  );
  await cluster!.createNodes(
    Array.from({ length: 5 }, (_, i) => ({ name: `paged-${i}`, internalIP: `10.9.0.${i + 1}` })),
  );
  const pools = resourceClient<VIPPool>(kc, 'VIPPool');
  for (let i = 0; i < 5; i++)
    await pools.create({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'VIPPool',
      metadata: { name: `paged-${i}` },
      spec: { addresses: [`192.0.2.${i * 8}/29`] },
    });
  const logger = createLogger({ program: 'test', level: 'silent' });
  const nodes = nodeInformer(counted, { logger, pageSize: 2 });
  const poolInformer = customInformer<VIPPool>(counted, 'VIPPool', { logger, pageSize: 2 });
  await Promise.all([nodes.start(), poolInformer.start()]);
  t.teardown(() => Promise.all([nodes.stop(), poolInformer.stop()]));
  await Promise.all([nodes.synced, poolInformer.synced]);
  t.equal(nodes.list().filter((n) => n.metadata?.name?.startsWith('paged-')).length, 5, 'every Node cached');
  t.equal(poolInformer.list().length, 5, 'every VIPPool cached');
  t.ok(lists.filter((r) => r === 'nodes').length >= 3, `Nodes listed in pages of 2 (${lists.join(', ')})`);
  t.ok(lists.filter((r) => r === 'vippools').length >= 3, 'VIPPools listed in pages of 2');
});
