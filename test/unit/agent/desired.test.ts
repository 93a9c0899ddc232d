import t from 'tap';
import { desiredClaim, REFUSALS } from '../../../src/core/agent/desired.ts';
import { selectService } from '../../../src/core/agent/selection.ts';
import { claimName } from '../../../src/core/agent/naming.ts';
import { ipv4Network } from '../../../src/core/agent/addresses.ts';
import { identity, node, service } from './fixtures.ts';

const nodes = [node('n2', '10.0.0.2'), node('n1', '10.0.0.1')];

t.test('selection: class, default class, type', async (t) => {
  const rows: Array<[string, Parameters<typeof service>[0], boolean, string]> = [
    ['our class', {}, false, 'ClassMatches'],
    ['other class', { spec: { loadBalancerClass: 'metallb.io/metallb' } }, true, 'OtherClass'],
    ['no class, not default', { spec: { loadBalancerClass: undefined } }, false, 'NoClass'],
    ['no class, default', { spec: { loadBalancerClass: undefined } }, true, 'DefaultClass'],
    ['ClusterIP', { spec: { type: 'ClusterIP' } }, true, 'NotLoadBalancer'],
  ];
  for (const [what, over, defaultClass, reason] of rows) {
    t.equal(selectService(service(over), { defaultClass }).reason, reason, what);
  }
});

t.test('claim names are collision-free: namespaces and names hold no dots', async (t) => {
  t.not(claimName('a-b', 'c'), claimName('a', 'b-c'));
  t.equal(claimName('shop', 'web'), 'shop.web');
  t.ok(claimName('n'.repeat(63), 's'.repeat(63)).length <= 253, 'longest possible name fits an object name');
});

t.test('a plain Service becomes a complete claim', async (t) => {
  const d = desiredClaim(service({ metadata: { labels: { app: 'web' } } }), nodes, [], identity);
  if (!d.ok) return t.fail(d.message);
  t.same(d.claim.metadata, {
    name: 'shop.web',
    namespace: 'tenant-c1',
    labels: { 'kube-lb.io/cluster': 'c1', 'kube-lb.io/service-namespace': 'shop', 'kube-lb.io/service-name': 'web' },
  });
  t.strictSame(d.claim.spec, {
    service: { cluster: 'c1', namespace: 'shop', name: 'web', uid: 'uid-1' },
    ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
    backends: [
      { nodeName: 'n1', address: '10.0.0.1', ready: true },
      { nodeName: 'n2', address: '10.0.0.2', ready: true },
    ],
    externalTrafficPolicy: 'Cluster',
    sessionAffinity: { type: 'None' },
    serviceLabels: { app: 'web' },
  });
});

t.test('multi-port, mixed protocols, default protocol TCP', async (t) => {
  const d = desiredClaim(
    service({
      spec: {
        ports: [
          { name: 'dns-udp', protocol: 'UDP', port: 53, nodePort: 30053 },
          { name: 'dns-tcp', protocol: 'TCP', port: 53, nodePort: 30054 },
          { name: 'metrics', port: 9100, nodePort: 30100 },
        ],
      },
    }),
    nodes,
    [],
    identity,
  );
  if (!d.ok) return t.fail(d.message);
  t.same(d.claim.spec.ports, [
    { name: 'dns-udp', protocol: 'UDP', port: 53, nodePort: 30053 },
    { name: 'dns-tcp', protocol: 'TCP', port: 53, nodePort: 30054 },
    { name: 'metrics', protocol: 'TCP', port: 9100, nodePort: 30100 },
  ]);
});

t.test('requested IPs: the annotation list wins over spec.loadBalancerIP; duplicates collapse', async (t) => {
  const both = desiredClaim(
    service({
      metadata: { annotations: { 'kube-lb.io/ips': '192.0.2.10, 192.0.2.11 192.0.2.10' } },
      spec: { loadBalancerIP: '192.0.2.99' },
    }),
    nodes,
    [],
    identity,
  );
  t.same(both.ok && both.claim.spec.requestedIPs, ['192.0.2.10', '192.0.2.11']);
  const legacy = desiredClaim(service({ spec: { loadBalancerIP: '192.0.2.99' } }), nodes, [], identity);
  t.same(legacy.ok && legacy.claim.spec.requestedIPs, ['192.0.2.99']);
  const bad = desiredClaim(
    service({ metadata: { annotations: { 'kube-lb.io/ips': '192.0.2.300' } } }),
    nodes,
    [],
    identity,
  );
  t.same(bad.ok ? undefined : bad.reason, REFUSALS.InvalidRequestedIP);
  t.match(bad.ok ? '' : bad.message, /kube-lb.io\/ips: "192.0.2.300" is not an IPv4 address/);
  const many = desiredClaim(
    service({
      metadata: {
        annotations: { 'kube-lb.io/ips': Array.from({ length: 9 }, (_, i) => `192.0.2.${i + 1}`).join(',') },
      },
    }),
    nodes,
    [],
    identity,
  );
  t.same(many.ok ? undefined : many.reason, REFUSALS.InvalidRequestedIP, 'more than the claim schema allows');
});

