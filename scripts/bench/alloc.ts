// Allocation benchmark: a real apiserver and the allocator as a real process (one replica, leader election on).
//   small: 1,000 claims created as fast as the apiserver takes them while the allocator runs;
//   big:   10,000 more the same way; then the allocator's resident memory;
//   backlog: 2,000 claims created while no allocator runs, then one starts: its pure decide-and-write rate.
// Latency is per claim, from the create response to the watch event that shows Allocated=True. The baseline,
// measured in the same run, is how fast the apiserver accepted the creates (the allocator cannot beat it in
// the first two phases); core_decisions_per_s is the pure allocator without any API, for scale. Usage: npm run bench -- alloc [--small N] [--big N] [--backlog N]
// Last stdout line: one JSON object (scripts/bench/README.md).
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { loadApiKubeConfig } from '../../src/kube/api-client.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { createInformer } from '../../src/kube/informer.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { parseConfig } from '../../src/shared/config.ts';
import { Ledger } from '../../test/support/ledger.ts';
import { startClusters } from '../../test/support/controlplane.ts';
import { claim, pool, tenant } from '../../test/support/allocation-fixtures.ts';
import { allocatedOf, eventually, inParallel, startAllocator, waitReady, type AllocatorProcess } from '../../test/support/allocator.ts';
import { Allocator } from '../../src/core/allocation/allocator.ts';
import { toClaimRequest, validate } from '../../src/core/allocation/validate.ts';

const opts = parseConfig(
  {
    small: { kind: 'int', default: 1000, min: 1, help: 'claims in the small run' },
    big: { kind: 'int', default: 10_000, min: 1, help: 'claims in the big run' },
    backlog: { kind: 'int', default: 2000, min: 0, help: 'claims created before the allocator starts' },
    parallel: { kind: 'int', default: 64, min: 1, help: 'creates in flight' },
  },
  process.argv.slice(2),
  {},
);
const TENANTS = 5;
const log = (msg: string): void => console.error(`[bench alloc] ${msg}`);

/** The pure allocator alone, no API: decisions per second for `n` claims, to show where the time goes. */
function coreDecisionsPerSecond(n: number): number {
  const alloc = new Allocator();
  alloc.setModel(validate({ pools: [pool('bench', ['198.18.0.0/16'])], tenants: Array.from({ length: TENANTS }, (_, i) => tenant(`t${i}`, `t${i}`, ['10.0.0.0/8'])) }));
  const requests = Array.from({ length: n }, (_, i) => toClaimRequest(claim(`t${i % TENANTS}`, `c-${i}`, { backends: [{ nodeName: 'n', address: '10.1.2.3', ready: true }] })));
  const t0 = performance.now();
  for (const r of requests) alloc.assign(r);
  for (const r of requests) alloc.assign(r); // the re-check every status echo and resync costs
  return Math.round((2 * n) / ((performance.now() - t0) / 1000));
}

