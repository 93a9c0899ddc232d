// The stand the API-driven L2 tests share: a real API server, an L2 segment of namespaces with N LB nodes, the API
// relay into them and the speakers' launcher, each step undone by the SetupStack (also when a later step fails).
// And a claim as the allocator leaves it: created, then its status written with the VIP.
import type { Test } from 'tap';
import { API_VERSION, type VIPClaim } from '../src/api/v1alpha1.ts';
import { approvalOf } from '../src/core/allocation/approval.ts';
import type { ResourceClient } from '../src/kube/custom-objects.ts';
import { startApiRelay } from './api-relay.ts';
import { startCluster } from './controlplane.ts';
import { createL2Topology, SetupStack } from './l2-topology.ts';
import { L2Speakers } from './l2-speakers.ts';
import { Ledger } from './ledger.ts';

export async function startL2Stand(t: Test, name: string, nodeCount: number) {
  const ledger = Ledger.open(`l2-${name}`);
  const setup = new SetupStack();
  t.teardown(() => setup.unwind());
  const cluster = await setup.step(startCluster(ledger, { name: `l2${name}` }), (c) => c.stop());
  const topo = await setup.step(createL2Topology(ledger, nodeCount), (tp) => tp.destroy());
  const relay = await setup.step(startApiRelay(ledger, cluster, topo.dir), (r) => r.close());
  const speakers = await setup.step(Promise.resolve(new L2Speakers(ledger, topo, relay)), (s) => s.stopAll());
  return { ledger, setup, cluster, topo, relay, speakers };
}

/** Creates a claim in `namespace` with one TCP port and one backend, and writes `vip` and its approval into its status. */
export async function allocatedClaim(
  claims: ResourceClient<VIPClaim>,
  namespace: string,
  name: string,
  vip: string,
  pool: string,
): Promise<void> {
  const created = await claims.create({
    apiVersion: API_VERSION,
    kind: 'VIPClaim',
    metadata: { name, namespace },
    spec: {
      service: { cluster: 'c1', namespace: 'default', name, uid: `uid-${name}` },
      ports: [{ protocol: 'TCP', port: 80, nodePort: 30080 }],
      backends: [{ nodeName: 'n1', address: '10.77.0.1', ready: true }],
      externalTrafficPolicy: 'Cluster',
    },
  });
  // What the allocator would write: the VIP and its approval, which is what the speakers serve.
  await claims.replaceStatus({ ...created, status: { vip, pool, approved: approvalOf(created, vip, true) } });
}