t.test('pool, sharing key, source ranges, session affinity, eTP Local health check port', async (t) => {
  const d = desiredClaim(
    service({
      metadata: { annotations: { 'kube-lb.io/pool': 'public', 'kube-lb.io/sharing-key': 'dns' } },
      spec: {
        loadBalancerSourceRanges: ['10.1.2.3/16', '192.0.2.0/24', '10.1.0.0/16'],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 31999,
      },
    }),
    nodes,
    [],
    identity,
  );
  if (!d.ok) return t.fail(d.message);
  t.equal(d.claim.spec.pool, 'public');
  t.equal(d.claim.spec.sharingKey, 'dns');
  t.same(d.claim.spec.loadBalancerSourceRanges, ['10.1.0.0/16', '192.0.2.0/24'], 'network addresses, deduplicated');
  t.same(d.claim.spec.sessionAffinity, { type: 'ClientIP', timeoutSeconds: 600 });
  t.equal(d.claim.spec.externalTrafficPolicy, 'Local');
  t.equal(d.claim.spec.healthCheckNodePort, 31999);

  const defaults = desiredClaim(
    service({ spec: { sessionAffinity: 'ClientIP', healthCheckNodePort: 31999 } }),
    nodes,
    [],
    identity,
  );
  if (!defaults.ok) return t.fail(defaults.message);
  t.same(
    defaults.claim.spec.sessionAffinity,
    { type: 'ClientIP', timeoutSeconds: 10800 },
    "Kubernetes' default timeout",
  );
  t.notOk('healthCheckNodePort' in defaults.claim.spec, 'no health check port with eTP Cluster');

  const legacyRanges = desiredClaim(
    service({
      metadata: {
        annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '203.0.113.0/24,198.51.100.7/32' },
      },
    }),
    nodes,
    [],
    identity,
  );
  t.same(legacyRanges.ok && legacyRanges.claim.spec.loadBalancerSourceRanges, ['203.0.113.0/24', '198.51.100.7/32']);
  const badRange = desiredClaim(service({ spec: { loadBalancerSourceRanges: ['10.0.0.1'] } }), nodes, [], identity);
  t.same(badRange.ok ? undefined : badRange.reason, REFUSALS.InvalidSourceRange);
});

t.test('refusals: missing nodePort, IPv6-only, no ports', async (t) => {
  const noNodePort = desiredClaim(service({ spec: { ports: [{ protocol: 'TCP', port: 80 }] } }), nodes, [], identity);
  t.same(noNodePort.ok ? undefined : noNodePort.reason, REFUSALS.NodePortMissing);
  t.match(noNodePort.ok ? '' : noNodePort.message, /allocateLoadBalancerNodePorts/);
  const v6 = desiredClaim(service({ spec: { ipFamilies: ['IPv6'] } }), nodes, [], identity);
  t.same(v6.ok ? undefined : v6.reason, REFUSALS.UnsupportedIPFamily);
  const dual = desiredClaim(service({ spec: { ipFamilies: ['IPv6', 'IPv4'] } }), nodes, [], identity);
  t.ok(dual.ok, 'dual-stack Services get an IPv4 VIP');
  const none = desiredClaim(service({ spec: { ports: [] } }), nodes, [], identity);
  t.same(none.ok ? undefined : none.reason, REFUSALS.NoPorts);
});

t.test('ipv4Network', async (t) => {
  t.equal(ipv4Network('10.0.0.7/24'), '10.0.0.0/24');
  t.equal(ipv4Network('255.255.255.255/0'), '0.0.0.0/0');
  t.equal(ipv4Network('192.0.2.129/25'), '192.0.2.128/25');
  t.equal(ipv4Network('192.0.2.1/32'), '192.0.2.1/32');
  t.equal(ipv4Network('192.0.2.1/33'), undefined);
  t.equal(ipv4Network('192.0.2.1'), undefined);
  t.equal(ipv4Network('1.2.3/8'), undefined);
});
