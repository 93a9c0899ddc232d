// Two real clusters wired the way an installation wires them, for the agent's control-plane tests and benchmark:
// - an LB cluster with the CRDs, one VIPPool, one ConsumerCluster and its tenant RBAC (deploy/tenant), and an
//   allocator: the real one (src/allocator/main.ts as a process), or the test stand-in where a test asks for it;
// - a consumer cluster with kube-controller-manager (EndpointSlices, namespaces, GC, service accounts), the
//   agent's consumer-side namespace and RBAC as installed (deploy/lb-consumer-cluster) and a few Nodes;
// - kubeconfigs for the agent that authenticate as its real ServiceAccounts (TokenRequest) on both sides, so
//   every test also proves the RBAC is sufficient.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { resourceClient, type ResourceClient } from '../../src/kube/custom-objects.ts';
import { renderTemplate } from '../../src/core/manifest-template.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { startStandInAllocator } from './allocator-stand-in.ts';
import { consumerLine, lbLine } from '../../lab/kubernetes-line.ts';
import { freePort, startClusters, type NodeSpec, type TestCluster } from '../../lab/controlplane.ts';
import type { Ledger } from '../../lab/ledger.ts';
import { spawnTracked, type TrackedProcess } from '../../lab/process.ts';
import { eventually } from '../../lab/eventually.ts';
import { applyWebhookConfigurationAt } from '../../lab/webhook-configuration.ts';

export { eventually };

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const CONSUMER_CONTROLLERS = [
  'namespace',
  'garbagecollector',
  'endpointslice',
  'serviceaccount',
  'serviceaccount-token',
];

export interface AgentEnvOptions {
  cluster?: string;
  tenantNamespace?: string;
  /** VIPPool addresses (CIDRs or ranges). */
  poolAddresses?: string[];
  /** The stand-in allocator's address list; it must match poolAddresses. */
  standInAddresses?: string[];
  nodes?: NodeSpec[];
  allowedBackendCIDRs?: string[];
  /**
   * The real allocator (default), or the stand-in only when asked for here or by KUBE_LB_TEST_ALLOCATOR=stand-in:
   * a missing real one fails the test, naming it, instead of being replaced.
   */
  allocator?: 'real' | 'stand-in';
}

export interface Allocator {
  readonly kind: 'real' | 'stand-in';
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface AgentProcess {
  readonly proc: TrackedProcess;
  readonly metricsPort: number;
  readonly identity: string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  /** Sum of a counter over the label sets that match `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export interface AgentEnv {
  readonly consumer: TestCluster;
  readonly lb: TestCluster;
  readonly cluster: string;
  readonly tenantNamespace: string;
  readonly allocator: Allocator;
  readonly claims: ResourceClient<VIPClaim>;
  readonly core: k8s.CoreV1Api;
  /** Agent credentials (ServiceAccount tokens). */
  readonly agentLbKubeconfig: string;
  readonly agentConsumerKubeconfig: string;
  /**
   * `lbCredentials: 'secret'` hands the agent its LB kubeconfig through a consumer-cluster Secret
   * (kube-lb-system/kube-lb-agent-lb-kubeconfig) instead of a file, with the one extra grant that needs (the
   * installed RBAC assumes the Secret is mounted as a file and gives no Secret access).
   */
  startAgent(opts?: {
    identity?: string;
    extraArgs?: string[];
    lbCredentials?: 'file' | 'secret';
  }): Promise<AgentProcess>;
  stop(): Promise<void>;
}

/** What --lb-kubeconfig-secret needs on top of the installed consumer RBAC. */
const SECRET_READER = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: kube-lb-agent-lb-kubeconfig-reader, namespace: kube-lb-system}
rules:
  - {apiGroups: [""], resources: [secrets], resourceNames: [kube-lb-agent-lb-kubeconfig], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kube-lb-agent-lb-kubeconfig-reader, namespace: kube-lb-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: kube-lb-agent-lb-kubeconfig-reader}
