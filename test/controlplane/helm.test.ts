// The Helm chart (deploy/helm/kube-lb) with a real helm, built from the helm.sh/helm/v3 Go module by
// scripts/setup/helm.sh, against real apiservers on loopback:
// - `helm lint --strict` with the default values and with every option turned on;
// - `helm template` with default values renders exactly the objects of the kustomize folders
//   (deploy/kube-lb-cluster, deploy/lb-consumer-cluster), the Namespace aside: helm stores its release in the
//   namespace before it creates anything, so the namespace comes first (docs/install.md);
// - with certificates from outside (external, cert-manager) the chart's ValidatingWebhookConfiguration is the
//   shipped one (deploy/kube-lb-cluster/21-allocator-webhook.yaml) with the caBundle given or injected, and the
//   allocator gets --webhook-cert-dir and loses its Secret and webhook-configuration permissions;
// - `helm install`, `helm upgrade` with changed values (the change is in the cluster), `helm uninstall`: nothing of
//   kube-lb is left but the CRDs, which helm never deletes; the consumer side installs without CRDs.
import { customResourceDefinitions } from '../../src/api/v1alpha1-crds.ts';
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { generateCertificates } from '../../src/allocator/webhook/certs.ts';
import { CONSUMER_SECRET_NAME } from '../../src/core/tenant/onboarding.ts';
import { repoRoot } from '../support/agent-env.ts';
import { controlPlaneBinDir, startClusters, type TestCluster } from '../../lab/controlplane.ts';
import { Ledger } from '../../lab/ledger.ts';
import { shippedWebhookConfiguration } from '../../lab/webhook-configuration.ts';
import { SERVICE_POLICY_FILE } from '../support/agent-service-policy.ts';

const CHART = join(repoRoot, 'deploy/helm/kube-lb');
const NS = 'kube-lb-system';
const CONSUMER = ['--set', 'lbCluster.enabled=false', '--set', 'consumerCluster.enabled=true'];

