// `npm run bench -- agent [--services=200] [--big=1000]`: the agent between two real clusters with the real allocator.
//
// 1. Baseline, same run: VIPClaims written straight into the tenant namespace → status.vip (the LB side alone),
//    the same number and concurrency as the Services below.
// 2. Services created → EXTERNAL-IP in their status (p50/p99), with the agent at its production defaults
//    (debounce 1 s, heartbeat 30 s, leader election 15/10/2 s): a burst of 200 created 8 at a time (queueing included), then 20 created one
//    at a time (the pipeline alone: finalizer, claim, allocator, status).
// 3. API requests per Service change, from the agent's own request counters: creates, port updates, a no-op
//    touch (annotation the claim does not carry: 0 claim writes expected), a node joining (one backend change
//    per claim), endpoint churn behind an eTP Local Service that does not change its node set (0 expected),
//    deletes. The aim is one claim write per real change.
// 4. A burst of 1,000 more Services the same way (`--big=N` sizes it, 0 skips it): status_ms_p50_1000/_p99_1000.
//
// Last stdout line: one JSON object (scripts/bench/README.md).
import { writeFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import type { VIPClaim } from '../../src/api/v1alpha1.ts';
import { createInformer } from '../../src/kube/informer.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { Ledger } from '../../lab/ledger.ts';
import { eventually, startAgentEnv, type AgentEnv, type AgentProcess } from '../../test/support/agent-env.ts';
import { ensureNamespace, lbService, runPod } from '../../lab/consumer-objects.ts';

const arg = (name: string, def: number): number => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : def;
};
const SERVICES = arg('services', 200);
// The same burst as the Services (same count, same concurrency), so the two are comparable.
const BASELINE = arg('baseline', SERVICES);
const CONCURRENCY = arg('concurrency', 8);
const SEQUENTIAL = arg('sequential', 20);
// The large burst after the rest (issue 13's 1,000-Service burst); 0 skips it.
const BIG = arg('big', 1000);
const NS = 'bench';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const log = (msg: string): void => console.error(`[bench agent] ${msg}`);

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const round = (n: number): number => Math.round(n * 10) / 10;

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function claimWrites(agent: AgentProcess): Promise<number> {
  let n = 0;
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'])
    n += await agent.metric('kube_lb_agent_api_requests_total', { cluster: 'lb', method, resource: 'vipclaims' });
  return n;
}
const requests = (agent: AgentProcess, cluster: 'lb' | 'consumer'): Promise<number> =>
  agent.metric('kube_lb_agent_api_requests_total', { cluster });

async function baseline(env: AgentEnv): Promise<number[]> {
  const seen = new Map<string, number>();
  const informer = createInformer<VIPClaim & k8s.KubernetesObject>({
    kubeConfig: env.lb.kubeConfig,
    path: env.claims.path(env.tenantNamespace),
    list: () =>
      env.claims.list(env.tenantNamespace) as Promise<k8s.KubernetesListObject<VIPClaim & k8s.KubernetesObject>>,
    logger: createLogger({ program: 'bench', level: 'silent' }),
  });
  informer.on({
    onUpsert: (c) =>
      void (c.status?.vip && !seen.has(c.metadata.name!) && seen.set(c.metadata.name!, performance.now())),
  });
  await informer.start();
  await informer.synced;
  const started = new Map<string, number>();
  const names = Array.from({ length: BASELINE }, (_, i) => `baseline.b${i}`);
  await inParallel(names, CONCURRENCY, async (name) => {
    started.set(name, performance.now());
    await env.claims.create({
      apiVersion: 'kube-lb.io/v1alpha1',
      kind: 'VIPClaim',
      // No kube-lb.io/cluster label: the agent does not see these.
      metadata: { name, namespace: env.tenantNamespace },
      spec: {
        service: { cluster: env.cluster, namespace: 'baseline', name: name.slice('baseline.'.length), uid: name },
        ports: [{ protocol: 'TCP', port: 80, nodePort: 30080 }],
        backends: [{ nodeName: 'node-1', address: '10.0.0.1', ready: true }],
        externalTrafficPolicy: 'Cluster',
      },
    });
  });
  await eventually('baseline claims allocated', () => seen.size === BASELINE, 120_000);
  await informer.stop();
  await inParallel(names, CONCURRENCY, (name) => env.claims.delete(name, env.tenantNamespace));
  return names.map((n) => seen.get(n)! - started.get(n)!);
}