subjects: [{kind: ServiceAccount, name: kube-lb-agent, namespace: kube-lb-system}]
`;

/** Server-side applies every document of a YAML text. */
export async function applyYaml(kc: k8s.KubeConfig, text: string): Promise<void> {
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const doc of parseAllDocuments(text)) {
    const obj = doc.toJS() as k8s.KubernetesObject | null;
    if (!obj?.kind) continue;
    await client.patch(obj, undefined, undefined, 'kube-lb-test', true, k8s.PatchStrategy.ServerSideApply);
  }
}

/** Tenant RBAC from deploy/tenant, rendered for one ConsumerCluster. */
export function tenantRbac(cluster: string, tenantNamespace: string): string {
  const r = renderTemplate(readFileSync(join(repoRoot, 'deploy/tenant/agent-rbac.yaml'), 'utf8'), {
    CLUSTER_NAME: cluster,
    TENANT_NAMESPACE: tenantNamespace,
  });
  if (!r.ok) throw new Error(`deploy/tenant/agent-rbac.yaml: ${r.reason} ${r.names.join(', ')}`);
  return r.text;
}

/** A kubeconfig file that authenticates as a ServiceAccount (a TokenRequest token, valid one hour). */
export async function serviceAccountKubeconfig(cluster: TestCluster, namespace: string, name: string): Promise<string> {
  const core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return cluster.kubeConfigForToken(token, `system:serviceaccount:${namespace}:${name}`).path;
}

const ALLOCATOR_MAIN = join(repoRoot, 'src/allocator/main.ts');

function allocatorChoice(opts: AgentEnvOptions): 'real' | 'stand-in' {
  const fromEnv = process.env.KUBE_LB_TEST_ALLOCATOR;
  if (fromEnv !== undefined && fromEnv !== 'real' && fromEnv !== 'stand-in') {
    throw new Error(`KUBE_LB_TEST_ALLOCATOR=${fromEnv}: expected real or stand-in`);
  }
  const choice = opts.allocator ?? fromEnv ?? 'real';
  if (choice === 'real' && !existsSync(ALLOCATOR_MAIN)) {
    throw new Error(
      `the real allocator is missing: ${ALLOCATOR_MAIN} (KUBE_LB_TEST_ALLOCATOR=stand-in runs the stand-in on purpose)`,
    );
  }
  return choice;
}

export async function startAgentEnv(ledger: Ledger, opts: AgentEnvOptions = {}): Promise<AgentEnv> {
  const cluster = opts.cluster ?? 'c1';
  const tenantNamespace = opts.tenantNamespace ?? `tenant-${cluster}`;
  const poolAddresses = opts.poolAddresses ?? ['192.0.2.0/27'];
  // Decided before any cluster starts, so a missing allocator fails at once.
  const allocator = allocatorChoice(opts);
  const [consumer, lb] = await startClusters(ledger, [
    // A consumer cluster has none of kube-lb's CRDs: the agent uses only built-in APIs there.
    { name: 'consumer', controllers: CONSUMER_CONTROLLERS, line: consumerLine(), installCRDs: false },
    { name: 'lb', line: lbLine() },
  ]);
  const stopClusters = async (): Promise<void> => {
    await Promise.all([consumer!.stop(), lb!.stop()]);
  };
  try {
    return await wire(
      ledger,
      consumer!,
      lb!,
      { ...opts, cluster, tenantNamespace, poolAddresses, allocator },
      stopClusters,
    );
  } catch (err) {
    await stopClusters();
    throw err;
  }
}

async function wire(
  ledger: Ledger,
  consumer: TestCluster,
  lb: TestCluster,
  opts: AgentEnvOptions & {
    cluster: string;
    tenantNamespace: string;
    poolAddresses: string[];
    allocator: 'real' | 'stand-in';
  },
  stopClusters: () => Promise<void>,
): Promise<AgentEnv> {
  const { cluster, tenantNamespace } = opts;
  const lbCore = lb.kubeConfig.makeApiClient(k8s.CoreV1Api);
  await lbCore.createNamespace({ body: { metadata: { name: 'kube-lb-system' } } });
  await applyYaml(lb.kubeConfig, tenantRbac(cluster, tenantNamespace));
  await resourceClient<VIPPool>(lb.kubeConfig, 'VIPPool').create({
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPPool',
    metadata: { name: 'default' },
    spec: { addresses: opts.poolAddresses, autoAssign: true },
  });
  await resourceClient<ConsumerCluster>(lb.kubeConfig, 'ConsumerCluster').create({
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'ConsumerCluster',
    metadata: { name: cluster },
    spec: { tenantNamespace, allowedBackendCIDRs: opts.allowedBackendCIDRs ?? ['10.0.0.0/16'] },
  });
  for (const file of ['00-namespace.yaml', '10-agent-rbac.yaml']) {
    await applyYaml(consumer.kubeConfig, readFileSync(join(repoRoot, 'deploy/lb-consumer-cluster', file), 'utf8'));
  }
  await consumer.createNodes(
    opts.nodes ?? [
      { name: 'node-a', internalIP: '10.0.0.1' },
      { name: 'node-b', internalIP: '10.0.0.2' },
    ],
  );
  const agentLbKubeconfig = await serviceAccountKubeconfig(lb, tenantNamespace, 'kube-lb-agent');
  const agentConsumerKubeconfig = await serviceAccountKubeconfig(consumer, 'kube-lb-system', 'kube-lb-agent');

  const allocator =
    opts.allocator === 'real'
      ? realAllocator(ledger, lb)
      : standInAllocator(lb, opts.standInAddresses ?? Array.from({ length: 30 }, (_, i) => `192.0.2.${i + 1}`));
  await allocator.start();

  const agents: AgentProcess[] = [];
  const consumerCore = consumer.kubeConfig.makeApiClient(k8s.CoreV1Api);
  let n = 0;
  return {
    consumer,
    lb,
    cluster,
    tenantNamespace,
    allocator,
    claims: resourceClient<VIPClaim>(lb.kubeConfig, 'VIPClaim'),
    core: consumerCore,
    agentLbKubeconfig,
    agentConsumerKubeconfig,
    async startAgent(o = {}) {
      const identity = o.identity ?? `agent-${++n}`;
      const metricsPort = await freePort();
      let lbFlag = `--lb-kubeconfig=${agentLbKubeconfig}`;
      if (o.lbCredentials === 'secret') {
        const name = 'kube-lb-agent-lb-kubeconfig';
        const body = {
          metadata: { name, namespace: 'kube-lb-system' },
          stringData: { kubeconfig: readFileSync(agentLbKubeconfig, 'utf8') },
        };
        await consumerCore
          .createNamespacedSecret({ namespace: 'kube-lb-system', body })
          .catch((err: { code?: number }) => {
            if (err.code !== 409) throw err;
          });
        await applyYaml(consumer.kubeConfig, SECRET_READER);
        lbFlag = `--lb-kubeconfig-secret=kube-lb-system/${name}`;
      }
      const proc = spawnTracked(
        ledger,
        identity,
        process.execPath,
        [
          join(repoRoot, 'src/agent/main.ts'),
          `--kubeconfig=${agentConsumerKubeconfig}`,
          lbFlag,
          `--cluster-name=${cluster}`,
          `--tenant-namespace=${tenantNamespace}`,
          `--identity=${identity}`,
          '--leader-election-namespace=kube-lb-system',
          // Short enough for a quick failover test, long enough that a leader on a loaded CI machine (several
          // suites on 2 cores) does not miss its renew deadline and exit.
          '--lease-duration=8s',
          '--renew-deadline=6s',
          '--retry-period=500ms',
          '--debounce=200ms',
          '--heartbeat-period=1s',
          '--request-timeout=5s',
          '--rejection-retry=2s',
          `--metrics-bind-address=127.0.0.1:${metricsPort}`,
          '--log-level=debug',
          ...(o.extraArgs ?? []),
        ],
        { logFile: join(consumer.dir, `${identity}.log`), cwd: repoRoot },
      );
      const agent: AgentProcess = {
        proc,
        metricsPort,
        identity,
        stop: () => proc.stop(),
        kill: () => proc.kill(),
        metric: (name, labels = {}) => scrape(metricsPort, name, labels),
      };
      agents.push(agent);
      await eventually(
        `${identity} status server`,
        async () => {
          if (proc.child.exitCode !== null)
            throw new Error(`${identity} exited: ${readFileSync(proc.logFile, 'utf8').slice(-2000)}`);
          return (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).ok;
        },
        30_000,
      );
      return agent;
    },
    async stop() {
      await Promise.all(agents.map((a) => a.stop()));
      // For debugging a run: KUBE_LB_KEEP_LOGS=DIR keeps the agents' and the allocator's logs.
      const keep = process.env.KUBE_LB_KEEP_LOGS;
      if (keep) {
        mkdirSync(keep, { recursive: true });
        for (const a of agents) copyFileSync(a.proc.logFile, join(keep, `${a.identity}.log`));
        if (existsSync(join(lb.dir, 'allocator.log')))
          copyFileSync(join(lb.dir, 'allocator.log'), join(keep, 'allocator.log'));
      }
      await allocator.stop();
      await stopClusters();
    },
  };
}

function standInAllocator(lb: TestCluster, addresses: string[]): Allocator {
  let running: Awaited<ReturnType<typeof startStandInAllocator>> | undefined;
  return {
    kind: 'stand-in',
    async start() {
      running = await startStandInAllocator(
        lb.kubeConfig,
        addresses,
        createLogger({ program: 'stand-in-allocator', level: 'warn' }),
      );
    },
    async stop() {
      await running?.stop();
      running = undefined;
    },
  };
}

function realAllocator(ledger: Ledger, lb: TestCluster): Allocator {
  let proc: TrackedProcess | undefined;
  return {
    kind: 'real',
    async start() {
      const [webhookPort, metricsPort] = [await freePort(), await freePort()];
      await applyWebhookConfigurationAt(lb.kubeConfig, `https://127.0.0.1:${webhookPort}/validate`);
      proc = spawnTracked(
        ledger,
        'allocator',
        process.execPath,
        [
          ALLOCATOR_MAIN,
          `--kubeconfig=${lb.kubeconfigPath}`,
          '--leader-elect=false',
          '--status-debounce=200ms',
          `--webhook-bind-address=127.0.0.1:${webhookPort}`,
          `--webhook-url=https://127.0.0.1:${webhookPort}/validate`,
          `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        ],
        { logFile: join(lb.dir, 'allocator.log'), cwd: repoRoot },
      );
      const p = proc;
      await eventually(
        'allocator ready',
        async () => {
          if (p.child.exitCode !== null)
            throw new Error(`allocator exited: ${readFileSync(p.logFile, 'utf8').slice(-2000)}`);
          return (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok;
        },
        30_000,
      );
    },
    async stop() {
      await proc?.stop();
      proc = undefined;
    },
  };
}

async function scrape(port: number, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