/** The helm binary scripts/setup/helm.sh built; fails (never skips) when it is not there. */
function helmBinary(): string {
  try {
    return execFileSync('bash', [join(repoRoot, 'scripts/setup/helm.sh')], {
      encoding: 'utf8',
      env: { ...process.env, KUBE_LB_HELM_NO_BUILD: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? err).trim();
    throw new Error(
      `the chart tests need a helm binary built from the helm.sh/helm/v3 module, and there is none: ${stderr}`,
    );
  }
}
const HELM = helmBinary();

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with its own config, cache and data homes (nothing under ~), against `kubeconfig` when given. */
function helm(args: readonly string[], home: string, kubeconfig?: string): Run {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  if (kubeconfig) env.KUBECONFIG = kubeconfig;
  try {
    const stdout = execFileSync(HELM, args, {
      encoding: 'utf8',
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
    return { status: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status: number | null; stdout: string; stderr: string };
    return { status: e.status ?? -1, stdout: e.stdout, stderr: e.stderr };
  }
}

type Obj = k8s.KubernetesObject & Record<string, unknown>;
const keyOf = (o: Obj) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

function objects(yamlText: string): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const doc of parseAllDocuments(yamlText)) {
    const o = doc.toJS() as Obj | null;
    if (!o?.kind) continue;
    const key = keyOf(o);
    if (out.has(key)) throw new Error(`${key} rendered twice`);
    out.set(key, o);
  }
  return out;
}

const scratch = join(Ledger.open('helm-template').dir, 'helm-home');
mkdirSync(scratch, { recursive: true });

function template(args: readonly string[] = []): Map<string, Obj> {
  const r = helm(['template', 'kube-lb', CHART, '--namespace', NS, '--include-crds', ...args], scratch);
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')}: ${r.stderr}`);
  return objects(r.stdout);
}

function kustomize(dir: string): Map<string, Obj> {
  const out = execFileSync(join(controlPlaneBinDir(), 'kubectl'), ['kustomize', join(repoRoot, dir)], {
    encoding: 'utf8',
  });
  return objects(out);
}

t.test('helm lint --strict: default values and every option on', async (t) => {
  const variants: Array<[string, string[]]> = [
    ['defaults (LB cluster)', []],
    ['consumer cluster', CONSUMER],
    [
      'everything on',
      [
        '--set',
        'consumerCluster.enabled=true',
        '--set',
        'metrics.serviceMonitor.enabled=true',
        '--set',
        'allocator.webhook.certificates=cert-manager',
        '--set',
        'agent.servicePolicy.enabled=true',
        '--set',
        'logLevel=debug',
        '--set',
        'speaker.cilium.version=1.19',
        '--set',
        'speaker.cilium.mapDir=/sys/fs/bpf/cilium/globals',
        '--set',
        'speaker.maglev=false',
      ],
    ],
  ];
  for (const [what, args] of variants) {
    const r = helm(['lint', '--strict', CHART, ...args], scratch);
    t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`);
  }
  const bad = helm(['template', CHART, '--set', 'allocator.webhook.certificates=vault'], scratch);
  t.not(bad.status, 0, 'an unknown certificates mode is refused');
  t.match(bad.stderr, /allocator\.webhook\.certificates must be allocator, cert-manager or external/);
  const noCA = helm(['template', CHART, '--set', 'allocator.webhook.certificates=external'], scratch);
  t.match(noCA.stderr, /needs allocator\.webhook\.caBundle/, 'external certificates without a CA are refused');
});

t.test('Kubernetes versions: consumer side from 1.24, the LB side from 1.31 (docs/compatibility.md)', async (t) => {
  const consumerOnly = ['--set', 'lbCluster.enabled=false', '--set', 'consumerCluster.enabled=true'];
  const old = helm(['template', CHART, ...consumerOnly, '--kube-version', '1.24.17'], scratch);
  t.equal(old.status, 0, `the consumer side renders for 1.24: ${old.stderr}`);
  const lb = helm(['template', CHART, '--kube-version', '1.29.15'], scratch);
  t.not(lb.status, 0, 'the LB side is refused before 1.31');
  t.match(lb.stderr, /the LB cluster needs Kubernetes 1\.31\+.*v1\.29\.15/);
  t.equal(helm(['template', CHART, '--kube-version', '1.31.4'], scratch).status, 0, 'and renders on 1.31');
  const policy = helm(
    ['template', CHART, ...consumerOnly, '--set', 'agent.servicePolicy.enabled=true', '--kube-version', '1.27.16'],
    scratch,
  );
  t.match(
    policy.stderr,
    /agent\.servicePolicy\.enabled needs a consumer cluster of Kubernetes 1\.30\+/,
    'the optional policy is refused before 1.30',
  );
});

t.test("helm template with default values renders the kustomize folders' objects", async (t) => {
  const sides: Array<[string, string, string[]]> = [
    ['LB cluster', 'deploy/kube-lb-cluster', []],
    ['consumer cluster', 'deploy/lb-consumer-cluster', CONSUMER],
  ];
  for (const [side, dir, args] of sides) {
    const want = kustomize(dir);
    const namespace = want.get(`Namespace//${NS}`);
    t.ok(namespace, `${dir} creates the namespace`);
    want.delete(`Namespace//${NS}`);
    // The consumer side installs with --skip-crds (docs/install.md); template shows what a plain install would add.
    const got = template(args);
    if (side === 'consumer cluster')
      for (const k of [...got.keys()]) if (k.startsWith('CustomResourceDefinition/')) got.delete(k);
    t.same([...got.keys()].sort(), [...want.keys()].sort(), `${side}: the same objects`);
    for (const [key, o] of want) t.strictSame(got.get(key), o, `${side}: ${key}`);
  }
});

t.test("agent.servicePolicy renders the optional policy file's objects", async (t) => {
  const file = objects(readFileSync(join(repoRoot, SERVICE_POLICY_FILE), 'utf8'));
  const got = template([...CONSUMER, '--set', 'agent.servicePolicy.enabled=true']);
  for (const [key, o] of file) t.strictSame(got.get(key), o, key);
  t.notOk(
    [...template(CONSUMER).keys()].some((k) => k.startsWith('ValidatingAdmissionPolicy')),
    'off by default, like the folder',
  );
  const withDefault = template([
    ...CONSUMER,
    '--set',
    'agent.servicePolicy.enabled=true',
    '--set',
    'agent.servicePolicy.defaultClass=true',
  ]);
  const served = (
    withDefault.get('ValidatingAdmissionPolicy//kube-lb-agent-services') as {
      spec: { variables: Array<{ name: string; expression: string }> };
    }
  ).spec.variables.find((v) => v.name === 'served');
  t.match(
    served?.expression,
    /orValue\('kube-lb\.io\/vip'\) == 'kube-lb\.io\/vip'/,
    'defaultClass: Services without a class are served too',
  );
});

t.test("the chart's webhook configuration is the shipped one, with the CA from outside", async (t) => {
  const { caPEM } = await generateCertificates([`kube-lb-allocator.${NS}.svc`]);
  const caBundle = Buffer.from(caPEM).toString('base64');
  const external = template([
    '--set',
    'allocator.webhook.certificates=external',
    '--set',
    `allocator.webhook.caBundle=${caBundle}`,
  ]);
  const code = shippedWebhookConfiguration();
  const withCA = {
    ...code,
    webhooks: code.webhooks!.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } })),
  };
  t.strictSame(
    external.get('ValidatingWebhookConfiguration//kube-lb-allocator'),
    withCA,
    'external: identical, caBundle included',
  );

  const cm = template(['--set', 'allocator.webhook.certificates=cert-manager']);
  const vwc = cm.get(
    'ValidatingWebhookConfiguration//kube-lb-allocator',
  ) as unknown as k8s.V1ValidatingWebhookConfiguration;
  t.equal(
    vwc.metadata?.annotations?.['cert-manager.io/inject-ca-from'],
    `${NS}/kube-lb-allocator-webhook`,
    'cert-manager injects the CA',
  );
  const withoutCA = (c: k8s.V1ValidatingWebhookConfiguration) =>
    c.webhooks!.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: undefined } }));
  t.strictSame(
    JSON.parse(JSON.stringify(withoutCA(vwc))),
    JSON.parse(JSON.stringify(withoutCA(code))),
    'cert-manager: identical but for the injected caBundle',
  );
  const cert = cm.get(`Certificate/${NS}/kube-lb-allocator-webhook`) as
    | { spec: { secretName: string; dnsNames: string[]; issuerRef: unknown } }
    | undefined;
  t.same(
    cert?.spec.dnsNames,
    [`kube-lb-allocator.${NS}.svc`, `kube-lb-allocator.${NS}.svc.cluster.local`],
    'the names the allocator itself would certify',
  );
  t.same(cert?.spec.issuerRef, { kind: 'Issuer', name: 'kube-lb-allocator-webhook' });
  t.ok(cm.get(`Issuer/${NS}/kube-lb-allocator-webhook`), 'a self-signed Issuer when none is given');
  const own = template([
    '--set',
    'allocator.webhook.certificates=cert-manager',
    '--set',
    'allocator.webhook.issuer.kind=ClusterIssuer',
    '--set',
    'allocator.webhook.issuer.name=corp-ca',
  ]);
  t.notOk(own.get(`Issuer/${NS}/kube-lb-allocator-webhook`), "no Issuer of the chart's own when one is given");
  t.same((own.get(`Certificate/${NS}/kube-lb-allocator-webhook`) as typeof cert)?.spec.issuerRef, {
    kind: 'ClusterIssuer',
    name: 'corp-ca',
  });

  for (const [mode, objs] of [
    ['external', external],
    ['cert-manager', cm],
  ] as const) {
    const deploy = objs.get(`Deployment/${NS}/kube-lb-allocator`) as unknown as k8s.V1Deployment;
    const pod = deploy.spec!.template.spec!;
    t.ok(
      pod.containers[0]!.args!.includes('--webhook-cert-dir=/etc/kube-lb/webhook-tls'),
      `${mode}: the allocator serves the mounted certificate`,
    );
    t.equal(pod.volumes?.find((v) => v.name === 'webhook-tls')?.secret?.secretName, 'kube-lb-allocator-webhook-tls');
    const rules = [
      ...(objs.get('ClusterRole//kube-lb-allocator') as { rules: k8s.V1PolicyRule[] }).rules,
      ...(objs.get(`Role/${NS}/kube-lb-allocator`) as { rules: k8s.V1PolicyRule[] }).rules,
    ];
    t.notOk(
      rules.some((r) => r.resources?.includes('secrets') || r.resources?.includes('validatingwebhookconfigurations')),
      `${mode}: no Secret or webhook-configuration permission`,
    );
  }
});

