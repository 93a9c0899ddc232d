// The speaker's status server on the host network (src/kube/request-auth.ts) against a real API server: /metrics
// and /state answer only bearer tokens whose user may get them (TokenReview, then SubjectAccessReview on the
// nonResourceURL), checked with the speaker's own ServiceAccount and exactly the manifests' RBAC; the probes stay
// open; loopback needs no token.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { tokenAuthorizer } from '../../src/kube/request-auth.ts';
import { startStatusServer } from '../../src/shared/http-status.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createRegistry } from '../../src/shared/metrics.ts';
import { applyYaml } from '../support/agent-env.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { Ledger } from '../../lab/ledger.ts';

const root = join(import.meta.dirname, '../..');
const ledger = Ledger.open('metrics-auth');
const [lb] = await startClusters(ledger, [{ name: 'lb' }]);
t.teardown(() => lb!.stop());
const kc = lb!.kubeConfig;
const core = kc.makeApiClient(k8s.CoreV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const logger = createLogger({ program: 'metrics-auth-test', level: 'silent' });

for (const ns of ['kube-lb-system', 'monitoring']) await core.createNamespace({ body: { metadata: { name: ns } } });
await applyYaml(kc, readFileSync(join(root, 'deploy/kube-lb-cluster/11-speaker-rbac.yaml'), 'utf8'));
for (const name of ['prometheus', 'nobody'])
  await core.createNamespacedServiceAccount({ namespace: 'monitoring', body: { metadata: { name } } });
await rbac.createClusterRoleBinding({
  body: {
    metadata: { name: 'prometheus-kube-lb' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kube-lb-metrics-reader' },
    subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: 'monitoring' }],
  },
});
const token = async (name: string, namespace: string): Promise<string> =>
  (
    await core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    })
  ).status!.token!;
const speakerKc = lb!.kubeConfigForToken(await token('kube-lb-speaker', 'kube-lb-system'), 'speaker').kubeConfig;

const registry = createRegistry('speaker');
const start = (openToLoopback: boolean) =>
  startStatusServer({
    host: '127.0.0.1',
    port: 0,
    registry,
    json: { '/state': () => ({ tenants: ['secret-inventory'] }) },
    readiness: [],
    logger,
    protect: (req, path) => tokenAuthorizer(speakerKc, { logger, openToLoopback }).check(req, path),
  });

t.test('off the node: a token allowed to get the path, or nothing but the probes', async (t) => {
  const server = await start(false);
  t.teardown(() => server.close());
  const get = async (path: string, bearer?: string) => {
    const res = await fetch(
      `http://127.0.0.1:${server.port}${path}`,
      bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {},
    );
    return { status: res.status, text: await res.text() };
  };
  t.equal((await get('/healthz')).status, 200, 'the probes are open (the kubelet has no token)');
  t.equal((await get('/readyz')).status, 200);
  const none = await get('/metrics');
  t.equal(none.status, 401, `no token: ${none.text.trim()}`);
  t.equal((await get('/state')).status, 401, 'nor /state');
  const forged = await get('/metrics', 'not-a-token');
  t.equal(forged.status, 401, `a made-up token: ${forged.text.trim()}`);
  const nobody = await get('/metrics', await token('nobody', 'monitoring'));
  t.equal(nobody.status, 403, `a valid token without the role: ${nobody.text.trim()}`);
  t.match(nobody.text, /system:serviceaccount:monitoring:nobody may not get \/metrics/);
  const prom = await token('prometheus', 'monitoring');
  const metrics = await get('/metrics', prom);
  t.equal(metrics.status, 200, 'a token bound to kube-lb-metrics-reader');
  t.match(metrics.text, /process_cpu_seconds_total/);
  const state = await get('/state', prom);
  t.equal(state.status, 200);
  t.match(state.text, /secret-inventory/);
});

t.test('on the node (loopback): no token needed, as `kube-lb speaker state` runs there', async (t) => {
  const server = await start(true);
  t.teardown(() => server.close());
  const res = await fetch(`http://127.0.0.1:${server.port}/state`);
  t.equal(res.status, 200);
});
