// `kubectl kube-lb status -o yaml` against a real API server: the plugin executable kubectl would run
// (bin/kubectl-kube_lb, through the launcher) reads the LB cluster's claims, tenants, pools and speaker Leases and
// prints, in every -o format, exactly what the printer makes of those objects in-process. KUBECONFIG is a list
// whose first file's current context points nowhere: without --context that one is used (kubectl's merge: the
// first file wins) and the command fails with 1; --context picks the real cluster from the second file.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { OUTPUT_FORMATS, render } from '../../src/cli/output.ts';
import { statusView } from '../../src/cli/status.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { cliFixtures, kubeconfigText } from '../unit/cli/fixtures.ts';
import { startClusters } from '../../lab/controlplane.ts';
import { Ledger } from '../../lab/ledger.ts';

const root = join(import.meta.dirname, '../..');
const ledger = Ledger.open('cli-plugin');
const [lb] = await startClusters(ledger, [{ name: 'lb' }]);
t.teardown(() => lb!.stop());
const kc = lb!.kubeConfig;

// The fixture snapshot without a heartbeat time, so the output does not depend on when the test runs.
const snapshot = {
  ...cliFixtures.status,
  tenants: cliFixtures.status.tenants.map((x) => ({ ...x, status: x.status ? { vips: x.status.vips } : undefined })),
};
const core = kc.makeApiClient(k8s.CoreV1Api);
for (const ns of ['kube-lb-system', 'kube-lb-tenant-shop', 'kube-lb-tenant-bank'])
  await core.createNamespace({ body: { metadata: { name: ns } } });
const leases = kc.makeApiClient(k8s.CoordinationV1Api);
for (const node of ['lb-1', 'lb-2', 'lb-3']) {
  await leases.createNamespacedLease({
    namespace: 'kube-lb-system',
    body: {
      metadata: { name: `kube-lb-speaker-${node}`, labels: { 'kube-lb.io/component': 'speaker-l2' } },
      spec: { holderIdentity: node },
    },
  });
}
async function createWithStatus<T extends { metadata: { name?: string; namespace?: string }; status?: unknown }>(
  kind: 'VIPClaim' | 'ConsumerCluster' | 'VIPPool',
  obj: T,
): Promise<void> {
  const api = resourceClient<T>(kc, kind);
  const { status, ...rest } = obj;
  const created = await api.create(rest as T);
  if (status) await api.replaceStatus({ ...created, status });
}
for (const pool of snapshot.pools) await createWithStatus<VIPPool>('VIPPool', pool);
for (const tenant of snapshot.tenants)
  await createWithStatus<ConsumerCluster>('ConsumerCluster', tenant as ConsumerCluster);
for (const claim of snapshot.claims) await createWithStatus<VIPClaim>('VIPClaim', claim);

// First in KUBECONFIG: a file whose current context is a server nobody listens on.
const nowhere = join(lb!.dir, 'nowhere.kubeconfig');
writeFileSync(nowhere, kubeconfigText({ server: 'https://127.0.0.1:1', names: ['nowhere'], current: 'nowhere' }));
const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: lb!.dir,
  KUBECONFIG: [nowhere, lb!.kubeconfigPath].join(delimiter),
};
const plugin = (args: string[]) =>
  spawnSync(join(root, 'bin/kubectl-kube_lb'), args, { encoding: 'utf8', env, timeout: 60_000 });

t.test('kubectl kube-lb status -o yaml', async (t) => {
  const r = plugin(['status', '-o', 'yaml', '--context', kc.currentContext]);
  t.equal(r.status, 0, r.stderr);
  const data = parse(r.stdout) as {
    claims: Array<{ service: string; vip: string; owner: string; programmed: string; state: string }>;
  };
  t.same(
    data.claims.map((c) => [c.service, c.vip, c.owner, c.programmed, c.state]),
    [
      ['pay/api', '-', '-', '0/3', 'Allocated=False PoolExhausted'],
      ['web/front', '198.51.100.10', 'lb-2', '3/3', 'Ready'],
    ],
  );
});

t.test('every format is what the printer makes of the same objects', async (t) => {
  for (const format of OUTPUT_FORMATS) {
    const r = plugin(['status', '--context', kc.currentContext, '-o', format]);
    t.equal(r.status, 0, r.stderr);
    t.equal(r.stdout, render(format, statusView({ ...snapshot, now: new Date() })), `-o ${format}`);
  }
});

t.test(
  "KUBECONFIG's first file sets the current context; a wrong one fails with 1, an unknown --context with 2",
  async (t) => {
    const r = plugin(['status', '-o', 'yaml']);
    t.equal(r.status, 1);
    t.match(r.stderr, /^kubectl kube-lb status: KUBE_API: listing claims, tenants and pools: /);
    const unknown = plugin(['status', '--context', 'no-such-context']);
    t.equal(unknown.status, 2);
    t.match(unknown.stderr, /--context="no-such-context": no such context/);
  },
);
