// The speakers' API writes against a real API server: three status writers (one per LB node) over the same
// claims write each claim's status once, from the one node that reports for its VIP, not once per node per
// change; and the per-node published state is written only when it changes, at a bounded pace.
import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import type { VIPClaim } from '../../src/api/v1alpha1.ts';
import { rendezvousOwner } from '../../src/core/l2/rendezvous.ts';
import { claimKey } from '../../src/core/speaker/claims.ts';
import { planFrontends } from '../../src/core/speaker/plan.ts';
import { bucketDigests, publishedState, type PublishedState } from '../../src/core/speaker/published.ts';
import type { StatusInput } from '../../src/core/speaker/status.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { ClusterView } from '../../src/speaker/cluster-view.ts';
import { NodeStatePublisher } from '../../src/speaker/state/node-state.ts';
import { ClaimStatusWriter } from '../../src/speaker/status/claim-status.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { eventually } from '../../lab/eventually.ts';
import { Ledger } from '../../lab/ledger.ts';
import { approvalOf } from '../../src/core/allocation/approval.ts';

const ledger = Ledger.open('speaker-status');
const [lb] = await startClusters(ledger, [{ name: 'lb' }]);
t.teardown(() => lb!.stop());
const kc = lb!.kubeConfig;
const logger = createLogger({ program: 'speaker-status-test', level: 'silent' });
const core = kc.makeApiClient(k8s.CoreV1Api);
await core.createNamespace({ body: { metadata: { name: 'kube-lb-system' } } });
await core.createNamespace({ body: { metadata: { name: 'tenant-a' } } });
const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');

const COUNT = 12;
const NODES = ['lb-1', 'lb-2', 'lb-3'];
for (let i = 0; i < COUNT; i++) {
  const created = await claims.create({
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPClaim',
    metadata: { name: `default.svc-${i}`, namespace: 'tenant-a' },
    spec: {
      service: { cluster: 'a', namespace: 'default', name: `svc-${i}`, uid: `uid-${i}` },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30000 + i }],
      backends: [
        { nodeName: 'node-a', address: '10.200.1.11', ready: true },
        { nodeName: 'node-b', address: '10.200.1.12', ready: true },
      ],
      externalTrafficPolicy: 'Cluster',
    },
  });
  await claims.replaceStatus({
    ...created,
    status: {
      vip: `198.51.100.${200 + i}`,
      pool: 'default',
      approved: approvalOf(created, `198.51.100.${200 + i}`, true),
      conditions: [
        {
          type: 'Allocated',
          status: 'True',
          reason: 'Allocated',
          message: 'test',
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ],
    },
  });
}

// What every node sees: the same claims; health shared so a change hits every node at once (as a dead backend
// does); every peer published exactly what is expected.
const failing = new Set<string>();
const view = new ClusterView(kc, logger);
await view.start();
t.teardown(() => view.stop());
await eventually(
  'the view lists the claims',
  () => view.claims().filter((c) => c.status?.vip).length === COUNT,
  20_000,
);

function inputFor(self: string) {
  return (claim: VIPClaim): StatusInput | undefined => {
    const plan = planFrontends(view.claims(), (k) => (failing.has(k) ? 'unhealthy' : 'healthy'), new Map());
    const p = plan.claims.get(claimKey(claim));
    if (!p) return undefined;
    const expected = new Map(
      [...plan.claims.values()].flatMap((c) => (c.serve ? [[c.key, c.fingerprint] as const] : [])),
    );
    const state: PublishedState = publishedState(expected, failing);
    return {
      claim,
      plan: p,
      expectedBuckets: bucketDigests(expected),
      self,
      selfProgrammed: { ok: true },
      selfFailing: new Set(failing),
      live: NODES,
      peers: new Map(NODES.filter((n) => n !== self).map((n) => [n, { state }])),
      announced: undefined,
    };
  };
}

const writers = NODES.map(
  (self) =>
    new ClaimStatusWriter({
      client: claims,
      self,
      claims: () => view.claims(),
      claim: (namespace, name) => view.claim({ namespace, name }),
      input: inputFor(self),
      live: () => NODES,
      logger,
      now: () => performance.now(),
      minIntervalMs: 200,
      debounceMs: 20,
      concurrency: 4,
    }),
);
t.teardown(() => {
  for (const w of writers) w.stop();
});
const totalWrites = (): number => writers.reduce((s, w) => s + w.writes, 0);
const invalidateAll = (): void => {
  for (const w of writers) w.invalidate();
};

async function allClaims(check: (c: VIPClaim) => boolean, what: string): Promise<void> {
  await eventually(what, async () => (await claims.list('tenant-a')).items.every(check), 30_000, 100);
}
const cond = (c: VIPClaim, type: string) => c.status?.conditions?.find((x) => x.type === type);

t.test("nothing is written before the L2 side's first report says who is live", async (t) => {
  const before = await claims.list('tenant-a');
  invalidateAll();
  await new Promise((r) => setTimeout(r, 500));
  t.equal(totalWrites(), 0, 'no status writes');
  t.same(
    (await claims.list('tenant-a')).items.map((c) => c.metadata.resourceVersion),
    before.items.map((c) => c.metadata.resourceVersion),
  );
});