t.test('values reach the objects: image, log level, Cilium, metrics, scheduling', async (t) => {
  const objs = template([
    '--set',
    'image.repository=registry.example/kube-lb',
    '--set',
    'image.tag=v9.9.9',
    '--set',
    'logLevel=warn',
    '--set',
    'speaker.logLevel=debug',
    '--set',
    'speaker.cilium.version=1.18',
    '--set',
    'speaker.cilium.mapDir=/sys/fs/bpf/cilium/globals',
    '--set',
    'speaker.cilium.configMap=cilium-config-copy',
    '--set',
    'speaker.cilium.configDir=/etc/cilium/cfg',
    '--set',
    'speaker.maglev=false',
    '--set',
    'allocator.nodeSelector.zone=a',
    '--set',
    'allocator.tolerations[0].key=dedicated',
    '--set',
    'allocator.tolerations[0].operator=Exists',
    '--set',
    'metrics.serviceMonitor.enabled=true',
    '--set',
    'allocator.resources.limits.memory=1Gi',
  ]);
  const pod = (kind: string, name: string) =>
    (objs.get(`${kind}/${NS}/${name}`) as unknown as k8s.V1Deployment).spec!.template.spec!;
  const speaker = pod('DaemonSet', 'kube-lb-speaker');
  const allocator = pod('Deployment', 'kube-lb-allocator');
  t.equal(speaker.containers[0]!.image, 'registry.example/kube-lb:v9.9.9');
  t.strictSame(speaker.containers[0]!.args, [
    'speaker',
    '--metrics-bind-address=0.0.0.0:9474',
    '--cilium-config-dir=/etc/cilium/cfg',
    '--peer-key-file=/etc/kube-lb/peer-key/key',
    '--map-dir=/sys/fs/bpf/cilium/globals',
    '--cilium-version=1.18',
    '--log-level=debug',
  ]);
  t.equal(speaker.volumes?.find((v) => v.name === 'cilium-config')?.configMap?.name, 'cilium-config-copy');
  t.equal(speaker.containers[0]!.volumeMounts?.find((m) => m.name === 'cilium-config')?.mountPath, '/etc/cilium/cfg');
  t.strictSame(
    speaker.containers[0]!.securityContext?.capabilities,
    { drop: ['ALL'], add: ['BPF', 'PERFMON', 'NET_ADMIN', 'NET_RAW', 'SYS_NICE'] },
    'no SYS_ADMIN without maglev',
  );
  t.equal(speaker.containers[0]!.securityContext?.allowPrivilegeEscalation, false);
  t.ok(
    allocator.containers[0]!.args!.includes('--log-level=warn'),
    'the global log level where no program-specific one is set',
  );
  t.same(allocator.nodeSelector, { zone: 'a' });
  t.same(allocator.tolerations, [{ key: 'dedicated', operator: 'Exists' }]);
  t.equal(allocator.containers[0]!.resources?.limits?.memory, '1Gi');
  for (const name of ['kube-lb-allocator', 'kube-lb-speaker']) {
    t.ok(objs.get(`ServiceMonitor/${NS}/${name}`), `${name}: ServiceMonitor`);
    t.ok(objs.get(`Service/${NS}/${name}-metrics`), `${name}: metrics Service`);
  }
  t.notOk(
    [...template().keys()].some((k) => k.startsWith('ServiceMonitor/')),
    'no ServiceMonitor by default',
  );
  const agent = (template(CONSUMER).get(`Deployment/${NS}/kube-lb-agent`) as unknown as k8s.V1Deployment).spec!.template
    .spec!;
  t.equal(
    agent.volumes?.[0]?.secret?.secretName,
    CONSUMER_SECRET_NAME,
    'the agent mounts the Secret `kube-lb tenant add` prints',
  );
});

