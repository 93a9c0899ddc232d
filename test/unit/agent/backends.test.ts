import t from 'tap';
import { backendsFor, nodeCandidate, localEndpointsByNode, EXCLUDE_LABEL } from '../../../src/core/agent/backends.ts';
import { node, slice } from './fixtures.ts';

t.test('which nodes are backends (eTP Cluster)', async (t) => {
  const nodes = [
    node('c', '10.0.0.3', { ready: false }),
    node('a', '10.0.0.1', { labels: { 'topology.kubernetes.io/zone': 'z1' } }),
    node('x', '10.0.0.9', { labels: { [EXCLUDE_LABEL]: '' } }),
    node('d', '10.0.0.4', { deleting: true }),
    node('e', '10.0.0.5', { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] }),
    node('b', '10.0.0.1'), // same InternalIP as a: the claim is keyed by address
    {
      metadata: { name: 'v6' },
      status: {
        addresses: [{ type: 'InternalIP', address: 'fd00::1' }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    },
  ];
  t.strictSame(backendsFor('Cluster', nodes, []), [
    { nodeName: 'a', address: '10.0.0.1', ready: true, zone: 'z1' },
    { nodeName: 'c', address: '10.0.0.3', ready: false },
    { nodeName: 'e', address: '10.0.0.5', ready: false },
  ]);
  t.same(nodeCandidate(nodes[2]!), { eligible: false, name: 'x', reason: 'ExcludeLabel' });
  t.same(nodeCandidate(nodes[3]!), { eligible: false, name: 'd', reason: 'Deleting' });
  t.same(nodeCandidate(nodes[6]!), { eligible: false, name: 'v6', reason: 'NoInternalIPv4' });
});

t.test('eTP Local: only nodes with endpoints; terminating-only nodes drain', async (t) => {
  const nodes = [
    node('n1', '10.0.0.1'),
    node('n2', '10.0.0.2'),
    node('n3', '10.0.0.3'),
    node('n4', '10.0.0.4', { ready: false }),
  ];
  const slices = [
    slice([
      { node: 'n1', ready: true },
      { node: 'n2', ready: false, serving: true, terminating: true },
    ]),
    slice([
      { node: 'n3', ready: false },
      { node: 'n4', ready: true },
    ]),
    slice([{ node: 'n3', ready: true }], 'IPv6'),
  ];
  t.strictSame(
    backendsFor('Local', nodes, slices),
    [
      { nodeName: 'n1', address: '10.0.0.1', ready: true },
      { nodeName: 'n2', address: '10.0.0.2', ready: false },
      { nodeName: 'n4', address: '10.0.0.4', ready: false },
    ],
    'n3 has only a not-ready endpoint (and an IPv6 slice, ignored); n4 has a ready pod but the node is not ready',
  );
  t.same(backendsFor('Local', nodes, []), [], 'no endpoints, no backends');
});

t.test('endpoint conditions: unset ready means ready; a ready endpoint beats a terminating one', async (t) => {
  const byNode = localEndpointsByNode([
    slice([
      { node: 'a' },
      { node: 'b', serving: true, terminating: true },
      { node: 'b', ready: true },
      { node: 'c', serving: false, terminating: true },
    ]),
  ]);
  t.same(Object.fromEntries(byNode), { a: 'Ready', b: 'Ready' });
});
