// Allocation benchmark: a real apiserver and the allocator as a real process (one replica, leader election on).
//   backlog: 2,000 claims created while no allocator runs (their create rate is raw_create_per_s, the same-run
//            baseline of plain creates), then one starts: its pure decide-and-write rate;
//   small: 1,000 claims created as fast as the apiserver takes them while the allocator runs;
//   big:   10,000 more the same way; then the allocator's resident memory, 30 s later (rss_mb) and the most it
//          reached during the runs (rss_mb_max);
//   claims_50k: 50,000 more the same way (--claims-50k N sizes it, 0 skips it); then rss_mb_50k and _max.
// Latency is per claim, from the create response to the watch event that shows Allocated=True. The baselines,
// measured in the same run: raw_create_per_s, how fast the apiserver takes plain creates with no allocator
// running, and per phase how fast it accepted that phase's creates (the allocator cannot beat either);
// core_decisions_per_s is the pure allocator without any API, for scale. RSS figures count every claim the
// allocator holds at that point (earlier phases' too; rss_mb_note says how many).
// Usage: npm run bench -- alloc [--small N] [--big N] [--backlog N] [--claims-50k N]
// Last stdout line: one JSON object (scripts/bench/README.md).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURALS, VERSION, type ConsumerCluster, type VIPClaim, type VIPPool } from '../../src/api/v1alpha1.ts';
import { loadApiKubeConfig } from '../../src/kube/api-client.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { createInformer } from '../../src/kube/informer.ts';
import { listAllPages, type PagedList } from '../../src/kube/paging.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { parseConfig } from '../../src/shared/config.ts';
import { Ledger } from '../../lab/ledger.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { claim, pool, tenant } from '../../test/support/allocation-fixtures.ts';
import {
  allocatedOf,
  eventually,
  inParallel,
  startAllocator,
  waitReady,
  type AllocatorProcess,
} from '../../lab/allocator.ts';
import { Allocator } from '../../src/core/allocation/allocator.ts';
import { startNoopAdmission } from './_noop-admission.ts';
import { toClaimRequest, validate } from '../../src/core/allocation/validate.ts';

