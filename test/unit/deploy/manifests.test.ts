// The install folders as files: each Kustomization lists exactly the folder's YAML files, the CRD bundle is what
// scripts/gen-crds.ts renders, every object is in kube-lb-system or cluster-scoped, ServiceAccounts referenced by
// workloads and bindings exist, one image everywhere, and the workloads' security settings are what the docs
// promise (non-root allocator and agent; the speaker's exact capability list). The API server's own checks run
// in test/controlplane/install.test.ts.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { CRD_BUNDLE_FILE, renderCRDBundle } from '../../../src/api/render-crds.ts';
import { LOAD_BALANCER_CLASS } from '../../../src/api/v1alpha1.ts';
import { FINALIZER } from '../../../src/core/agent/naming.ts';
import { SERVICE_POLICY_FILE } from '../../support/agent-service-policy.ts';

const root = join(import.meta.dirname, '../../..');
const FOLDERS = ['deploy/kube-lb-cluster', 'deploy/lb-consumer-cluster'];

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

const yamlFiles = (dir: string) =>
  readdirSync(join(root, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
const objectsOf = (dir: string): Obj[] =>
  yamlFiles(dir).flatMap((f) =>
    parseAllDocuments(readFileSync(join(root, dir, f), 'utf8'))
      .map((d) => d.toJS() as Obj | null)
      .filter((o): o is Obj => !!o?.kind),
  );
const podSpec = (o: Obj) => (o.spec!.template as { spec: Record<string, unknown> }).spec;
const containers = (o: Obj) => podSpec(o).containers as Array<Record<string, unknown>>;

t.test("each Kustomization lists exactly its folder's YAML files", async (t) => {
  for (const dir of FOLDERS) {
    const k = parse(readFileSync(join(root, dir, 'Kustomization'), 'utf8')) as { resources: string[] };
    t.same([...k.resources].sort(), yamlFiles(dir), dir);
  }
});

t.test('the CRD bundle is generated (run node scripts/gen-crds.ts after changing the API)', async (t) => {
  t.equal(readFileSync(join(root, CRD_BUNDLE_FILE), 'utf8'), renderCRDBundle());
});

t.test('namespaced objects live in kube-lb-system; service accounts exist; one image', async (t) => {
  for (const dir of FOLDERS) {
    const objs = objectsOf(dir);
    const accounts = new Set(
      objs.filter((o) => o.kind === 'ServiceAccount').map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    );
    const clusterScoped = new Set([
      'Namespace',
      'CustomResourceDefinition',
      'ClusterRole',
      'ClusterRoleBinding',
      'ValidatingWebhookConfiguration',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ]);
    for (const o of objs) {
      if (!clusterScoped.has(o.kind))
        t.equal(o.metadata.namespace, 'kube-lb-system', `${dir}: ${o.kind} ${o.metadata.name}`);
      for (const s of o.subjects ?? [])
        t.ok(accounts.has(`${s.namespace}/${s.name}`), `${o.kind} ${o.metadata.name} binds an existing ServiceAccount`);
      if (o.kind === 'Deployment' || o.kind === 'DaemonSet') {
        t.ok(
          accounts.has(`kube-lb-system/${podSpec(o).serviceAccountName}`),
          `${o.kind} ${o.metadata.name} runs as an existing ServiceAccount`,
        );
        for (const c of containers(o)) t.equal(c.image, 'ghcr.io/kube-lb/kube-lb:v0.1.0');
      }
    }
  }
});

t.test(
  'allocator and agent run as non-root with nothing extra; the speaker with exactly its capabilities',
  async (t) => {
    const workloads = FOLDERS.flatMap(objectsOf).filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
    t.same(workloads.map((w) => w.metadata.name).sort(), ['kube-lb-agent', 'kube-lb-allocator', 'kube-lb-speaker']);
    for (const w of workloads) {
      const [c] = containers(w);
      const sc = c!.securityContext as Record<string, unknown>;
      const program = (c!.args as string[])[0];
      t.equal(`kube-lb-${program}`, w.metadata.name, 'the image entrypoint argument names the program');
      t.equal(sc.readOnlyRootFilesystem, true, `${w.metadata.name}: read-only root`);
      t.ok(c!.livenessProbe && c!.readinessProbe && c!.resources, `${w.metadata.name}: probes and resources`);
      if (w.kind === 'Deployment') {
        t.equal(
          (podSpec(w).securityContext as Record<string, unknown>).runAsNonRoot,
          true,
          `${w.metadata.name}: non-root`,
        );
        t.same(sc.capabilities, { drop: ['ALL'] });
        t.equal(sc.allowPrivilegeEscalation, false);
      } else {
        t.equal(podSpec(w).hostNetwork, true, 'speaker on the host network');
        t.same(sc.capabilities, {
          drop: ['ALL'],
          add: ['BPF', 'PERFMON', 'NET_ADMIN', 'NET_RAW', 'SYS_NICE', 'SYS_ADMIN'],
        });
        t.not(sc.privileged, true, 'the speaker is not privileged');
        const mounts = (c!.volumeMounts as Array<{ mountPath: string }>).map((m) => m.mountPath);
        t.ok(mounts.includes('/sys/fs/bpf'), 'bpffs mounted');
        t.ok(podSpec(w).nodeSelector && podSpec(w).tolerations, 'node selector and tolerations');
      }
    }
  },
);

t.test("the agent's optional Service policy names the agent's own class, finalizer and ServiceAccount", async (t) => {
  const text = readFileSync(join(root, SERVICE_POLICY_FILE), 'utf8');
  const [policy] = parseAllDocuments(text).map(
    (d) =>
      d.toJS() as {
        spec: {
          matchConditions: Array<{ expression: string }>;
          variables: Array<{ name: string; expression: string }>;
        };
      },
  );
  const variable = (name: string) => policy!.spec.variables.find((v) => v.name === name)?.expression ?? '';
  t.equal(variable('finalizer'), `'${FINALIZER}'`, 'the finalizer the agent sets (src/core/agent/naming.ts)');
  t.ok(variable('served').includes(`== '${LOAD_BALANCER_CLASS}'`), 'the class the agent serves (src/api/v1alpha1.ts)');
  t.match(
    policy!.spec.matchConditions[0]!.expression,
    /'system:serviceaccount:kube-lb-system:kube-lb-agent'/,
    'the ServiceAccount of 10-agent-rbac.yaml',
  );
});