t.test('each claim is written once, by the node that reports for its VIP', async (t) => {
  for (const w of writers) w.report([], NODES);
  await allClaims(
    (c) => cond(c, 'Programmed')?.reason === 'Programmed' && cond(c, 'BackendsHealthy')?.reason === 'AllHealthy',
    'every claim Programmed and healthy',
  );
  await eventually('writes settle', () => totalWrites() === COUNT, 10_000);
  for (const [i, w] of writers.entries()) {
    const mine = view.claims().filter((c) => rendezvousOwner(c.status!.vip!, NODES) === NODES[i]).length;
    t.equal(w.writes, mine, `${NODES[i]} wrote the ${mine} claims it reports for`);
  }
  const sample = (await claims.get('default.svc-0', 'tenant-a')).status;
  t.same(sample?.programmedNodes, NODES);
  t.equal(sample?.vip, '198.51.100.200', "the allocator's fields stay");
});

t.test('nothing changed: re-looking at every claim many times writes nothing', async (t) => {
  const before = totalWrites();
  for (let i = 0; i < 5; i++) invalidateAll();
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(totalWrites(), before);
});

t.test('a backend failing from every node: one more write per claim, not one per node', async (t) => {
  const before = totalWrites();
  for (let i = 0; i < COUNT; i++) failing.add(`tcp://10.200.1.12:${30000 + i}`);
  invalidateAll();
  await allClaims(
    (c) => cond(c, 'BackendsHealthy')?.reason === 'SomeUnhealthy',
    'every claim reports the failing backend',
  );
  await eventually('writes settle', () => totalWrites() === before + COUNT, 10_000);
  const c0 = await claims.get('default.svc-0', 'tenant-a');
  t.same(
    c0.status?.backendHealth?.find((b) => b.address === '10.200.1.12'),
    { address: '10.200.1.12', healthy: false, failingFrom: NODES },
  );
  failing.clear();
  invalidateAll();
  await allClaims((c) => cond(c, 'BackendsHealthy')?.reason === 'AllHealthy', 'healthy again');
});

t.test('the published node state is written when it changes, at a bounded pace, and read back by peers', async (t) => {
  const publishers = NODES.map(
    (nodeName) =>
      new NodeStatePublisher({
        kubeConfig: kc,
        namespace: 'kube-lb-system',
        nodeName,
        minIntervalMs: 300,
        logger,
        now: () => performance.now(),
      }),
  );
  t.teardown(() => Promise.all(publishers.map((p) => p.stop(true))));
  await Promise.all(publishers.map((p) => p.start()));
  let last: PublishedState | undefined;
  for (let i = 0; i < 20; i++) {
    last = publishedState(new Map([[`tenant-a/x`, `tenant-a/x@${i}=198.51.100.250`]]), []);
    publishers[0]!.publish(last);
  }
  const seen = await eventually(
    'lb-2 reads what lb-1 published last',
    () => {
      const s = publishers[1]!.peers().get('lb-1');
      return s && s.buckets.join() === last!.buckets.join() ? s : undefined;
    },
    20_000,
  );
  t.equal(seen.programmed, 1);
  t.ok(publishers[0]!.writes < 20, `20 changes in a burst cost ${publishers[0]!.writes} writes`);
  const again = publishers[0]!.writes;
  publishers[0]!.publish(last!);
  await new Promise((r) => setTimeout(r, 800));
  t.equal(publishers[0]!.writes, again, 'publishing the same state again writes nothing');
});

t.test('a node state Lease deleted or changed by someone else is written again', async (t) => {
  const p = new NodeStatePublisher({
    kubeConfig: kc,
    namespace: 'kube-lb-system',
    nodeName: 'lb-9',
    minIntervalMs: 100,
    logger,
    now: () => performance.now(),
  });
  t.teardown(() => p.stop(true));
  await p.start();
  const state = publishedState(new Map([['tenant-a/y', 'tenant-a/y@1=198.51.100.251']]), ['tcp://10.200.1.12:30000']);
  p.publish(state);
  const leases = kc.makeApiClient(k8s.CoordinationV1Api);
  const read = () => leases.readNamespacedLease({ name: 'speaker-state-lb-9', namespace: 'kube-lb-system' });
  await eventually(
    'written',
    async () => (await read()).metadata?.annotations?.['kube-lb.io/failing-targets'] === 'tcp://10.200.1.12:30000',
    20_000,
  );
  await leases.deleteNamespacedLease({ name: 'speaker-state-lb-9', namespace: 'kube-lb-system' });
  await eventually(
    'written again after deletion',
    async () => (await read()).metadata?.annotations?.['kube-lb.io/failing-targets'] === 'tcp://10.200.1.12:30000',
    20_000,
  );
  const cur = await read();
  await leases.replaceNamespacedLease({
    name: 'speaker-state-lb-9',
    namespace: 'kube-lb-system',
    body: {
      ...cur,
      metadata: {
        ...cur.metadata,
        annotations: { ...cur.metadata?.annotations, 'kube-lb.io/failing-targets': 'bogus' },
      },
    },
  });
  await eventually(
    'repaired after a foreign change',
    async () => (await read()).metadata?.annotations?.['kube-lb.io/failing-targets'] === 'tcp://10.200.1.12:30000',
    20_000,
  );
  t.pass('repaired');
});
