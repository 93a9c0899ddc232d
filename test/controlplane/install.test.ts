// The install as an operator does it, against two real API servers:
// - `kubectl apply --server-side -f deploy/kube-lb-cluster/` (LB) and `-f deploy/lb-consumer-cluster/` (consumer):
//   every object accepted by the server (schema, CEL, RBAC escalation checks), no Pod Security warnings, and
//   `kubectl kustomize` of each folder yields the same objects;
// - the allocator runs as a process with its ServiceAccount's token (exactly the RBAC of 10-allocator-rbac.yaml),
//   patches its CA into the shipped webhook configuration (21-allocator-webhook.yaml, calling the process's URL
//   here) and may not create, list, replace or delete webhook configurations;
// - `kube-lb tenant add` onboards two tenants; tenant a's printed Secret, applied in the consumer cluster, lets
//   the agent (a process with the consumer ServiceAccount's token and that Secret's kubeconfig) serve a
//   LoadBalancer Service end to end: claim in a's namespace, VIP in the Service status;
// - the tenant credentials cannot reach the other tenant's claims, and the programs' tokens cannot do what their
//   code never does (403s);
// - `kube-lb tenant remove` refuses while claims exist, then cleans up.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { tenantCommand } from '../../src/cli/tenant.ts';
import { consumerClusterFor } from '../../src/core/tenant/onboarding.ts';
import type { CliIO } from '../../src/cli/command-args.ts';
import { startAllocator, waitReady } from '../../lab/allocator.ts';
import { eventually, serviceAccountKubeconfig, repoRoot } from '../support/agent-env.ts';
import { lbService, ensureNamespace } from '../../lab/consumer-objects.ts';
import { controlPlaneBinDir, freePort, startClusters, type TestCluster } from '../../lab/controlplane.ts';
import { Ledger } from '../../lab/ledger.ts';
import { consumerLine, lbLine } from '../../lab/kubernetes-line.ts';
import { documentedMetrics } from '../support/metrics-doc.ts';
import { spawnTracked } from '../../lab/process.ts';

const SYSTEM = 'kube-lb-system';

function capture(env: Record<string, string | undefined>): CliIO & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (s) => void (out += s), err: (s) => void (err += s), env, stdout: () => out, stderr: () => err };
}

