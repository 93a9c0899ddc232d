import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { renderTemplate } from '../../../src/core/manifest-template.ts';

t.test('placeholders: all filled, none invented', async (t) => {
  t.same(renderTemplate('a: __X__\nb: __Y_2__-__X__', { X: 'x', Y_2: 'y' }), { ok: true, text: 'a: x\nb: y-x' });
  t.same(renderTemplate('a: __X__ __Z__', { X: 'x' }), { ok: false, reason: 'MissingValue', names: ['Z'] });
  t.same(renderTemplate('a: __X__', { X: 'x', TYPO: 'y' }), { ok: false, reason: 'UnusedValue', names: ['TYPO'] });
});

t.test('the tenant RBAC template renders to objects scoped to one tenant', async (t) => {
  const text = readFileSync(join(import.meta.dirname, '../../../deploy/tenant/agent-rbac.yaml'), 'utf8');
  const r = renderTemplate(text, { CLUSTER_NAME: 'east', TENANT_NAMESPACE: 'tenant-east' });
  if (!r.ok) return t.fail(`${r.reason}: ${r.names.join(', ')}`);
  const docs = parseAllDocuments(r.text).map(
    (d) =>
      d.toJS() as {
        kind: string;
        metadata: { name: string; namespace?: string };
        rules?: Array<{ resourceNames?: string[]; resources: string[] }>;
      },
  );
  t.same(
    docs.map((d) => d.kind),
    ['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'],
  );
  for (const d of docs.filter((d) => d.metadata.namespace !== undefined)) t.equal(d.metadata.namespace, 'tenant-east');
  const clusterRole = docs.find((d) => d.kind === 'ClusterRole')!;
  t.ok(
    clusterRole.rules!.every((rule) => rule.resourceNames?.length === 1 && rule.resourceNames[0] === 'east'),
    'cluster-wide rules name only its own ConsumerCluster',
  );
});