const ledger = Ledger.open('bench-alloc');
const [cluster] = await startClusters(ledger, [{ name: 'bench', apiserverFlags: ['--max-requests-inflight=4000'] }]);
let allocator: AllocatorProcess | undefined;
try {
  const kc = loadApiKubeConfig({ kubeconfig: cluster!.kubeconfigPath }, { timeoutMs: 60_000, userAgent: 'kube-lb-bench' });
  const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
  const strip = <T extends { metadata: { creationTimestamp?: string; uid?: string; generation?: number } }>(o: T): T => ({
    ...o, metadata: { ...o.metadata, creationTimestamp: undefined, uid: undefined, generation: undefined },
  });
  await resourceClient<VIPPool>(kc, 'VIPPool').create(strip(pool('bench', ['198.18.0.0/16'])));
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (let i = 0; i < TENANTS; i++) {
    await core.createNamespace({ body: { metadata: { name: `t${i}` } } });
    await resourceClient<ConsumerCluster>(kc, 'ConsumerCluster').create(strip(tenant(`t${i}`, `t${i}`, ['10.0.0.0/8'])));
  }

  // When each claim was created (create response) and first seen Allocated (watch).
  const createdAt = new Map<string, number>();
  const allocatedAt = new Map<string, number>();
  const watch = createInformer<VIPClaim & k8s.KubernetesObject>({
    kubeConfig: kc,
    path: claims.path(),
    list: () => claims.list() as Promise<k8s.KubernetesListObject<VIPClaim & k8s.KubernetesObject>>,
    logger: createLogger({ program: 'bench', level: 'silent' }),
  });
  watch.on({
    onUpsert: (c) => {
      const key = `${c.metadata.namespace}/${c.metadata.name}`;
      if (!allocatedAt.has(key) && allocatedOf(c)?.status === 'True') allocatedAt.set(key, performance.now());
    },
  });
  await watch.start();
  await watch.synced;

  const makeBatch = (prefix: string, n: number): VIPClaim[] =>
    Array.from({ length: n }, (_, i) => {
      const c = strip(claim(`t${i % TENANTS}`, `${prefix}-${i}`, { backends: [{ nodeName: 'n', address: `10.${i % TENANTS}.${(i >> 8) & 255}.${(i & 255) || 1}`, ready: true }] }));
      delete (c as { status?: unknown }).status;
      return c;
    });

  async function create(batch: VIPClaim[]): Promise<number> {
    const t0 = performance.now();
    await inParallel(batch, opts.parallel, async (c) => {
      await claims.create(c);
      createdAt.set(`${c.metadata.namespace}/${c.metadata.name}`, performance.now());
    });
    return performance.now() - t0;
  }

  async function waitAllocated(keys: string[], timeoutMs: number): Promise<number> {
    await eventually(`${keys.length} claims Allocated`, async () => (keys.every((k) => allocatedAt.has(k)) ? true : undefined), timeoutMs, 100);
    return Math.max(...keys.map((k) => allocatedAt.get(k)!));
  }

  const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

  async function run(prefix: string, n: number): Promise<Record<string, number>> {
    const batch = makeBatch(prefix, n);
    const keys = batch.map((c) => `${c.metadata.namespace}/${c.metadata.name}`);
    const t0 = performance.now();
    const createMs = await create(batch);
    const last = await waitAllocated(keys, 600_000);
    const latencies = keys.map((k) => allocatedAt.get(k)! - createdAt.get(k)!).sort((a, b) => a - b);
    const wallS = (last - t0) / 1000;
    const result = {
      claims: n,
      allocated: keys.filter((k) => allocatedAt.has(k)).length,
      claims_per_s: round(n / wallS),
      latency_ms_p50: round(pct(latencies, 50)),
      latency_ms_p99: round(pct(latencies, 99)),
      latency_ms_max: round(latencies[latencies.length - 1]!),
      baseline_apiserver_creates_per_s: round(n / (createMs / 1000)),
      wall_s: round(wallS, 2),
    };
    log(`${prefix}: ${JSON.stringify(result)}`);
    return result;
  }

  async function duplicates(): Promise<{ total: number; duplicate_vips: number }> {
    const all = (await claims.list()).items;
    const seen = new Map<string, number>();
    for (const c of all) if (c.status?.vip) seen.set(c.status.vip, (seen.get(c.status.vip) ?? 0) + 1);
    return { total: all.length, duplicate_vips: [...seen.values()].filter((v) => v > 1).length };
  }

  const rssMB = (pid: number): number => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  };

  // Backlog first, while no allocator runs.
  let backlog: Record<string, number> | undefined;
  const backlogBatch = makeBatch('backlog', opts.backlog);
  if (opts.backlog > 0) {
    log(`creating ${opts.backlog} claims with no allocator running`);
    await create(backlogBatch);
  }
  const started = performance.now();
  allocator = await startAllocator(ledger, cluster!, { identity: 'bench', webhook: false, leaseDuration: '15s', extraArgs: ['--log-level=warn', '--status-debounce=1s'] });
  await waitReady(allocator);
  if (opts.backlog > 0) {
    const keys = backlogBatch.map((c) => `${c.metadata.namespace}/${c.metadata.name}`);
    const last = await waitAllocated(keys, 600_000);
    backlog = { claims: opts.backlog, claims_per_s: round(opts.backlog / ((last - started) / 1000)), wall_s_from_process_start: round((last - started) / 1000, 2) };
    log(`backlog: ${JSON.stringify(backlog)}`);
  }

  log(`small run: ${opts.small} claims`);
  const small = await run('small', opts.small);
  log(`big run: ${opts.big} claims`);
  const big = await run('big', opts.big);
  await new Promise((r) => setTimeout(r, 2000));
  const rss = rssMB(allocator.proc.child.pid!);
  const dup = await duplicates();
  const result = {
    claims: big['claims'],
    allocated: big['allocated'],
    duplicate_vips: dup.duplicate_vips,
    claims_per_s: big['claims_per_s'],
    latency_ms_p50: big['latency_ms_p50'],
    latency_ms_p99: big['latency_ms_p99'],
    latency_ms_max: big['latency_ms_max'],
    rss_mb: rss,
    rss_mb_note: `allocator RSS holding ${dup.total} claims`,
    baseline_apiserver_creates_per_s: big['baseline_apiserver_creates_per_s'],
    core_decisions_per_s: coreDecisionsPerSecond(opts.big),
    small,
    backlog,
  };
  await watch.stop();
  console.log(JSON.stringify(result));
} finally {
  await allocator?.proc.stop();
  await cluster!.stop();
}
