// Real Kubernetes control planes for tests and the demo: etcd + kube-apiserver (+ kube-controller-manager with
// only the controllers a test asks for), built from Go modules by scripts/setup/controlplane.sh. Each cluster has
// its own free loopback ports, serving certificates, service-account keys and admin token, so any number run at
// once. Everything is recorded in a Ledger, so a crashed run is cleaned up by the next one.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { spawnTracked, type TrackedProcess } from './process.ts';
import type { Ledger } from './ledger.ts';
import { lineBinDir, SUITE_LINE, type KubernetesLine } from './kubernetes-line.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface ClusterOptions {
  /** Short name, used in logs and the kubeconfig context. */
  name: string;
  /**
   * kube-controller-manager controllers to run, e.g. ['namespace', 'garbagecollector', 'endpointslice',
   * 'serviceaccount', 'serviceaccount-token']. Unset or empty: no controller manager.
   */
  controllers?: string[];
  /** Install the project's CRDs from deploy/crds (default true; a missing folder fails the start). */
  installCRDs?: boolean;
  /** Extra kube-apiserver flags. */
  apiserverFlags?: string[];
  /** The Kubernetes line of kube-apiserver and kube-controller-manager (default: the suite's own). */
  line?: KubernetesLine;
}

export interface NodeSpec {
  name: string;
  internalIP: string;
  labels?: Record<string, string>;
  ready?: boolean;
  /** spec.podCIDR, as the node IPAM controller would set it (a Cilium agent with ipam=kubernetes needs it). */
  podCIDR?: string;
}

export interface TestCluster {
  readonly name: string;
  readonly line: KubernetesLine;
  /** The directory of this cluster's kube-apiserver, kube-controller-manager and kube-proxy. */
  readonly binDir: string;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly dir: string;
  /** Admin (system:masters) credentials. */
  readonly kubeConfig: k8s.KubeConfig;
  /** The same admin credentials as a kubeconfig file, for kubectl and child processes. */
  readonly kubeconfigPath: string;
  /** PEM bundle that verifies the API server's serving certificate. */
  readonly caData: string;
  readonly processes: readonly TrackedProcess[];
  createNodes(nodes: readonly NodeSpec[]): Promise<void>;
  /** Runs kubectl against this cluster and returns stdout. */
  kubectl(args: readonly string[], input?: string): string;
  /** A kubeconfig (object and file) that authenticates with `token` instead of the admin token. */
  kubeConfigForToken(token: string, user: string): { kubeConfig: k8s.KubeConfig; path: string };
  /** Stops every process and removes the cluster's directory. */
  stop(): Promise<void>;
  /**
   * Outages. stopApiserver/startApiserver: the kube-apiserver process exits and a new one starts on the same
   * port, certificates and etcd (clients see refused connections, then a fresh server). pauseApiserver/
   * resumeApiserver: SIGSTOP/SIGCONT, like a partition (connections open but hang until a client times out).
   */
  stopApiserver(): Promise<void>;
  startApiserver(): Promise<void>;
  pauseApiserver(): void;
  resumeApiserver(): void;
}

/** The suite's own line's binaries (etcd and kubectl serve every cluster, whatever its line). */
export function controlPlaneBinDir(): string {
  return lineBinDir(SUITE_LINE);
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Ports this process handed out: the kernel may offer one again as soon as its probe closes, before its user binds. */
const issuedPorts = new Set<number>();

/**
 * A loopback port nothing listens on, never one this process handed out before: two taken in a row for one
 * process (its metrics and its webhook) came out equal once, and the second listen failed with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await unusedPort();
    if (issuedPorts.has(port)) continue;
    issuedPorts.add(port);
    return port;
  }
  throw new Error('no loopback port this process has not handed out already, in 100 tries');
}

function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts several clusters in parallel. */
export async function startClusters(ledger: Ledger, options: readonly ClusterOptions[]): Promise<TestCluster[]> {
  const started = await Promise.allSettled(options.map((o) => startCluster(ledger, o)));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  return started.map((r) => (r as PromiseFulfilledResult<TestCluster>).value);
}

/** Starts one cluster; retries with new ports when a port was taken between probing and binding. */
export async function startCluster(ledger: Ledger, options: ClusterOptions): Promise<TestCluster> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startClusterOnce(ledger, options);
    } catch (err) {
      lastError = err;
      if (!(err instanceof PortInUse)) break;
    }
  }
  throw lastError;
}

class PortInUse extends Error {}

