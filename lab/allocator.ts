// Runs the allocator as a real process against a test cluster (node src/allocator/main.ts), and small helpers
// that tests of it share: waiting for claims' status, creating objects in bulk.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually as poll } from './eventually.ts';
import * as k8s from '@kubernetes/client-node';
import type { VIPClaim } from '../src/api/v1alpha1.ts';
import { resourceClient } from '../src/kube/custom-objects.ts';
import { freePort, type TestCluster } from './controlplane.ts';
import type { Ledger } from './ledger.ts';
import { spawnTracked, type TrackedProcess } from './process.ts';
import { applyWebhookConfigurationAt } from './webhook-configuration.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface AllocatorProcess {
  readonly identity: string;
  readonly proc: TrackedProcess;
  readonly metricsPort: number;
  readonly webhookPort: number | undefined;
  /** True once /readyz answers 200 (caches synced, webhook serving). */
  ready(): Promise<boolean>;
}

export interface AllocatorRunOptions {
  identity: string;
  namespace?: string;
  webhook?: boolean;
  /** Fast leader election for tests. */
  leaseDuration?: string;
  extraArgs?: string[];
}

export async function startAllocator(
  ledger: Ledger,
  cluster: TestCluster,
  o: AllocatorRunOptions,
): Promise<AllocatorProcess> {
  const metricsPort = await freePort();
  const webhookPort = o.webhook ? await freePort() : undefined;
  // As an operator would have applied it, calling this process: the allocator only patches its caBundle.
  if (webhookPort) await applyWebhookConfigurationAt(cluster.kubeConfig, `https://127.0.0.1:${webhookPort}/validate`);
  const args = [
    join(repoRoot, 'src/allocator/main.ts'),
    `--kubeconfig=${cluster.kubeconfigPath}`,
    `--namespace=${o.namespace ?? 'default'}`,
    `--identity=${o.identity}`,
    `--metrics-bind-address=127.0.0.1:${metricsPort}`,
    `--lease-duration=${o.leaseDuration ?? '3s'}`,
    '--renew-deadline=2s',
    '--retry-period=500ms',
    '--status-debounce=200ms',
    '--log-level=info',
    ...(webhookPort
      ? [
          '--webhook=true',
          `--webhook-bind-address=127.0.0.1:${webhookPort}`,
          `--webhook-url=https://127.0.0.1:${webhookPort}/validate`,
        ]
      : ['--webhook=false']),
    ...(o.extraArgs ?? []),
  ];
  // Node flags for the allocator alone (memory tuning experiments: `--max-semi-space-size=4`), as
  // KUBE_LB_SPEAKER_NODE_OPTIONS does for speakers; NODE_OPTIONS would reach every process of the run.
  const nodeFlags = (process.env.KUBE_LB_ALLOCATOR_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  const proc = spawnTracked(ledger, `allocator-${o.identity}`, process.execPath, [...nodeFlags, ...args], {
    logFile: join(cluster.dir, `allocator-${o.identity}.log`),
    cwd: repoRoot,
  });
  const ready = async (): Promise<boolean> => {
    try {
      return (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok;
    } catch {
      return false;
    }
  };
  return { identity: o.identity, proc, metricsPort, webhookPort, ready };
}

/** lab/eventually.ts with the allocator tests' patience: 60 s, every 200 ms (allocations behind a busy apiserver). */
export function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  return poll(what, check, timeoutMs, everyMs);
}

export async function waitReady(a: AllocatorProcess, timeoutMs = 60_000): Promise<void> {
  await eventually(
    `allocator ${a.identity} ready`,
    async () => {
      if (a.proc.child.exitCode !== null)
        throw new Error(`allocator ${a.identity} exited with ${a.proc.child.exitCode}; see ${a.proc.logFile}`);
      return (await a.ready()) ? true : undefined;
    },
    timeoutMs,
  );
}

/** The holder of the allocator's leader Lease, if any. */
export async function leaseHolder(
  kc: k8s.KubeConfig,
  namespace = 'default',
  name = 'kube-lb-allocator',
): Promise<string | undefined> {
  try {
    const lease = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name, namespace });
    return lease.spec?.holderIdentity || undefined;
  } catch {
    return undefined;
  }
}

export function allocatedOf(c: VIPClaim): { status: string; reason: string; message: string } | undefined {
  return c.status?.conditions?.find((x) => x.type === 'Allocated');
}

/** Waits until the claim has an Allocated condition for its current generation that satisfies `ok`. */
export async function waitClaim(
  kc: k8s.KubeConfig,
  ns: string,
  name: string,
  ok: (c: VIPClaim) => boolean,
  timeoutMs = 30_000,
): Promise<VIPClaim> {
  const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
  return eventually(
    `VIPClaim ${ns}/${name}`,
    async () => {
      const c = await claims.get(name, ns);
      const cond = c.status?.conditions?.find((x) => x.type === 'Allocated') as
        | { observedGeneration?: number }
        | undefined;
      return cond && cond.observedGeneration === c.metadata.generation && ok(c) ? c : undefined;
    },
    timeoutMs,
  );
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