const opts = parseConfig(
  {
    small: { kind: 'int', default: 1000, min: 1, help: 'claims in the small run' },
    big: { kind: 'int', default: 10_000, min: 1, help: 'claims in the big run' },
    backlog: {
      kind: 'int',
      default: 2000,
      min: 1,
      help: 'claims created before the allocator starts (their rate is raw_create_per_s)',
    },
    'claims-50k': { kind: 'int', default: 50_000, min: 0, help: 'claims in the large run (0: skip it)' },
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
  alloc.setModel(
    validate({
      pools: [pool('bench', ['198.18.0.0/16'])],
      tenants: Array.from({ length: TENANTS }, (_, i) => tenant(`t${i}`, `t${i}`, [`10.${i}.0.0/16`])),
    }),
  );
  const requests = Array.from({ length: n }, (_, i) =>
    toClaimRequest(
      claim(`t${i % TENANTS}`, `c-${i}`, {
        backends: [{ nodeName: 'n', address: `10.${i % TENANTS}.2.3`, ready: true }],
      }),
    ),
  );
  const t0 = performance.now();
  for (const r of requests) alloc.assign(r);
  for (const r of requests) alloc.assign(r); // the re-check every status echo and resync costs
  return Math.round((2 * n) / ((performance.now() - t0) / 1000));
}

const ledger = Ledger.open('bench-alloc');
const [cluster] = await startClusters(ledger, [{ name: 'bench', apiserverFlags: ['--max-requests-inflight=4000'] }]);
let allocator: AllocatorProcess | undefined;
/** Stops the RSS sampler below (it reads /proc of an allocator that is about to stop). */
let stopSampling = (): void => {};
try {
  const kc = loadApiKubeConfig(
    { kubeconfig: cluster!.kubeconfigPath },
    { timeoutMs: 60_000, userAgent: 'kube-lb-bench' },
  );
  const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
  const strip = <T extends { metadata: { creationTimestamp?: string; uid?: string; generation?: number } }>(
    o: T,
  ): T => ({
    ...o,
    metadata: { ...o.metadata, creationTimestamp: undefined, uid: undefined, generation: undefined },
  });
  // 198.18.0.0/15: 131,072 addresses, room for every phase's claims (63,000 by default).
  await resourceClient<VIPPool>(kc, 'VIPPool').create(strip(pool('bench', ['198.18.0.0/15'])));
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (let i = 0; i < TENANTS; i++) {
    await core.createNamespace({ body: { metadata: { name: `t${i}` } } });
    await resourceClient<ConsumerCluster>(kc, 'ConsumerCluster').create(
      strip(tenant(`t${i}`, `t${i}`, [`10.${i}.0.0/16`])),
    );
  }

  // When each claim was created (create response) and first seen Allocated (watch).
  const createdAt = new Map<string, number>();
  const allocatedAt = new Map<string, number>();
  // The bench's own cache keeps what it reads, so 63,000 whole claims do not crowd the allocator out of memory.
  const watch = createInformer<VIPClaim & k8s.KubernetesObject>({
    kubeConfig: kc,
    path: claims.path(),
    list: (page) => claims.list(undefined, undefined, page) as Promise<PagedList<VIPClaim & k8s.KubernetesObject>>,
    transform: (c) => ({
      apiVersion: c.apiVersion,
      kind: c.kind,
      metadata: { name: c.metadata.name, namespace: c.metadata.namespace, resourceVersion: c.metadata.resourceVersion },
      spec: {} as VIPClaim['spec'],
      ...(c.status
        ? {
            status: { vip: c.status.vip, conditions: c.status.conditions?.filter((x) => x.type === 'Allocated') ?? [] },
          }
        : {}),
    }),
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
      const c = strip(
        claim(`t${i % TENANTS}`, `${prefix}-${i}`, {
          backends: [{ nodeName: 'n', address: `10.${i % TENANTS}.${(i >> 8) & 255}.${i & 255 || 1}`, ready: true }],
        }),
      );
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
    await eventually(
      `${keys.length} claims Allocated`,
      async () => (keys.every((k) => allocatedAt.has(k)) ? true : undefined),
      timeoutMs,
      100,
    );
    return keys.reduce((max, k) => Math.max(max, allocatedAt.get(k)!), 0); // no spread: 50,000 arguments overflow
  }

  const pct = (sorted: number[], p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

  async function run(prefix: string, n: number): Promise<Record<string, number>> {
    const batch = makeBatch(prefix, n);
    const keys = batch.map((c) => `${c.metadata.namespace}/${c.metadata.name}`);
    const t0 = performance.now();
    const cpu0 = serverCpuMs();
    const createMs = await create(batch);
    const last = await waitAllocated(keys, Math.max(600_000, n * 50));
    const serverCpuPerClaim = (serverCpuMs() - cpu0) / n;
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
      apiserver_cpu_ms_per_claim: round(serverCpuPerClaim, 2),
      wall_s: round(wallS, 2),
    };
    log(`${prefix}: ${JSON.stringify(result)}`);
    return result;
  }

  async function duplicates(): Promise<{ total: number; duplicate_vips: number }> {
    const all = (await listAllPages((page) => claims.list(undefined, undefined, page), { pageSize: 500 })).items;
    const seen = new Map<string, number>();
    for (const c of all) if (c.status?.vip) seen.set(c.status.vip, (seen.get(c.status.vip) ?? 0) + 1);
    return { total: all.length, duplicate_vips: [...seen.values()].filter((v) => v > 1).length };
  }

  // CPU time of the cluster's own processes (kube-apiserver, etcd), from /proc/PID/stat (utime + stime, in
  // USER_HZ = 100 ticks per second). Per write it shows what the apiserver pays for a plain create and for a whole
  // claim (its create, the allocator's status write, the Events), and so a ceiling on claims_per_s_to_raw.
  const serverCpuMs = (): number =>
    cluster!.processes.reduce((sum, p) => {
      try {
        const fields = readFileSync(`/proc/${p.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return sum + (Number(fields[11]) + Number(fields[12])) * 10;
      } catch {
        return sum; // a process that is gone (not expected while the bench runs)
      }
    }, 0);

  const rssMB = (pid: number): number => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  };

  /** The allocator's own heap figures (its /metrics), to tell live objects from heap the GC has not returned. */
  async function heapMB(): Promise<{ heap_used_mb: number; heap_total_mb: number; external_mb: number }> {
    const text = await (await fetch(`http://127.0.0.1:${allocator!.metricsPort}/metrics`)).text();
    const mb = (name: string): number => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
      return m ? Math.round(Number(m[1]) / 2 ** 20) : NaN;
    };
    return {
      heap_used_mb: mb('nodejs_heap_size_used_bytes'),
      heap_total_mb: mb('nodejs_heap_size_total_bytes'),
      external_mb: mb('nodejs_external_memory_bytes'),
    };
  }

  // The resident set is reported settled (what a dashboard shows once a burst is over, after the allocator gave
  // memory back: src/shared/memory-trim.ts) and at its maximum, sampled every 250 ms (what a memory limit must allow).
  const SETTLE_MS = 30_000;
  const peak = (() => {
    let max = 0;
    const timer = setInterval(() => {
      if (allocator) max = Math.max(max, rssMB(allocator.proc.child.pid!));
    }, 250);
    timer.unref();
    stopSampling = () => clearInterval(timer);
    return {
      /** The maximum since the last take. */
      take: (): number => {
        const m = Math.max(max, rssMB(allocator!.proc.child.pid!));
        max = 0;
        return m;
      },
    };
  })();
  async function settled(): Promise<{ rss: number; heap: Awaited<ReturnType<typeof heapMB>> }> {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const rss = rssMB(allocator!.proc.child.pid!);
    const heap = await heapMB();
    peak.take();
    return { rss, heap };
  }

  // The same creates through a mutating webhook that only adds an annotation, right after the plain ones: what
  // the admission hop alone costs, so the ceiling of allocating inside the create (a webhook cannot set status
  // on create, so the VIP would go into an annotation or the spec) instead of writing the status afterwards. In a
  // namespace no tenant owns, deleted again before the allocator starts.
  async function admissionCeiling(): Promise<Record<string, number>> {
    const ns = 'admission-ceiling';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const webhook = await startNoopAdmission(kc, ns);
    const batch = makeBatch('admitted', opts.backlog).map((c) => ({
      ...c,
      metadata: { ...c.metadata, namespace: ns },
    }));
    try {
      await eventually(
        'the no-op webhook called',
        async () => (webhook.admitted(await claims.create(batch.pop()!)) ? true : undefined),
        30_000,
      );
      const cpu0 = serverCpuMs();
      const perS = round(batch.length / ((await create(batch)) / 1000));
      const cpuPerCreate = (serverCpuMs() - cpu0) / batch.length;
      const sample = await claims.get(batch[0]!.metadata.name!, ns);
      if (!webhook.admitted(sample)) throw new Error(`${ns}/${sample.metadata.name} did not go through the webhook`);
      return {
        admitted_create_per_s: perS,
        admitted_create_to_raw: round(perS / rawCreatePerS, 2),
        apiserver_cpu_ms_per_admitted_create: round(cpuPerCreate, 2),
      };
    } finally {
      await webhook.stop();
      await kc.makeApiClient(k8s.CustomObjectsApi).deleteCollectionNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURALS.VIPClaim,
      });
      await eventually('admission-ceiling claims deleted', async () =>
        (await claims.list(ns)).items.length === 0 ? true : undefined,
      );
    }
  }

  // Backlog first, while no allocator runs: plain creates, the baseline.
  let backlog: Record<string, number> | undefined;
  const backlogBatch = makeBatch('backlog', opts.backlog);
  log(`creating ${opts.backlog} claims with no allocator running`);
  const rawCpu0 = serverCpuMs();
  const rawCreatePerS = round(opts.backlog / ((await create(backlogBatch)) / 1000));
  const serverCpuPerCreate = (serverCpuMs() - rawCpu0) / opts.backlog;
  log(`raw creates: ${rawCreatePerS}/s, ${round(serverCpuPerCreate, 2)} ms of apiserver and etcd CPU each`);
  const admission = await admissionCeiling();
  log(`creates through a no-op mutating webhook: ${JSON.stringify(admission)}`);
  const started = performance.now();
  allocator = await startAllocator(ledger, cluster!, {
    identity: 'bench',
    webhook: false,
    leaseDuration: '15s',
    extraArgs: ['--log-level=warn', '--status-debounce=1s'],
  });
  await waitReady(allocator);
  {
    const keys = backlogBatch.map((c) => `${c.metadata.namespace}/${c.metadata.name}`);
    const last = await waitAllocated(keys, Math.max(600_000, opts.backlog * 50));
    backlog = {
      claims: opts.backlog,
      claims_per_s: round(opts.backlog / ((last - started) / 1000)),
      wall_s_from_process_start: round((last - started) / 1000, 2),
    };
    log(`backlog: ${JSON.stringify(backlog)}`);
  }

  log(`small run: ${opts.small} claims`);
  const small = await run('small', opts.small);
  log(`big run: ${opts.big} claims`);
  const big = await run('big', opts.big);
  await new Promise((r) => setTimeout(r, 2000));
  const rssMax = peak.take();
  const heapBusy = await heapMB();
  const dup = await duplicates();
  const { rss, heap } = await settled();
  log(`rss ${rss} MB settled (heap ${JSON.stringify(heap)}), ${rssMax} MB at most during the runs`);
  let large: Record<string, number> | undefined;
  let rss50k: number | undefined;
  let rss50kMax: number | undefined;
  let heap50k: Awaited<ReturnType<typeof heapMB>> | undefined;
  let dup50k: { total: number; duplicate_vips: number } | undefined;
  if (opts['claims-50k'] > 0) {
    log(`large run: ${opts['claims-50k']} claims`);
    large = await run('large', opts['claims-50k']);
    rss50kMax = peak.take();
    dup50k = await duplicates();
    ({ rss: rss50k, heap: heap50k } = await settled());
    log(`rss ${rss50k} MB settled, ${rss50kMax} MB at most during the run`);
  }
  const result = {
    claims: big.claims,
    allocated: big.allocated,
    duplicate_vips: dup.duplicate_vips,
    claims_per_s: big.claims_per_s,
    latency_ms_p50: big.latency_ms_p50,
    latency_ms_p99: big.latency_ms_p99,
    latency_ms_max: big.latency_ms_max,
    rss_mb: rss,
    rss_mb_note: `allocator RSS holding ${dup.total} claims, ${SETTLE_MS / 1000} s after the last was allocated`,
    heap: heap,
    rss_mb_max: rssMax,
    heap_right_after: heapBusy,
    raw_create_per_s: rawCreatePerS,
    claims_per_s_to_raw: round(big.claims_per_s! / rawCreatePerS, 2),
    apiserver_cpu_ms_per_create: round(serverCpuPerCreate, 2),
    apiserver_cpu_ms_per_claim: big.apiserver_cpu_ms_per_claim,
    // A ceiling on claims_per_s_to_raw: even with every core of the machine given to kube-apiserver and etcd
    // (nothing left for the allocator or the load generator), they can take at most this many claims per second,
    // at what each claim cost them in this run.
    // The admission hop alone (a no-op mutating webhook, plain creates): the ceiling of allocating at create.
    ...admission,
    claims_per_s_to_raw_bound: round(
      (availableParallelism() * 1000) / big.apiserver_cpu_ms_per_claim! / rawCreatePerS,
      2,
    ),
    baseline_apiserver_creates_per_s: big.baseline_apiserver_creates_per_s,
    core_decisions_per_s: coreDecisionsPerSecond(opts.big),
    claims_50k: large,
    rss_mb_50k: rss50k,
    rss_mb_50k_max: rss50kMax,
    rss_mb_50k_note: dup50k ? `allocator RSS holding ${dup50k.total} claims` : 'skipped (--claims-50k 0)',
    heap_50k: heap50k,
    duplicate_vips_50k: dup50k?.duplicate_vips,
    claims_per_s_50k_to_raw: large ? round(large.claims_per_s! / rawCreatePerS, 2) : undefined,
    small,
    backlog,
  };
  await watch.stop();
  console.log(JSON.stringify(result));
} finally {
  stopSampling();
  await allocator?.proc.stop();
  await cluster!.stop();
}
