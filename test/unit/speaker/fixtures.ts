// Claims as the allocator and agent leave them, for the speaker's pure tests.
import type { ClaimApproval, ClaimBackend, ClaimPort, VIPClaim } from '../../../src/api/v1alpha1.ts';
import { approvalOf } from '../../../src/core/allocation/approval.ts';

export interface ClaimOptions {
  ns?: string;
  name?: string;
  vip?: string | undefined;
  generation?: number;
  created?: string;
  ports?: ClaimPort[];
  backends?: ClaimBackend[];
  etp?: 'Cluster' | 'Local';
  healthCheckNodePort?: number;
  allocated?: { status: 'True' | 'False'; reason: string };
  /** status.approved: by default the allocator's approval of this spec on the VIP; null: none. */
  approved?: ClaimApproval | null;
  deleting?: boolean;
}

export const TWO_NODES: ClaimBackend[] = [
  { nodeName: 'node-a', address: '10.200.0.11', ready: true },
  { nodeName: 'node-b', address: '10.200.0.12', ready: true },
];

export function claim(o: ClaimOptions = {}): VIPClaim {
  const vip = 'vip' in o ? o.vip : '198.51.100.200';
  const allocated = o.allocated ?? { status: 'True', reason: 'Allocated' };
  const c: VIPClaim = {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPClaim',
    metadata: {
      namespace: o.ns ?? 'tenant-a',
      name: o.name ?? 'default.web',
      generation: o.generation ?? 1,
      creationTimestamp: o.created ?? '2025-01-01T00:00:00Z',
      ...(o.deleting ? { deletionTimestamp: '2025-01-02T00:00:00Z' } : {}),
    },
    spec: {
      service: { cluster: 'c1', namespace: 'default', name: o.name ?? 'web', uid: 'uid-1' },
      ports: o.ports ?? [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
      backends: o.backends ?? TWO_NODES,
      externalTrafficPolicy: o.etp ?? 'Cluster',
      ...(o.healthCheckNodePort ? { healthCheckNodePort: o.healthCheckNodePort } : {}),
    },
    status: {
      ...(vip ? { vip, pool: 'default' } : {}),
      conditions: [{ type: 'Allocated', ...allocated, message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }],
    },
  };
  const approved = o.approved === undefined ? (vip ? approvalOf(c, vip, true) : undefined) : (o.approved ?? undefined);
  if (approved) c.status = { ...c.status, approved };
  return c;
}