/** Every object of kube-lb in the cluster (by its labels, in every namespace), and the release's own Secrets. */
function kubeLbObjects(cluster: TestCluster): string[] {
  const kinds =
    'deployments,daemonsets,services,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,poddisruptionbudgets,networkpolicies,validatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings,secrets,configmaps';
  const byLabel = cluster.kubectl([
    'get',
    kinds,
    '-A',
    '-l',
    'app.kubernetes.io/name in (kube-lb-allocator,kube-lb-speaker,kube-lb-agent,kube-lb-backend-deny-list)',
    '-o',
    'name',
  ]);
  const releases = cluster.kubectl(['get', 'secrets', '-A', '-l', 'owner=helm', '-o', 'name']);
  return `${byLabel}\n${releases}`.split('\n').filter(Boolean).sort();
}

const crdNames = (cluster: TestCluster) =>
  cluster
    .kubectl(['get', 'crd', '-o', 'name'])
    .split('\n')
    .filter((l) => l.endsWith('.kube-lb.io'))
    .sort();

t.test('helm install, upgrade with changed values, uninstall: against real apiservers', async (t) => {
  const ledger = Ledger.open('helm');
  const [lb, consumer] = await startClusters(ledger, [
    { name: 'helm-lb', installCRDs: false },
    { name: 'helm-consumer', installCRDs: false },
  ]);
  t.teardown(async () => {
    await lb!.stop();
    await consumer!.stop();
  });
  const release = `kube-lb-${process.pid}`;
  for (const c of [lb!, consumer!]) mkdirSync(join(c.dir, 'helm-home'), { recursive: true });
  const run = (c: TestCluster, args: string[]) => helm(args, join(c.dir, 'helm-home'), c.kubeconfigPath);

  // ------------------------------------------------------------ LB cluster
  // The namespace first, as docs/install.md says (the same file kubectl apply uses, with its Pod Security label).
  lb!.kubectl(['apply', '--server-side', '-f', join(repoRoot, 'deploy/kube-lb-cluster/00-namespace.yaml')]);
  const installed = run(lb!, ['install', release, CHART, '--namespace', NS]);
  t.equal(installed.status, 0, `helm install: ${installed.stderr}`);
  t.notMatch(installed.stderr, /warning/i, 'no warnings');
  t.strictSame(
    crdNames(lb!),
    [
      'customresourcedefinition.apiextensions.k8s.io/bfdprofiles.kube-lb.io',
      'customresourcedefinition.apiextensions.k8s.io/bgpadvertisements.kube-lb.io',
      'customresourcedefinition.apiextensions.k8s.io/bgppeers.kube-lb.io',
      'customresourcedefinition.apiextensions.k8s.io/consumerclusters.kube-lb.io',
      'customresourcedefinition.apiextensions.k8s.io/l2announcements.kube-lb.io',
      'customresourcedefinition.apiextensions.k8s.io/vipclaims.kube-lb.io',
      'customresourcedefinition.apiextensions.k8s.io/vippools.kube-lb.io',
    ],
    'the CRDs from crds/',
  );
  const expected = [...template().values()]
    .filter((o) => o.kind !== 'CustomResourceDefinition')
    .map((o) => keyOf(o))
    .sort();
  const apps = lb!.kubeConfig.makeApiClient(k8s.AppsV1Api);
  const ds = await apps.readNamespacedDaemonSet({ name: 'kube-lb-speaker', namespace: NS });
  t.equal(ds.metadata?.annotations?.['meta.helm.sh/release-name'], release, 'the speaker belongs to the release');
  t.notOk(
    ds.spec!.template.spec!.containers[0]!.args!.some((a) => a.startsWith('--log-level')),
    'default log level: no flag',
  );
  t.equal(
    kubeLbObjects(lb!).filter((n) => !n.startsWith('secret/sh.helm.release')).length,
    expected.length,
    `every rendered object is in the cluster (${expected.length})`,
  );

  const upgraded = run(lb!, [
    'upgrade',
    release,
    CHART,
    '--namespace',
    NS,
    '--reuse-values',
    '--set',
    'speaker.logLevel=debug',
    '--set',
    'allocator.replicas=3',
  ]);
  t.equal(upgraded.status, 0, `helm upgrade: ${upgraded.stderr}`);
  const ds2 = await apps.readNamespacedDaemonSet({ name: 'kube-lb-speaker', namespace: NS });
  t.ok(
    ds2.spec!.template.spec!.containers[0]!.args!.includes('--log-level=debug'),
    'the speaker now runs with --log-level=debug',
  );
  t.equal(
    (await apps.readNamespacedDeployment({ name: 'kube-lb-allocator', namespace: NS })).spec!.replicas,
    3,
    'three allocators',
  );

  // Certificates from outside: the chart now owns the webhook configuration, and the allocator loses its Secret rights.
  const { caPEM } = await generateCertificates([`kube-lb-allocator.${NS}.svc`]);
  const external = run(lb!, [
    'upgrade',
    release,
    CHART,
    '--namespace',
    NS,
    '--reuse-values',
    '--set',
    'allocator.webhook.certificates=external',
    '--set',
    `allocator.webhook.caBundle=${Buffer.from(caPEM).toString('base64')}`,
  ]);
  t.equal(external.status, 0, `helm upgrade to external certificates: ${external.stderr}`);
  const vwc = await lb!.kubeConfig
    .makeApiClient(k8s.AdmissionregistrationV1Api)
    .readValidatingWebhookConfiguration({ name: 'kube-lb-allocator' });
  t.equal(vwc.webhooks?.length, 7, 'the webhook configuration is installed, accepted by the apiserver');
  const role = await lb!.kubeConfig
    .makeApiClient(k8s.RbacAuthorizationV1Api)
    .readNamespacedRole({ name: 'kube-lb-allocator', namespace: NS });
  t.notOk(
    role.rules?.some((r) => r.resources?.includes('secrets')),
    "the allocator's Role lost its Secret rule",
  );
  const history = run(lb!, ['history', release, '--namespace', NS, '-o', 'json']);
  t.same(
    (JSON.parse(history.stdout) as Array<{ revision: number }>).map((h) => h.revision),
    [1, 2, 3],
    'three revisions',
  );

  const uninstalled = run(lb!, ['uninstall', release, '--namespace', NS, '--wait', '--timeout', '60s']);
  t.equal(uninstalled.status, 0, `helm uninstall: ${uninstalled.stderr}`);
  t.strictSame(
    kubeLbObjects(lb!),
    [],
    'no kube-lb object left (webhook configuration, RBAC, workloads, release Secrets)',
  );
  t.equal(
    crdNames(lb!).length,
    customResourceDefinitions().length,
    'the CRDs stay: helm never deletes crds/ (docs/install.md says how to remove them)',
  );

  // ------------------------------------------------------------ consumer cluster
  consumer!.kubectl(['apply', '--server-side', '-f', join(repoRoot, 'deploy/lb-consumer-cluster/00-namespace.yaml')]);
  const agent = run(consumer!, ['install', release, CHART, '--namespace', NS, '--skip-crds', ...CONSUMER]);
  t.equal(agent.status, 0, `helm install (consumer): ${agent.stderr}`);
  t.notMatch(agent.stderr, /warning/i, 'no warnings (restricted Pod Security)');
  t.strictSame(crdNames(consumer!), [], 'no CRDs in a consumer cluster');
  const agentDeploy = await consumer!.kubeConfig
    .makeApiClient(k8s.AppsV1Api)
    .readNamespacedDeployment({ name: 'kube-lb-agent', namespace: NS });
  t.equal(agentDeploy.spec!.template.spec!.volumes?.[0]?.secret?.secretName, CONSUMER_SECRET_NAME);
  const agentUpgrade = run(consumer!, [
    'upgrade',
    release,
    CHART,
    '--namespace',
    NS,
    '--skip-crds',
    ...CONSUMER,
    '--set',
    'agent.logLevel=debug',
  ]);
  t.equal(agentUpgrade.status, 0, agentUpgrade.stderr);
  const agentDeploy2 = await consumer!.kubeConfig
    .makeApiClient(k8s.AppsV1Api)
    .readNamespacedDeployment({ name: 'kube-lb-agent', namespace: NS });
  t.ok(
    agentDeploy2.spec!.template.spec!.containers[0]!.args!.includes('--log-level=debug'),
    'the agent now runs with --log-level=debug',
  );
  const agentGone = run(consumer!, ['uninstall', release, '--namespace', NS, '--wait', '--timeout', '60s']);
  t.equal(agentGone.status, 0, agentGone.stderr);
  t.strictSame(kubeLbObjects(consumer!), [], 'nothing of kube-lb left in the consumer cluster');
});