function kubectlAll(cluster: TestCluster, args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(
      join(controlPlaneBinDir(), 'kubectl'),
      ['--kubeconfig', cluster.kubeconfigPath, ...args],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return { status: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { status: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

interface ManifestContainer {
  args: string[];
  env?: Array<{
    name: string;
    value?: string;
    valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
  }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

/** The first container of the workload `name` in a deploy folder, and its pod's volumes. */
function manifestWorkload(
  dir: string,
  name: string,
): { container: ManifestContainer; volumes: Array<{ name: string; secret?: { secretName: string } }> } {
  for (const f of readdirSync(join(repoRoot, dir)).filter((x) => x.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(repoRoot, dir, f), 'utf8'))) {
      const o = doc.toJS() as {
        kind?: string;
        metadata?: { name?: string };
        spec?: { template: { spec: { containers: ManifestContainer[]; volumes?: [] } } };
      } | null;
      if ((o?.kind === 'Deployment' || o?.kind === 'DaemonSet') && o.metadata?.name === name) {
        return { container: o.spec!.template.spec.containers[0]!, volumes: o.spec!.template.spec.volumes ?? [] };
      }
    }
  }
  throw new Error(`no workload ${name} in ${dir}`);
}

/** The environment the kubelet would give the container: literal values, downward API fields, Secret keys. */
function resolveEnv(
  c: ManifestContainer,
  fields: Record<string, string>,
  secrets: Record<string, Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const ref = e.valueFrom;
    const v =
      e.value ??
      (ref?.fieldRef
        ? fields[ref.fieldRef.fieldPath]
        : ref?.secretKeyRef
          ? secrets[ref.secretKeyRef.name]?.[ref.secretKeyRef.key]
          : undefined);
    if (v === undefined) throw new Error(`env ${e.name}: nothing to resolve it from`);
    env[e.name] = v;
  }
  return env;
}

function objectKeys(yamlText: string): string[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as k8s.KubernetesObject | null)
    .filter((o): o is k8s.KubernetesObject => !!o?.kind)
    .map((o) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`)
    .sort();
}

/** Whether `kc` may do `verb` — asked through the real API call, not a review: status 403 or not. */
async function forbidden(what: string, op: () => Promise<unknown>): Promise<boolean> {
  try {
    await op();
    return false;
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code === 403) return true;
    throw new Error(`${what}: expected 403, got ${code ?? String(err)}`);
  }
}

t.test("install, onboard two tenants, serve a Service with the manifests' RBAC, isolate, remove", async (t) => {
  const ledger = Ledger.open('install');
  const [lb, consumer] = await startClusters(ledger, [
    {
      name: 'lb',
      installCRDs: false,
      controllers: [
        'namespace',
        'garbagecollector',
        'serviceaccount',
        'serviceaccount-token',
        'root-ca-cert-publisher',
      ],
      line: lbLine(),
    },
    {
      name: 'consumer',
      installCRDs: false,
      controllers: ['namespace', 'garbagecollector', 'endpointslice', 'serviceaccount', 'serviceaccount-token'],
      line: consumerLine(),
    },
  ]);
  t.comment(`LB cluster Kubernetes ${lb!.line.version}, consumer cluster Kubernetes ${consumer!.line.version}`);
  t.teardown(async () => {
    await lb!.stop();
    await consumer!.stop();
  });

  // ---------------------------------------------------------------- manifests, server-side
  for (const [cluster, dir] of [
    [lb!, 'deploy/kube-lb-cluster'],
    [consumer!, 'deploy/lb-consumer-cluster'],
  ] as const) {
    const applied = kubectlAll(cluster, [
      'apply',
      '--server-side',
      '--field-manager=kube-lb-install',
      '-f',
      join(repoRoot, dir),
    ]);
    t.equal(applied.status, 0, `${dir} applies server-side: ${applied.stderr}`);
    t.notMatch(applied.stderr, /Warning/i, `${dir}: no warnings (Pod Security, deprecations)`);
    const kustomized = kubectlAll(cluster, ['kustomize', join(repoRoot, dir)]);
    t.equal(kustomized.status, 0, `kubectl kustomize ${dir}: ${kustomized.stderr}`);
    const fromFiles = objectKeys(
      readdirSync(join(repoRoot, dir))
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => readFileSync(join(repoRoot, dir, f), 'utf8'))
        .join('\n---\n'),
    );
    t.same(objectKeys(kustomized.stdout), fromFiles, `${dir}: kustomize builds the same objects as apply -f`);
    // A second apply changes nothing (idempotent, no field-manager fights).
    const again = kubectlAll(cluster, [
      'apply',
      '--server-side',
      '--field-manager=kube-lb-install',
      '-f',
      join(repoRoot, dir),
    ]);
    t.equal(again.status, 0);
    t.notMatch(again.stdout, /configured|created/, `${dir}: re-apply is a no-op`);
  }

  // ---------------------------------------------------------------- allocator with its own ServiceAccount
  const allocatorKubeconfig = await serviceAccountKubeconfig(lb!, SYSTEM, 'kube-lb-allocator');
  // The allocator with the Deployment's own flags, then the test's (later flags win): its token, loopback
  // ports and a webhook URL the test apiserver can reach instead of the Service.
  const [allocatorProgram, ...allocatorArgs] = manifestWorkload('deploy/kube-lb-cluster', 'kube-lb-allocator').container
    .args;
  t.equal(allocatorProgram, 'allocator');
  const allocatorFlags = allocatorArgs.filter((a) => !/^--(webhook-bind-address|metrics-bind-address)=/.test(a));
  const allocator = await startAllocator(ledger, lb!, {
    identity: 'alloc-0',
    namespace: SYSTEM,
    webhook: true,
    extraArgs: [...allocatorFlags, `--kubeconfig=${allocatorKubeconfig}`],
  });
  t.teardown(() => allocator.proc.stop());
  await waitReady(allocator);
  t.pass('allocator ready with the manifest RBAC (informers listed, webhook Secret written, caBundle patched)');
  // The shipped webhook configuration (its pool and tenant rules fail closed) trusts the allocator's CA now; before,
  // a pool could not be created.
  const webhookTls = await lb!.kubeConfig
    .makeApiClient(k8s.CoreV1Api)
    .readNamespacedSecret({ name: 'kube-lb-allocator-webhook-tls', namespace: SYSTEM });
  const vwc = await lb!.kubeConfig
    .makeApiClient(k8s.AdmissionregistrationV1Api)
    .readValidatingWebhookConfiguration({ name: 'kube-lb-allocator' });
  t.ok(
    vwc.webhooks!.every((w) => w.clientConfig.caBundle === webhookTls.data!['ca.crt']),
    "the allocator's token patched its CA into every webhook",
  );
  const pool: VIPPool = {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPPool',
    metadata: { name: 'public' },
    spec: { addresses: ['198.51.100.0/28'] },
  };
  await resourceClient<VIPPool>(lb!.kubeConfig, 'VIPPool').create(pool);

  // ---------------------------------------------------------------- tenants
  const env = { KUBECONFIG: lb!.kubeconfigPath };
  const addA = capture(env);
  t.equal(
    await tenantCommand(['add', 'tenant-a', '--backend-cidr', '10.10.0.0/24', '--max-vips', '5'], addA),
    0,
    addA.stderr(),
  );
  const addB = capture(env);
  t.equal(
    await tenantCommand(['add', 'tenant-b', '--backend-cidr=10.20.0.0/24', '--token-ttl=1h'], addB),
    0,
    addB.stderr(),
  );
  const tenants = resourceClient<ConsumerCluster>(lb!.kubeConfig, 'ConsumerCluster');
  t.same((await tenants.get('tenant-a')).spec, {
    tenantNamespace: 'kube-lb-tenant-tenant-a',
    allowedBackendCIDRs: ['10.10.0.0/24'],
    maxVIPs: 5,
  });
  // Re-running add is idempotent and reissues the same long-lived token.
  const addAgain = capture(env);
  t.equal(
    await tenantCommand(['add', 'tenant-a', '--backend-cidr', '10.10.0.0/24', '--max-vips', '5'], addAgain),
    0,
    addAgain.stderr(),
  );
  t.equal(addAgain.stdout(), addA.stdout(), 'the same Secret again');
  const moved = capture(env);
  t.equal(
    await tenantCommand(
      ['add', 'tenant-a', '--backend-cidr', '10.10.0.0/24', '--tenant-namespace', 'elsewhere'],
      moved,
    ),
    1,
  );
  t.match(moved.stderr(), /TenantNamespaceChange/);
  // A system namespace, or one kube-lb did not create, is never a tenant's: tenant remove would delete it.
  const system = capture(env);
  t.equal(
    await tenantCommand(
      ['add', 'tenant-c', '--backend-cidr', '10.30.0.0/24', '--tenant-namespace', 'kube-system'],
      system,
    ),
    2,
    'kube-system refused',
  );
  t.match(system.stderr(), /tenant namespace "kube-system" is a system namespace/);
  const lbCore = lb!.kubeConfig.makeApiClient(k8s.CoreV1Api);
  await lbCore.createNamespace({ body: { metadata: { name: 'payments' } } });
  const foreign = capture(env);
  t.equal(
    await tenantCommand(
      ['add', 'tenant-c', '--backend-cidr', '10.30.0.0/24', '--tenant-namespace', 'payments'],
      foreign,
    ),
    1,
    'an existing namespace refused',
  );
  t.match(foreign.stderr(), /NamespaceNotKubeLb.*payments exists and kube-lb did not create it/);
  await t.rejects(tenants.get('tenant-c'), 'and nothing was written for tenant c');
  // A ConsumerCluster written by hand that names it: tenant remove deletes kube-lb's objects, never the namespace.
  await tenants.create(
    consumerClusterFor({ name: 'tenant-c', tenantNamespace: 'payments', backendCIDRs: ['10.30.0.0/24'] }),
  );
  const removeC = capture(env);
  t.equal(await tenantCommand(['remove', 'tenant-c'], removeC), 0, removeC.stderr());
  t.match(
    removeC.stderr(),
    /namespace payments left in place: namespace payments exists and kube-lb did not create it/,
  );
  t.equal((await lbCore.readNamespace({ name: 'payments' })).status?.phase, 'Active', 'payments is still there');

  // ---------------------------------------------------------------- consumer side: apply the printed Secret, run the agent
  const secretFile = join(consumer!.dir, 'tenant-a-secret.yaml');
  writeFileSync(secretFile, addA.stdout());
  const appliedSecret = kubectlAll(consumer!, ['apply', '--server-side', '-f', secretFile]);
  t.equal(appliedSecret.status, 0, appliedSecret.stderr);
  const consumerCore = consumer!.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const secret = await consumerCore.readNamespacedSecret({ name: 'kube-lb-agent-lb-kubeconfig', namespace: SYSTEM });
  const secretData = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
  await consumer!.createNodes([
    { name: 'c1', internalIP: '10.10.0.11' },
    { name: 'c2', internalIP: '10.10.0.12' },
  ]);
  // The agent exactly as deploy/lb-consumer-cluster/20-agent.yaml runs it: its args, its env resolved from the
  // downward API and the printed Secret, the Secret's kubeconfig key at the mounted path (re-rooted in a temp
  // dir); only the consumer credentials (its ServiceAccount token) and test timings are added.
  const { container: agentContainer, volumes } = manifestWorkload('deploy/lb-consumer-cluster', 'kube-lb-agent');
  const agentEnv = resolveEnv(
    agentContainer,
    { 'metadata.name': 'kube-lb-agent-0', 'metadata.namespace': SYSTEM },
    { 'kube-lb-agent-lb-kubeconfig': secretData },
  );
  const mount = agentContainer.volumeMounts!.find(
    (m) => volumes.find((v) => v.name === m.name)?.secret?.secretName === 'kube-lb-agent-lb-kubeconfig',
  )!;
  const mountRoot = join(consumer!.dir, 'agent-pod');
  const lbKubeconfig = join(mountRoot, agentEnv.KUBE_LB_LB_KUBECONFIG!);
  t.ok(
    agentEnv.KUBE_LB_LB_KUBECONFIG!.startsWith(`${mount.mountPath}/`),
    'the kubeconfig path is inside the Secret mount',
  );
  mkdirSync(dirname(lbKubeconfig), { recursive: true });
  writeFileSync(lbKubeconfig, secretData.kubeconfig!, { mode: 0o600 });
  const agentConsumerKubeconfig = await serviceAccountKubeconfig(consumer!, SYSTEM, 'kube-lb-agent');
  const agentMetrics = await freePort();
  const [program, ...agentArgs] = agentContainer.args;
  t.equal(program, 'agent');
  const agent = spawnTracked(
    ledger,
    'agent',
    process.execPath,
    [
      join(repoRoot, 'src/agent/main.ts'),
      ...agentArgs,
      `--kubeconfig=${agentConsumerKubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${agentMetrics}`,
      '--lease-duration=3s',
      '--renew-deadline=2s',
      '--retry-period=500ms',
      '--debounce=100ms',
    ],
    {
      logFile: join(consumer!.dir, 'agent.log'),
      cwd: repoRoot,
      env: { ...process.env, ...agentEnv, KUBE_LB_LB_KUBECONFIG: lbKubeconfig },
    },
  );
  t.teardown(() => agent.stop());
  await ensureNamespace(consumerCore, 'shop');
  await consumerCore.createNamespacedService({ namespace: 'shop', body: lbService('shop', 'web') });
  const vip = await eventually(
    'the Service gets its VIP',
    async () => {
      if (agent.child.exitCode !== null) throw new Error(`agent exited ${agent.child.exitCode}; see ${agent.logFile}`);
      const svc = await consumerCore.readNamespacedService({ name: 'web', namespace: 'shop' });
      return svc.status?.loadBalancer?.ingress?.[0]?.ip;
    },
    60_000,
  );
  t.match(vip, /^198\.51\.100\./, `EXTERNAL-IP ${vip} from the pool`);
  const claimsA = await resourceClient<VIPClaim>(lb!.kubeConfig, 'VIPClaim').list('kube-lb-tenant-tenant-a');
  t.equal(claimsA.items.length, 1, "one claim in tenant a's namespace");
  t.equal(claimsA.items[0]?.status?.vip, vip);
  const heartbeat = await eventually(
    'agent heartbeat in ConsumerCluster status',
    async () => (await tenants.get('tenant-a')).status?.lastHeartbeatTime,
  );
  t.ok(heartbeat, 'the agent reports to its own ConsumerCluster');

  // ---------------------------------------------------------------- status endpoints and documented metrics
  for (const [program, port] of [
    ['allocator', allocator.metricsPort],
    ['agent', agentMetrics],
  ] as const) {
    const base = `http://127.0.0.1:${port}`;
    t.equal((await fetch(`${base}/healthz`)).status, 200, `${program} /healthz`);
    t.equal((await fetch(`${base}/readyz`)).status, 200, `${program} /readyz`);
    const text = await (await fetch(`${base}/metrics`)).text();
    t.same(
      documentedMetrics(program).filter((name) => !text.includes(`# HELP ${name} `)),
      [],
      `every documented ${program} metric is exported`,
    );
  }
  const allocatorMetrics = await (await fetch(`http://127.0.0.1:${allocator.metricsPort}/metrics`)).text();
  t.match(allocatorMetrics, /kube_lb_pool_addresses\{pool="public",state="capacity",program="allocator"\} 16/);
  t.match(
    allocatorMetrics,
    /kube_lb_claims\{tenant="tenant-a",condition="Allocated",status="True",program="allocator"\} 1/,
  );

  // ---------------------------------------------------------------- isolation, with the real tokens
  const tenantA = new k8s.KubeConfig();
  tenantA.loadFromFile(lbKubeconfig);
  const aClaims = resourceClient<VIPClaim>(tenantA, 'VIPClaim');
  const aTenants = tenantA.makeApiClient(k8s.CustomObjectsApi);
  const aCore = tenantA.makeApiClient(k8s.CoreV1Api);
  const claimB: VIPClaim = {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPClaim',
    metadata: { name: 'intruder', namespace: 'kube-lb-tenant-tenant-b' },
    spec: {
      service: { cluster: 'tenant-b', namespace: 'x', name: 'y', uid: 'u' },
      ports: [{ protocol: 'TCP', port: 80, nodePort: 30080 }],
      backends: [{ nodeName: 'n', address: '10.20.0.1', ready: true }],
      externalTrafficPolicy: 'Cluster',
    },
  };
  t.ok(
    await forbidden('list b claims', () => aClaims.list('kube-lb-tenant-tenant-b')),
    "tenant a cannot list b's claims",
  );
  t.ok(await forbidden('create in b', () => aClaims.create(claimB)), "tenant a cannot create claims in b's namespace");
  t.ok(await forbidden('list all claims', () => aClaims.list()), 'tenant a cannot list claims cluster-wide');
  t.ok(
    await forbidden('b heartbeat', () =>
      aTenants.patchClusterCustomObjectStatus(
        {
          group: 'kube-lb.io',
          version: 'v1alpha1',
          plural: 'consumerclusters',
          name: 'tenant-b',
          body: { status: { agentVersion: 'x' } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    ),
    "tenant a cannot write b's ConsumerCluster status",
  );
  t.ok(
    await forbidden('own claim status', () =>
      aClaims.replaceStatus({ ...claimsA.items[0]!, status: { ...claimsA.items[0]!.status, vip: '198.51.100.15' } }),
    ),
    "tenant a cannot write its own claims' status (the allocator's)",
  );
  t.ok(
    await forbidden('secrets', () => aCore.listNamespacedSecret({ namespace: 'kube-lb-tenant-tenant-a' })),
    'tenant a reads no Secrets',
  );
  t.ok(
    await forbidden('pools', () =>
      aTenants.listClusterCustomObject({ group: 'kube-lb.io', version: 'v1alpha1', plural: 'vippools' }),
    ),
    'tenant a reads no pools',
  );

  const allocatorKc = new k8s.KubeConfig();
  allocatorKc.loadFromFile(allocatorKubeconfig);
  t.ok(
    await forbidden('allocator writes claim spec', () =>
      resourceClient<VIPClaim>(allocatorKc, 'VIPClaim').replace(claimsA.items[0]!),
    ),
    'the allocator cannot change a claim spec',
  );
  t.ok(
    await forbidden('allocator reads secrets', () =>
      allocatorKc.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: SYSTEM }),
    ),
    'the allocator cannot list Secrets',
  );
  const allocatorAdmission = allocatorKc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const otherHook = {
    metadata: { name: 'kube-lb-allocator-2' },
    webhooks: [{ ...vwc.webhooks![0]!, name: 'spy.kube-lb.io' }],
  };
  t.ok(
    await forbidden('allocator creates a webhook configuration', () =>
      allocatorAdmission.createValidatingWebhookConfiguration({ body: otherHook }),
    ),
    'the allocator cannot create a webhook configuration',
  );
  t.ok(
    await forbidden('allocator lists webhook configurations', () =>
      allocatorAdmission.listValidatingWebhookConfiguration(),
    ),
    'nor list them',
  );
  t.ok(
    await forbidden('allocator deletes its webhook configuration', () =>
      allocatorAdmission.deleteValidatingWebhookConfiguration({ name: 'kube-lb-allocator' }),
    ),
    'nor delete its own',
  );
  t.ok(
    await forbidden('allocator replaces its webhook configuration', () =>
      allocatorAdmission.replaceValidatingWebhookConfiguration({ name: 'kube-lb-allocator', body: vwc }),
    ),
    'nor replace it (patch only)',
  );
  const agentKc = new k8s.KubeConfig();
  agentKc.loadFromFile(agentConsumerKubeconfig);
  t.ok(
    await forbidden('agent reads secrets', () =>
      agentKc
        .makeApiClient(k8s.CoreV1Api)
        .readNamespacedSecret({ name: 'kube-lb-agent-lb-kubeconfig', namespace: SYSTEM }),
    ),
    'the agent has no Secret access in its own cluster (its kubeconfig is a mounted file)',
  );
  t.ok(
    await forbidden('agent deletes services', () =>
      agentKc.makeApiClient(k8s.CoreV1Api).deleteNamespacedService({ name: 'web', namespace: 'shop' }),
    ),
    'the agent cannot delete Services',
  );

  // ---------------------------------------------------------------- removal
  const refused = capture(env);
  t.equal(await tenantCommand(['remove', 'tenant-a'], refused), 1, 'remove refuses while a claim exists');
  t.match(refused.stderr(), /ClaimsExist/);
  const removeB = capture(env);
  t.equal(await tenantCommand(['remove', 'tenant-b'], removeB), 0, removeB.stderr());
  await t.rejects(tenants.get('tenant-b'), 'ConsumerCluster b gone');
  const lbRbac = lb!.kubeConfig.makeApiClient(k8s.RbacAuthorizationV1Api);
  await t.rejects(lbRbac.readClusterRole({ name: 'kube-lb-agent:tenant-b' }), "b's ClusterRole gone");
  await agent.stop();
  const removeA = capture(env);
  t.equal(await tenantCommand(['remove', 'tenant-a', '--force'], removeA), 0, removeA.stderr());
  t.match(removeA.stderr(), /deleted 1 claim/);
  const gone = await eventually(
    "tenant a's token revoked",
    async () => {
      try {
        await aClaims.list('kube-lb-tenant-tenant-a');
        return undefined;
      } catch (err) {
        return (err as { code?: number }).code === 401 ? true : undefined;
      }
    },
    60_000,
  );
  t.ok(gone, "tenant a's credentials stop working");
});