async function startClusterOnce(ledger: Ledger, options: ClusterOptions): Promise<TestCluster> {
  const bin = controlPlaneBinDir();
  const line = options.line ?? SUITE_LINE;
  const k8sBin = lineBinDir(line);
  const dir = join(ledger.dir, `cluster-${options.name}-${randomBytes(3).toString('hex')}`);
  mkdirSync(join(dir, 'certs'), { recursive: true });
  ledger.record('dir', dir);
  const processes: TrackedProcess[] = [];
  const stopAll = async (): Promise<void> => {
    // A paused (SIGSTOPped) apiserver would only see SIGTERM once continued.
    for (const p of processes) p.child.kill('SIGCONT');
    for (const p of [...processes].reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
    ledger.release('dir', dir);
  };

  try {
    const [etcdClient, etcdPeer, securePort] = [await freePort(), await freePort(), await freePort()];
    const etcd = spawnTracked(
      ledger,
      `${options.name}/etcd`,
      join(bin, 'etcd'),
      [
        '--name=default',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      { logFile: join(dir, 'etcd.log') },
    );
    processes.push(etcd);
    await waitFor(`${options.name} etcd`, etcd, dir, async () => {
      const res = await fetch(`http://127.0.0.1:${etcdClient}/health`);
      return res.ok;
    });

    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const adminToken = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n`);

    const spawnApiserver = (): TrackedProcess =>
      spawnTracked(
        ledger,
        `${options.name}/kube-apiserver`,
        join(k8sBin, 'kube-apiserver'),
        [
          `--etcd-servers=http://127.0.0.1:${etcdClient}`,
          `--cert-dir=${join(dir, 'certs')}`,
          `--secure-port=${securePort}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          '--service-cluster-ip-range=10.96.0.0/16',
          '--service-node-port-range=30000-32767',
          '--allow-privileged=true',
          '--authorization-mode=RBAC',
          `--token-auth-file=${join(dir, 'tokens.csv')}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${join(dir, 'sa.pub')}`,
          `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
          '--max-requests-inflight=2000',
          '--max-mutating-requests-inflight=1000',
          '--profiling=false',
          '--v=0',
          ...(options.apiserverFlags ?? []),
        ],
        { logFile: join(dir, 'kube-apiserver.log') },
      );
    let apiserver = spawnApiserver();
    processes.push(apiserver);
    const server = `https://127.0.0.1:${securePort}`;
    // The apiserver writes its self-signed certificate and then listens: the file is complete once the port
    // accepts connections (read earlier, under load, it was once half written and every request failed TLS).
    await waitFor(
      `${options.name} kube-apiserver`,
      apiserver,
      dir,
      async () => existsSync(join(dir, 'certs', 'apiserver.crt')) && (await accepts(securePort)),
    );
    const caData = readFileSync(join(dir, 'certs', 'apiserver.crt'), 'utf8');

    const kubeConfigForToken = (token: string, user: string): { kubeConfig: k8s.KubeConfig; path: string } => {
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: options.name, server, caData: Buffer.from(caData).toString('base64') }],
        users: [{ name: user, token }],
        contexts: [{ name: `${user}@${options.name}`, cluster: options.name, user }],
        currentContext: `${user}@${options.name}`,
      });
      const path = join(dir, `${user.replace(/[^a-zA-Z0-9_.-]/g, '_')}.kubeconfig`);
      writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
      return { kubeConfig: kc, path };
    };
    const admin = kubeConfigForToken(adminToken, 'admin');
    const core = admin.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await waitFor(`${options.name} kube-apiserver ready`, apiserver, dir, async () => {
      await core.readNamespace({ name: 'default' });
      return true;
    });

    if (options.controllers && options.controllers.length > 0) {
      const kcm = spawnTracked(
        ledger,
        `${options.name}/kube-controller-manager`,
        join(k8sBin, 'kube-controller-manager'),
        [
          `--kubeconfig=${admin.path}`,
          `--controllers=${options.controllers.join(',')}`,
          '--leader-elect=false',
          '--secure-port=0',
          `--service-account-private-key-file=${join(dir, 'sa.key')}`,
          `--root-ca-file=${join(dir, 'certs', 'apiserver.crt')}`,
          '--use-service-account-credentials=false',
          '--endpointslice-updates-batch-period=0s',
          '--v=0',
        ],
        { logFile: join(dir, 'kube-controller-manager.log') },
      );
      processes.push(kcm);
      // Pods need the namespace's default ServiceAccount; waiting for it also proves the manager is working.
      const wantsServiceAccounts = options.controllers.includes('serviceaccount');
      await waitFor(`${options.name} kube-controller-manager`, kcm, dir, async () => {
        if (!wantsServiceAccounts) return true;
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
        return true;
      });
    }

    const cluster: TestCluster = {
      name: options.name,
      line,
      binDir: k8sBin,
      server,
      dir,
      kubeConfig: admin.kubeConfig,
      kubeconfigPath: admin.path,
      caData,
      processes,
      kubeConfigForToken,
      createNodes: (nodes) => createNodes(admin.kubeConfig, nodes),
      kubectl: (args, input) =>
        execFileSync(join(bin, 'kubectl'), ['--kubeconfig', admin.path, ...args], {
          encoding: 'utf8',
          input,
          stdio: ['pipe', 'pipe', 'pipe'],
        }),
      stop: stopAll,
      async stopApiserver() {
        apiserver.child.kill('SIGCONT');
        await apiserver.stop();
      },
      async startApiserver() {
        if (apiserver.child.exitCode === null && apiserver.child.signalCode === null) return;
        const i = processes.indexOf(apiserver);
        apiserver = spawnApiserver();
        processes[i] = apiserver;
        await waitFor(`${options.name} kube-apiserver restart`, apiserver, dir, async () => {
          await core.readNamespace({ name: 'default' });
          return true;
        });
      },
      pauseApiserver: () => void apiserver.child.kill('SIGSTOP'),
      resumeApiserver: () => void apiserver.child.kill('SIGCONT'),
    };
    if (options.installCRDs ?? true) {
      await installManifests(admin.kubeConfig, join(repoRoot, 'deploy/crds'));
    }
    return cluster;
  } catch (err) {
    const portClash = processes.some((p) => logMentionsPortInUse(p.logFile));
    await stopAll();
    if (portClash) throw new PortInUse(`port in use while starting ${options.name}`, { cause: err });
    throw err;
  }
}

