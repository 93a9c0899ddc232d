// Status writes in flight side by side, on a real apiserver, never show one VIP on two claims. Claim a holds X
// and asks to move to Y; claim b waits for X (its pool's only address). The allocator frees X the moment a moves, in memory, and b gets
// it at once; but until a's write lands the apiserver still shows X on a, and if b's write went first (writes
// are several in flight, in any order) speakers would see X on both. The test holds a's write back until b
// has been handled, so the order that would show the duplicate is forced, not hoped for, and checks at b's
// write what the apiserver shows for a.
import t from 'tap';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { AllocatorController } from '../../src/allocator/controller.ts';
import { createAllocatorMetrics } from '../../src/allocator/metrics.ts';
import { createStatusWriter, type StatusWriter } from '../../src/allocator/status-writer.ts';
import { loadApiKubeConfig } from '../../src/kube/api-client.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { createEventRecorder } from '../../src/kube/events.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createRegistry } from '../../src/shared/metrics.ts';
import { Ledger } from '../../lab/ledger.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { claim, pool, tenant } from '../support/allocation-fixtures.ts';
import { allocatedOf, eventually } from '../../lab/allocator.ts';

const X = '198.18.0.5';
const Y = '198.18.0.6';
const ledger = Ledger.open('alloc-pipeline');
const [cluster] = await startClusters(ledger, [{ name: 'pipeline' }]);
t.teardown(() => cluster!.stop());
const kc = loadApiKubeConfig({ kubeconfig: cluster!.kubeconfigPath }, { timeoutMs: 30_000, userAgent: 'kube-lb-test' });
const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
const bare = <T extends { metadata: { creationTimestamp?: string } }>(o: T): T => ({
  ...o,
  metadata: { ...o.metadata, creationTimestamp: undefined },
});
cluster!.kubectl(['create', 'namespace', 't0']);
// One address a pool: b names the pool of X, so it waits for X and nothing else.
await resourceClient<VIPPool>(kc, 'VIPPool').create(bare(pool('px', [`${X}/32`])));
await resourceClient<VIPPool>(kc, 'VIPPool').create(bare(pool('py', [`${Y}/32`])));
await resourceClient<ConsumerCluster>(kc, 'ConsumerCluster').create(bare(tenant('t0', 't0', ['10.0.0.0/8'])));

// The real writer, with a's move to Y held until the test lets it go, and b's write of X checked against
// what the apiserver shows for a at that moment.
const real = createStatusWriter(kc);
let holdMoveOfA: Promise<void> | undefined;
let releaseA!: () => void;
let aHeld = false;
const duplicates: string[] = [];
let bWroteX = 0;
const writer: StatusWriter = {
  async apply(kind, name, namespace, status) {
    const vip = (status as { vip?: string }).vip;
    if (kind === 'VIPClaim' && name === 'a' && vip === Y && holdMoveOfA) {
      aHeld = true;
      await holdMoveOfA;
    }
    if (kind === 'VIPClaim' && name === 'b' && vip === X) {
      bWroteX++;
      const a = await claims.get('a', 't0');
      if (a.status?.vip === X) duplicates.push(`b's status written with ${X} while the apiserver shows ${X} on a`);
    }
    return real.apply(kind, name, namespace, status);
  },
};

const logger = createLogger({ program: 'test', level: 'silent' });
const controller = new AllocatorController({
  kubeConfig: kc,
  writer,
  events: createEventRecorder({ kubeConfig: kc, component: 'kube-lb-allocator', instance: 'test', logger }),
  metrics: createAllocatorMetrics(createRegistry('allocator')),
  logger,
  workers: 8,
  resyncMs: 0,
  statusDebounceMs: 100,
  onReconciled: (key) => {
    // b handled while a's move is held: the order that would put X on both is now certain; let a go.
    if (key === 'claim:t0/b' && aHeld) releaseA();
  },
});
await controller.startInformers();
const leadership = new AbortController();
const leading = controller.lead(leadership.signal);
t.teardown(async () => {
  leadership.abort();
  await leading;
  await controller.stop();
});

const get = (name: string) => claims.get(name, 't0');

t.test('a VIP moves to a waiting claim only once the claim leaving it no longer shows it', async (t) => {
  const a = bare(claim('t0', 'a', { requestedIPs: [X] }));
  delete (a as { status?: unknown }).status;
  await claims.create(a);
  await eventually('a holds X', async () => ((await get('a')).status?.vip === X ? true : undefined));
  const b = bare(claim('t0', 'b', { pool: 'px' }));
  delete (b as { status?: unknown }).status;
  await claims.create(b);
  await eventually('b waits for X', async () =>
    allocatedOf(await get('b'))?.reason === 'PoolExhausted' ? true : undefined,
  );

  holdMoveOfA = new Promise<void>((resolve) => (releaseA = resolve));
  await claims.update('a', 't0', (cur) => ({ ...cur, spec: { ...cur.spec, requestedIPs: [Y] } }));
  const [finalA, finalB] = await eventually('a on Y and b on X', async () => {
    const [ca, cb] = [await get('a'), await get('b')];
    return ca.status?.vip === Y && cb.status?.vip === X ? [ca, cb] : undefined;
  });
  t.ok(aHeld, "a's move was held back while b was handled");
  t.same(duplicates, [], 'the apiserver never showed X on a and b at once');
  t.equal(bWroteX, 1, "b's status with X written once, after a left X");
  t.equal(allocatedOf(finalA)?.status, 'True');
  t.equal(allocatedOf(finalB)?.status, 'True');
});
