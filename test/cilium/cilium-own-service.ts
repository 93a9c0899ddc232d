// A Service Cilium serves itself in the LB cluster (ClusterIP plus an externalIP the client routes to the LB node),
// backed by a server on the first consumer node: what kube-lb must leave untouched (story.ts), and the control for
// what Cilium's own housekeeping costs its own Services (housekeeping-story.ts).
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Topology } from '../../lab/topology.ts';

/** An address on the client segment, outside the kube-lb pool, for the Service Cilium serves itself. */
export const CILIUM_EXTERNAL_IP = '198.51.100.180';
export const CILIUM_BACKEND_PORT = 8080;

/** Creates it; returns its ClusterIP. */
export async function ciliumOwnService(topo: Topology): Promise<string> {
  const core = topo.lb.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const discovery = topo.lb.kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
  const backend = topo.tenants[0]!.nodes[0]!;
  const svc = await core.createNamespacedService({
    namespace: 'default',
    body: {
      metadata: { name: 'cilium-own' },
      spec: {
        type: 'ClusterIP',
        ports: [{ name: 'http', port: 80, targetPort: CILIUM_BACKEND_PORT, protocol: 'TCP' }],
        externalIPs: [CILIUM_EXTERNAL_IP],
      },
    },
  });
  await discovery.createNamespacedEndpointSlice({
    namespace: 'default',
    body: {
      metadata: { name: 'cilium-own-1', labels: { 'kubernetes.io/service-name': 'cilium-own' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: CILIUM_BACKEND_PORT, protocol: 'TCP' }],
      endpoints: [{ addresses: [backend.ip], conditions: { ready: true } }],
    },
  });
  // Nothing answers ARP for an externalIP in this setup: the client routes it to the LB node.
  await topo.client.ip('route', 'add', `${CILIUM_EXTERNAL_IP}/32`, 'via', topo.lbNodes[0]!.frontIp);
  backend.ns.spawn(
    'cilium-own-backend',
    process.execPath,
    [join(import.meta.dirname, '../datapath/backend-server.ts'), 'cilium-own', String(CILIUM_BACKEND_PORT), '8053'],
    topo.logDir,
  );
  return svc.spec!.clusterIP!;
}