function logMentionsPortInUse(logFile: string): boolean {
  try {
    return /address already in use/i.test(readFileSync(logFile, 'utf8'));
  } catch {
    return false;
  }
}

/** Polls `ready` until it returns true; fails early with the log tail when the process exits. */
async function waitFor(
  what: string,
  proc: TrackedProcess,
  dir: string,
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${what} exited (${proc.child.exitCode ?? proc.child.signalCode}):\n${tail(proc.logFile)}`);
    }
    try {
      if (await ready()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(100);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms (${String(lastError)}) in ${dir}:\n${tail(proc.logFile)}`);
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Creates (or replaces) Node objects with an InternalIP and a Ready condition, as a kubelet would report. */
export async function createNodes(kc: k8s.KubeConfig, nodes: readonly NodeSpec[]): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (const spec of nodes) {
    const body: k8s.V1Node = {
      metadata: { name: spec.name, labels: spec.labels ?? {} },
      ...(spec.podCIDR ? { spec: { podCIDR: spec.podCIDR, podCIDRs: [spec.podCIDR] } } : {}),
    };
    try {
      await core.createNode({ body });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
    const now = new Date();
    await core.patchNodeStatus(
      {
        name: spec.name,
        body: {
          status: {
            addresses: [
              { type: 'InternalIP', address: spec.internalIP },
              { type: 'Hostname', address: spec.name },
            ],
            conditions: [
              {
                type: 'Ready',
                status: spec.ready === false ? 'False' : 'True',
                reason: 'KubeletReady',
                message: 'test node',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
          },
        },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }
}

/**
 * Server-side apply of a CRD exactly as written. KubernetesObjectApi re-serializes bodies through client-node's
 * typed models, whose JSONSchemaProps know `xKubernetesValidations` but not the JSON name
 * `x-kubernetes-validations`: every CEL rule and list type under `properties` was silently dropped (rules
 * under `items`, typed `any`, survived). CustomObjectsApi sends the body untouched.
 */
async function applyCRD(kc: k8s.KubeConfig, crd: k8s.KubernetesObject): Promise<void> {
  await kc.makeApiClient(k8s.CustomObjectsApi).patchClusterCustomObject(
    {
      group: 'apiextensions.k8s.io',
      version: 'v1',
      plural: 'customresourcedefinitions',
      name: crd.metadata!.name!,
      body: crd,
      fieldManager: 'kube-lb-test',
      force: true,
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
  );
}

/**
 * Applies every YAML document in a folder (server-side apply) and waits for CRDs to be Established, so a
 * test can use them as soon as this returns.
 */
export async function installManifests(kc: k8s.KubeConfig, folder: string): Promise<void> {
  if (!existsSync(folder)) throw new Error(`no manifests to install: ${folder} is missing`);
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  const files = readdirSync(folder)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  if (files.length === 0) throw new Error(`no manifests to install: ${folder} has no YAML files`);
  const crdNames: string[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(join(folder, file), 'utf8'))) {
      const obj = doc.toJS() as k8s.KubernetesObject | null;
      if (!obj?.kind) continue;
      if (obj.kind === 'CustomResourceDefinition' && obj.metadata?.name) {
        await applyCRD(kc, obj);
        crdNames.push(obj.metadata.name);
      } else {
        await client.patch(obj, undefined, undefined, 'kube-lb-test', true, k8s.PatchStrategy.ServerSideApply);
      }
    }
  }
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const name of crdNames) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const crd = await ext.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 30 s`);
      await sleep(100);
    }
  }
}
