// What is probed for a claim: healthCheckNodePort for eTP Local, the NodePort otherwise, UDP through TCP.
import t from 'tap';
import type { VIPClaimSpec } from '../../../src/api/v1alpha1.ts';
import { claimTargets, parseTargetKey, targetKey, targetsFor } from '../../../src/core/health/targets.ts';

const spec = (over: Partial<VIPClaimSpec> = {}): VIPClaimSpec => ({
  service: { cluster: 'c1', namespace: 'default', name: 'web', uid: 'u1' },
  ports: [
    { name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 },
    { name: 'dns', protocol: 'UDP', port: 53, nodePort: 30053 },
  ],
  backends: [
    { nodeName: 'n1', address: '10.0.0.1', ready: true },
    { nodeName: 'n2', address: '10.0.0.2', ready: true },
  ],
  externalTrafficPolicy: 'Cluster',
  ...over,
});

t.test('eTP Cluster: TCP connect to the NodePort; UDP follows the TCP ports', async (t) => {
  const s = spec();
  t.same(targetsFor(s, '10.0.0.1', s.ports[0]!).map(targetKey), ['tcp://10.0.0.1:30080']);
  t.same(targetsFor(s, '10.0.0.1', s.ports[1]!).map(targetKey), ['tcp://10.0.0.1:30080']);
  t.same([...claimTargets(s).keys()].sort(), ['tcp://10.0.0.1:30080', 'tcp://10.0.0.2:30080']);
});

t.test('eTP Local: HTTP /healthz on the healthCheckNodePort for every port', async (t) => {
  const s = spec({ externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 });
  t.same(targetsFor(s, '10.0.0.2', s.ports[1]!).map(targetKey), ['http://10.0.0.2:31000/healthz']);
  t.equal(claimTargets(s).size, 2);
});

t.test('UDP only, eTP Cluster: nothing to check', async (t) => {
  const s = spec({ ports: [{ protocol: 'UDP', port: 53, nodePort: 30053 }] });
  t.same(targetsFor(s, '10.0.0.1', s.ports[0]!), []);
  t.equal(claimTargets(s).size, 0);
});

t.test('keys parse back; garbage does not', async (t) => {
  t.same(parseTargetKey('tcp://10.0.0.1:30080'), { kind: 'tcp', address: '10.0.0.1', port: 30080 });
  t.same(parseTargetKey('http://10.0.0.1:31000/healthz'), {
    kind: 'http',
    address: '10.0.0.1',
    port: 31000,
    path: '/healthz',
  });
  t.equal(parseTargetKey('tcp://10.0.0.1:30080/x'), undefined);
  t.equal(parseTargetKey('udp://10.0.0.1:53'), undefined);
  t.equal(parseTargetKey('tcp://10.0.0.1:70000'), undefined);
});