async function main(): Promise<void> {
  const ledger = Ledger.open('bench-agent');
  const nodes = Array.from({ length: 5 }, (_, i) => ({ name: `node-${i + 1}`, internalIP: `10.0.0.${i + 1}` }));
  log('starting two clusters, the allocator and the agent');
  const env = await startAgentEnv(ledger, {
    poolAddresses: ['192.0.2.0/24', '198.51.100.0/24', '198.18.0.0/21'],
    nodes,
    allocator: 'real',
  });
  try {
    await ensureNamespace(env.core, NS);
    const agent = await env.startAgent({
      extraArgs: [
        '--debounce=1s',
        '--heartbeat-period=30s',
        '--request-timeout=10s',
        '--lease-duration=15s',
        '--renew-deadline=10s',
        '--retry-period=2s',
        '--log-level=info',
        ...process.argv.filter((a) => a.startsWith('--agent-')).map((a) => a.replace('--agent-', '--')),
      ],
    });
    await eventually('agent leading', async () => (await agent.metric('kube_lb_agent_leader')) === 1);

    log(`baseline: ${BASELINE} claims written directly`);
    const base = await baseline(env);

    // Watch Services for the first EXTERNAL-IP.
    const ipSeen = new Map<string, number>();
    const svcInformer = createInformer<k8s.V1Service>({
      kubeConfig: env.consumer.kubeConfig,
      path: `/api/v1/namespaces/${NS}/services`,
      list: () => env.core.listNamespacedService({ namespace: NS }),
      logger: createLogger({ program: 'bench', level: 'silent' }),
    });
    svcInformer.on({
      onUpsert: (s) =>
        void (
          s.status?.loadBalancer?.ingress?.[0]?.ip &&
          !ipSeen.has(s.metadata!.name!) &&
          ipSeen.set(s.metadata!.name!, performance.now())
        ),
    });
    await svcInformer.start();
    await svcInformer.synced;

    const names = Array.from({ length: SERVICES }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
    const created = new Map<string, number>();
    const changes: Record<
      string,
      { changes: number; claimWrites: number; lbRequests: number; consumerRequests: number }
    > = {};
    const measure = async (
      phase: string,
      realChanges: number,
      act: () => Promise<void>,
      settled: () => Promise<boolean>,
    ): Promise<void> => {
      const [w0, l0, c0] = [await claimWrites(agent), await requests(agent, 'lb'), await requests(agent, 'consumer')];
      const t0 = performance.now();
      await act();
      await eventually(`${phase} settled`, settled, 300_000, 200);
      // Let debounce windows and follow-up reconciles finish before reading the counters.
      await new Promise((r) => setTimeout(r, 2500));
      const [w1, l1, c1] = [await claimWrites(agent), await requests(agent, 'lb'), await requests(agent, 'consumer')];
      changes[phase] = { changes: realChanges, claimWrites: w1 - w0, lbRequests: l1 - l0, consumerRequests: c1 - c0 };
      log(
        `${phase}: ${realChanges} changes, ${w1 - w0} claim writes, ${l1 - l0} LB requests, ${c1 - c0} consumer requests, ${Math.round(performance.now() - t0)} ms`,
      );
    };
    const claimsNow = async (): Promise<VIPClaim[]> =>
      (await env.claims.list(env.tenantNamespace, `kube-lb.io/cluster=${env.cluster}`)).items;

    // For digging into a slow run: KUBE_LB_BENCH_TRACE=FILE writes each Service's create, claim seen, VIP on the
    // claim and first-IP wall times (the claims' watch only then, so a plain run carries no extra watcher).
    const trace = process.env.KUBE_LB_BENCH_TRACE;
    const claimSeen = new Map<string, number>();
    const vipSeen = new Map<string, number>();
    const claimWatch = trace
      ? createInformer<VIPClaim & k8s.KubernetesObject>({
          kubeConfig: env.lb.kubeConfig,
          path: env.claims.path(env.tenantNamespace),
          list: () =>
            env.claims.list(env.tenantNamespace) as Promise<k8s.KubernetesListObject<VIPClaim & k8s.KubernetesObject>>,
          logger: createLogger({ program: 'bench', level: 'silent' }),
        })
      : undefined;
    claimWatch?.on({
      onUpsert: (c) => {
        const name = c.spec.service.name;
        if (!claimSeen.has(name)) claimSeen.set(name, performance.now());
        if (c.status?.vip && !vipSeen.has(name)) vipSeen.set(name, performance.now());
      },
    });
    await claimWatch?.start();
    await claimWatch?.synced;

    log(`creating ${SERVICES} Services (${CONCURRENCY} at a time)`);
    await measure(
      'create',
      SERVICES,
      () =>
        inParallel(names, CONCURRENCY, async (name) => {
          created.set(name, performance.now());
          await env.core.createNamespacedService({ namespace: NS, body: lbService(NS, name) });
        }),
      async () => ipSeen.size >= SERVICES,
    );
    const latencies = names.map((n) => ipSeen.get(n)! - created.get(n)!);
    // The burst as a whole: how long the creates took to go out (8 at a time, each waiting for the apiserver), and
    // how long until the last Service had its IP. With both clusters on one small machine, status_ms_p99 is mostly
    // how far arrivals run ahead of that drain rate.
    const firstCreate = Math.min(...created.values());
    const createSpanMs = Math.max(...created.values()) - firstCreate;
    const drainMs = Math.max(...names.map((n) => ipSeen.get(n)!)) - firstCreate;
    if (trace) {
      await claimWatch?.stop();
      const since = (n: string, m: Map<string, number>): string =>
        String(Math.round((m.get(n) ?? NaN) - created.get(n)!));
      writeFileSync(
        trace,
        `# service created-at(ms) claim-seen vip-on-claim external-ip (ms after its create)\n${names
          .map(
            (n) =>
              `${n} ${Math.round(created.get(n)!)} ${since(n, claimSeen)} ${since(n, vipSeen)} ${since(n, ipSeen)}`,
          )
          .join('\n')}\n`,
      );
    }

    // The pipeline without queueing: Services created one at a time, each waiting for its IP.
    const sequential: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const name = `seq-${i}`;
      const t0 = performance.now();
      await env.core.createNamespacedService({ namespace: NS, body: lbService(NS, name) });
      await eventually(`${name} IP`, () => ipSeen.has(name), 60_000, 5);
      sequential.push(ipSeen.get(name)! - t0);
      await env.core.deleteNamespacedService({ name, namespace: NS });
    }
    await eventually(
      'sequential Services released',
      async () => !(await claimsNow()).some((c) => c.metadata.name!.startsWith(`${NS}.seq-`)),
      60_000,
    );
    log(`sequential: ${SEQUENTIAL} Services one at a time, p50 ${round(percentile(sequential, 50))} ms`);

    const updated = names.slice(0, Math.min(50, SERVICES));
    await measure(
      'update ports',
      updated.length,
      () =>
        inParallel(updated, CONCURRENCY, async (name) => {
          await env.core.patchNamespacedService(
            {
              name,
              namespace: NS,
              body: {
                spec: {
                  ports: [
                    { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 },
                    { name: 'https', protocol: 'TCP', port: 443, targetPort: 8443 },
                  ],
                },
              },
            },
            mergePatch,
          );
        }),
      async () => (await claimsNow()).filter((c) => c.spec.ports.length === 2).length === updated.length,
    );

    const touched = names.slice(50, Math.min(100, SERVICES));
    await measure(
      'no-op touch',
      0,
      () =>
        inParallel(touched, CONCURRENCY, async (name) => {
          await env.core.patchNamespacedService(
            { name, namespace: NS, body: { metadata: { annotations: { 'example.com/touched': 'yes' } } } },
            mergePatch,
          );
        }),
      async () => true,
    );

    await measure(
      'node joins',
      SERVICES,
      () => env.consumer.createNodes([{ name: 'node-6', internalIP: '10.0.0.6' }]),
      async () => (await claimsNow()).filter((c) => c.spec.backends.length === 6).length === SERVICES,
    );

    // eTP Local Service with ready pods on two nodes; then pods come and go on those nodes only (a rolling update
    // that never empties a node): the claim's backends do not change.
    await env.core.createNamespacedService({
      namespace: NS,
      body: lbService(NS, 'local', { externalTrafficPolicy: 'Local' }),
    });
    await runPod(env.core, NS, 'local-a0', { nodeName: 'node-1', labels: { app: 'local' }, podIP: '10.244.1.10' });
    await runPod(env.core, NS, 'local-b0', { nodeName: 'node-2', labels: { app: 'local' }, podIP: '10.244.2.10' });
    await eventually(
      'local has two backends',
      async () => (await claimsNow()).find((c) => c.metadata.name === `${NS}.local`)?.spec.backends.length === 2,
      60_000,
    );
    await measure(
      'rolling update (eTP Local, node set unchanged)',
      0,
      async () => {
        for (let i = 1; i <= 5; i++) {
          for (const [side, node, net] of [
            ['a', 'node-1', 1],
            ['b', 'node-2', 2],
          ] as const) {
            await runPod(env.core, NS, `local-${side}${i}`, {
              nodeName: node,
              labels: { app: 'local' },
              podIP: `10.244.${net}.${10 + i}`,
            });
            await env.core.deleteNamespacedPod({ name: `local-${side}${i - 1}`, namespace: NS, gracePeriodSeconds: 0 });
          }
        }
      },
      async () => true,
    );
    await env.core.deleteNamespacedService({ name: 'local', namespace: NS });
    await eventually(
      'local released',
      async () => !(await claimsNow()).some((c) => c.metadata.name === `${NS}.local`),
      60_000,
    );

    await measure(
      'delete',
      SERVICES,
      () =>
        inParallel(names, CONCURRENCY, async (name) => {
          await env.core.deleteNamespacedService({ name, namespace: NS });
        }),
      async () => (await claimsNow()).length === 0,
    );
    // The large burst: BIG more Services created the same way (8 at a time) into the now empty namespace, each
    // timed from its create to its EXTERNAL-IP. Not counted in the writes per change (the 200 above are).
    let big: Record<string, number> = {};
    if (BIG > 0) {
      const bigNames = Array.from({ length: BIG }, (_, i) => `big-${String(i).padStart(4, '0')}`);
      const bigCreated = new Map<string, number>();
      log(`creating ${BIG} Services (${CONCURRENCY} at a time)`);
      const t0 = performance.now();
      await inParallel(bigNames, CONCURRENCY, async (name) => {
        bigCreated.set(name, performance.now());
        await env.core.createNamespacedService({ namespace: NS, body: lbService(NS, name) });
      });
      await eventually(`${BIG} Services with an IP`, async () => bigNames.every((n) => ipSeen.has(n)), 300_000, 200);
      const bigLatencies = bigNames.map((n) => ipSeen.get(n)! - bigCreated.get(n)!);
      big = {
        [`status_ms_p50_${BIG}`]: round(percentile(bigLatencies, 50)),
        [`status_ms_p99_${BIG}`]: round(percentile(bigLatencies, 99)),
        [`status_ms_max_${BIG}`]: round(Math.max(...bigLatencies)),
        [`burst_drain_ms_${BIG}`]: round(Math.max(...bigNames.map((n) => ipSeen.get(n)!)) - t0),
      };
      log(`${BIG}-Service burst: ${JSON.stringify(big)}`);
    }
    await svcInformer.stop();
    const meanMs = async (cluster: string, op: string): Promise<number> =>
      round(
        ((await agent.metric('kube_lb_agent_write_duration_seconds_sum', { cluster, op })) /
          (await agent.metric('kube_lb_agent_write_duration_seconds_count', { cluster, op }))) *
          1000,
      );
    const metricsText = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    log(
      `API requests over the whole run:\n${metricsText
        .split('\n')
        .filter((l) => l.startsWith('kube_lb_agent_api_requests_total{'))
        .join('\n')}`,
    );
    const agentCpuSeconds = round(await agent.metric('process_cpu_seconds_total'));
    const writeMs = {
      consumer_service_write_ms_mean: await meanMs('consumer', 'service'),
      lb_claim_create_ms_mean: await meanMs('lb', 'claim-create'),
      lb_claim_patch_ms_mean: await meanMs('lb', 'claim-patch'),
    };

    const totals = Object.values(changes).reduce(
      (a, p) => ({
        changes: a.changes + p.changes,
        claimWrites: a.claimWrites + p.claimWrites,
        lb: a.lb + p.lbRequests,
        consumer: a.consumer + p.consumerRequests,
      }),
      { changes: 0, claimWrites: 0, lb: 0, consumer: 0 },
    );
    const result = {
      services: SERVICES,
      status_ms_p50: round(percentile(latencies, 50)),
      status_ms_p99: round(percentile(latencies, 99)),
      status_ms_max: round(Math.max(...latencies)),
      create_span_ms: round(createSpanMs),
      burst_drain_ms: round(drainMs),
      burst_services_per_s: round(SERVICES / (drainMs / 1000)),
      ...big,
      baseline_claims: BASELINE,
      baseline_claim_vip_ms_p50: round(percentile(base, 50)),
      baseline_claim_vip_ms_p99: round(percentile(base, 99)),
      claim_writes_per_change: round((totals.claimWrites / totals.changes) * 100) / 100,
      lb_requests_per_change: round((totals.lb / totals.changes) * 100) / 100,
      consumer_requests_per_change: round((totals.consumer / totals.changes) * 100) / 100,
      noop_claim_writes:
        changes['no-op touch']!.claimWrites + changes['rolling update (eTP Local, node set unchanged)']!.claimWrites,
      ...writeMs,
      agent_cpu_seconds: agentCpuSeconds,
      sequential_status_ms_p50: round(percentile(sequential, 50)),
      sequential_status_ms_max: round(Math.max(...sequential)),
      phases: changes,
      allocator: env.allocator.kind,
      create_concurrency: CONCURRENCY,
    };
    await env.stop();
    console.log(JSON.stringify(result));
  } catch (err) {
    await env.stop();
    throw err;
  }
}

await main();
