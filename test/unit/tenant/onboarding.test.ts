// Tenant onboarding decisions, as a story: validate the request, refuse a move, build the objects, refuse a
// removal while claims exist.
import t from 'tap';
import { parse } from 'yaml';
import type { ConsumerCluster, VIPClaim } from '../../../src/api/v1alpha1.ts';
import {
  agentKubeconfig,
  checkTenantRequest,
  consumerClusterFor,
  consumerSecretFor,
  decideRemoval,
  defaultTenantNamespace,
  isSystemNamespace,
  namespaceRefusal,
  parsePoolSelector,
  TENANT_NAMESPACE_LABEL,
  tenantConflict,
} from '../../../src/core/tenant/onboarding.ts';
import { renderTenantObjects } from '../../../src/cli/tenant.ts';

const cc = (name: string, tenantNamespace: string): ConsumerCluster => ({
  metadata: { name },
  spec: { tenantNamespace, allowedBackendCIDRs: ['10.0.0.0/24'] },
});

t.test('requests are checked before anything is written', async (t) => {
  const ok = checkTenantRequest({
    name: 'shop',
    tenantNamespace: defaultTenantNamespace('shop'),
    backendCIDRs: [' 10.1.0.0/16 '],
    maxVIPs: 3,
  });
  t.same(ok, {
    ok: true,
    value: { name: 'shop', tenantNamespace: 'kube-lb-tenant-shop', backendCIDRs: ['10.1.0.0/16'], maxVIPs: 3 },
  });
  const bad = checkTenantRequest({
    name: 'Shop_1',
    tenantNamespace: 'kube-lb-tenant-Shop_1',
    backendCIDRs: ['10.1.0.1/16', 'nope'],
    maxVIPs: -1,
  });
  t.equal(bad.ok, false);
  if (!bad.ok) {
    t.equal(bad.problems.length, 5, bad.problems.join('\n'));
    t.match(bad.problems.join('\n'), /host bits set/);
  }
  const none = checkTenantRequest({ name: 'a', tenantNamespace: 'a', backendCIDRs: [] });
  t.match(!none.ok && none.problems[0], /at least one --backend-cidr/);
  const long = 'x'.repeat(60);
  const tooLong = checkTenantRequest({
    name: long,
    tenantNamespace: defaultTenantNamespace(long),
    backendCIDRs: ['10.0.0.0/8'],
  });
  t.match(!tooLong.ok && tooLong.problems[0], /--tenant-namespace/);
});

t.test('pool selectors are KEY=VALUE lists', async (t) => {
  t.same(parsePoolSelector('tier=public, zone=a'), { ok: true, value: { matchLabels: { tier: 'public', zone: 'a' } } });
  t.same(parsePoolSelector(undefined), { ok: true, value: undefined });
  t.equal(parsePoolSelector('tier').ok, false);
});

t.test('a tenant cannot move, and a namespace has one tenant', async (t) => {
  const req = { name: 'shop', tenantNamespace: 'kube-lb-tenant-shop', backendCIDRs: ['10.0.0.0/24'] };
  t.equal(
    tenantConflict(req, [cc('shop', 'kube-lb-tenant-shop'), cc('other', 'o')]),
    undefined,
    'same tenant again: fine',
  );
  t.equal(tenantConflict(req, [cc('shop', 'old')])?.reason, 'TenantNamespaceChange');
  t.equal(tenantConflict(req, [cc('other', 'kube-lb-tenant-shop')])?.reason, 'NamespaceTaken');
});

