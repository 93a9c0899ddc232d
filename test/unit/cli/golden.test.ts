// Every command's output in every -o format, compared with golden files (test/unit/cli/golden/COMMAND.FORMAT).
// Each command builds a View from what it read and the one printer formats it, so these fixtures go through the
// same functions the commands call; only the reading (API, maps, the speaker's socket) is replaced by fixed data.
// After an intended change: KUBE_LB_UPDATE_GOLDEN=1 npx tap test/unit/cli/golden.test.ts, then read the diff.
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { stringify } from 'yaml';
import { doctorView } from '../../../src/cli/doctor.ts';
import { mapsListView } from '../../../src/cli/maps-list.ts';
import { OUTPUT_FORMATS, render, type View } from '../../../src/cli/output.ts';
import { speakerStateView } from '../../../src/cli/speaker-state.ts';
import { statusView } from '../../../src/cli/status.ts';
import { renderTenantObjects, tenantAddView, tenantRemoveView, type SecretManifest } from '../../../src/cli/tenant.ts';
import { versionView } from '../../../src/cli/version.ts';
import { agentKubeconfig, consumerSecretFor } from '../../../src/core/tenant/onboarding.ts';
import { cliFixtures } from './fixtures.ts';

const GOLDEN = join(import.meta.dirname, 'golden');
const update = process.env.KUBE_LB_UPDATE_GOLDEN === '1';

const credentials = {
  clusterName: 'shop',
  tenantNamespace: 'kube-lb-tenant-shop',
  server: 'https://lb.example:6443',
  caPem: 'CA PEM\n',
  token: 'TOKEN',
};

const VIEWS: Record<string, View> = {
  status: statusView(cliFixtures.status),
  'status-empty': statusView({ ...cliFixtures.status, claims: [], tenants: [], pools: [] }),
  doctor: doctorView(cliFixtures.diagnosis),
  'maps-list': mapsListView(cliFixtures.listing),
  'speaker-state': speakerStateView(cliFixtures.speakerState),
  'tenant-add': tenantAddView(
    consumerSecretFor(credentials, stringify(agentKubeconfig(credentials), { lineWidth: 0 })) as SecretManifest,
  ),
  'tenant-remove': tenantRemoveView({
    tenant: 'shop',
    tenantNamespace: 'kube-lb-tenant-shop',
    deleted: [
      { kind: 'VIPClaim', apiVersion: 'kube-lb.io/v1alpha1', name: 'web.front', namespace: 'kube-lb-tenant-shop' },
      ...renderTenantObjects({ name: 'shop', tenantNamespace: 'kube-lb-tenant-shop' })
        .reverse()
        .map((o) => ({
          kind: o.kind ?? '',
          apiVersion: o.apiVersion ?? '',
          name: o.metadata?.name ?? '',
          ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
        })),
      { kind: 'ConsumerCluster', apiVersion: 'kube-lb.io/v1alpha1', name: 'shop' },
    ],
  }),
  version: versionView({ version: '0.1.0', node: '24.21.0' }),
};

for (const [command, view] of Object.entries(VIEWS)) {
  t.test(command, async (t) => {
    for (const format of OUTPUT_FORMATS) {
      const file = join(GOLDEN, `${command}.${format}`);
      const text = render(format, view);
      if (update) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, text);
      }
      t.ok(existsSync(file), `${file} exists (KUBE_LB_UPDATE_GOLDEN=1 writes it)`);
      t.equal(text, existsSync(file) ? readFileSync(file, 'utf8') : '', `${command} -o ${format}`);
    }
    // json and yaml are the same data, and that data is what the command computed.
    t.same(parse(render('yaml', view)), JSON.parse(render('json', view)), 'yaml and json carry the same data');
    t.same(JSON.parse(render('json', view)), JSON.parse(JSON.stringify(view.data)));
  });
}

t.test('every line of -o name is KIND/NAME', async (t) => {
  for (const [command, view] of Object.entries(VIEWS)) {
    for (const line of render('name', view).split('\n').filter(Boolean))
      t.match(line, /^[a-z0-9.-]+\/\S+$/, `${command}: ${line}`);
  }
});