t.test('the ConsumerCluster and the consumer Secret', async (t) => {
  const req = {
    name: 'shop',
    tenantNamespace: 'ns',
    backendCIDRs: ['10.0.0.0/24'],
    poolSelector: { matchLabels: { a: 'b' } },
  };
  t.same(consumerClusterFor(req).spec, {
    tenantNamespace: 'ns',
    allowedBackendCIDRs: ['10.0.0.0/24'],
    poolSelector: { matchLabels: { a: 'b' } },
  });
  const creds = {
    clusterName: 'shop',
    tenantNamespace: 'ns',
    server: 'https://lb.example:6443',
    caPem: 'PEM',
    token: 'tok',
  };
  const kubeconfig = agentKubeconfig(creds) as {
    clusters: Array<{ cluster: Record<string, string> }>;
    users: Array<{ user: { token: string } }>;
  };
  t.equal(kubeconfig.clusters[0]!.cluster.server, 'https://lb.example:6443');
  t.equal(Buffer.from(kubeconfig.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString(), 'PEM');
  t.equal(kubeconfig.users[0]!.user.token, 'tok');
  const secret = consumerSecretFor(creds, 'KUBECONFIG') as {
    metadata: { name: string; namespace: string };
    stringData: Record<string, string>;
  };
  t.same(secret.metadata.name, 'kube-lb-agent-lb-kubeconfig');
  t.same(secret.stringData, { kubeconfig: 'KUBECONFIG', 'cluster-name': 'shop', 'tenant-namespace': 'ns' });
});

t.test('the deploy/tenant templates render for a tenant with no placeholder left', async (t) => {
  const objects = renderTenantObjects({ name: 'shop', tenantNamespace: 'kube-lb-tenant-shop' });
  t.ok(objects.length >= 4);
  t.notMatch(JSON.stringify(objects), /__[A-Z_]+__/);
  t.equal(objects[0]?.kind, 'Namespace', 'the namespace comes first (and is deleted last)');
  t.ok(
    objects.some(
      (o) =>
        o.kind === 'ServiceAccount' &&
        o.metadata?.name === 'kube-lb-agent' &&
        o.metadata.namespace === 'kube-lb-tenant-shop',
    ),
  );
  // Every rendered object names only this tenant.
  for (const o of objects) t.notMatch(JSON.stringify(parse(JSON.stringify(o))), /tenant-other/);
});

t.test('removal refuses while claims exist unless forced', async (t) => {
  const claim = (name: string, vip?: string): VIPClaim =>
    ({ metadata: { name }, spec: {} as VIPClaim['spec'], ...(vip ? { status: { vip } } : {}) }) as VIPClaim;
  t.same(decideRemoval([], false), { allowed: true, deleteClaims: [] });
  const refused = decideRemoval([claim('b', '1.2.3.4'), claim('a')], false);
  t.equal(refused.allowed, false);
  if (!refused.allowed) {
    t.equal(refused.reason, 'ClaimsExist');
    t.match(refused.message, /2 claim\(s\), 1 with a VIP: a, b/);
  }
  t.same(decideRemoval([claim('b'), claim('a')], true), { allowed: true, deleteClaims: ['a', 'b'] });
});

t.test(
  "system namespaces are never a tenant's, and an existing namespace only if kube-lb made it for that tenant",
  async (t) => {
    for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', 'default', 'kube-lb-system']) {
      t.ok(isSystemNamespace(ns), ns);
      const checked = checkTenantRequest({ name: 'a', tenantNamespace: ns, backendCIDRs: ['10.0.0.0/24'] });
      t.notOk(checked.ok, `tenant add --tenant-namespace ${ns} is refused`);
      if (!checked.ok)
        t.match(checked.problems.join('\n'), new RegExp(`tenant namespace "${ns}" is a system namespace`));
    }
    t.notOk(isSystemNamespace(defaultTenantNamespace('a')), `the default, ${defaultTenantNamespace('a')}, is not`);
    t.notOk(isSystemNamespace('team-a'));

    t.equal(namespaceRefusal('a', undefined), undefined, 'a namespace that does not exist yet is created');
    t.equal(
      namespaceRefusal('a', { metadata: { name: 'ns-a', labels: { 'kube-lb.io/cluster': 'a' } } }),
      undefined,
      "the tenant's own: tenant add again",
    );
    t.match(
      namespaceRefusal('a', { metadata: { name: 'payments' } }),
      /namespace payments exists and kube-lb did not create it/,
    );
    t.match(
      namespaceRefusal('a', { metadata: { name: 'ns-b', labels: { 'kube-lb.io/cluster': 'b' } } }),
      /is tenant b's/,
    );
    const ns = renderTenantObjects({ name: 'a', tenantNamespace: 'ns-a' }).find((o) => o.kind === 'Namespace');
    t.equal(
      ns?.metadata?.labels?.[TENANT_NAMESPACE_LABEL],
      'a',
      "the namespace tenant add creates carries the label that makes it the tenant's",
    );
  },
);
