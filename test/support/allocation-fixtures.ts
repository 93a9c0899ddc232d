// Small builders for VIPPool, ConsumerCluster and VIPClaim objects, for allocation tests and benchmarks.
import type {
  ConsumerCluster,
  ConsumerClusterSpec,
  VIPClaim,
  VIPClaimSpec,
  VIPPool,
  VIPPoolSpec,
} from '../../src/api/v1alpha1.ts';
import { approvalOf } from '../../src/core/allocation/approval.ts';

/** Creation times in the order objects are built, so "older" is well defined in tests. */
export function clock(start = Date.parse('2026-01-01T00:00:00Z')): () => string {
  let t = start;
  return () => new Date((t += 1000)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function pool(
  name: string,
  addresses: string[],
  spec: Partial<VIPPoolSpec> = {},
  meta: { labels?: Record<string, string>; created?: string } = {},
): VIPPool {
  return {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPPool',
    metadata: { name, labels: meta.labels, creationTimestamp: meta.created ?? '2026-01-01T00:00:00Z', generation: 1 },
    spec: { addresses, ...spec },
  };
}

export function tenant(
  name: string,
  tenantNamespace: string,
  allowedBackendCIDRs: string[] = ['10.10.0.0/16'],
  spec: Partial<ConsumerClusterSpec> = {},
  meta: { labels?: Record<string, string>; created?: string } = {},
): ConsumerCluster {
  return {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'ConsumerCluster',
    metadata: { name, labels: meta.labels, creationTimestamp: meta.created ?? '2026-01-01T00:00:00Z' },
    spec: { tenantNamespace, allowedBackendCIDRs, ...spec },
  };
}

export interface ClaimOptions extends Partial<Omit<VIPClaimSpec, 'service'>> {
  cluster?: string;
  serviceNamespace?: string;
  created?: string;
  /** status.vip, recorded by the allocator with an approval of the spec unless `approved` is false. */
  vip?: string;
  statusPool?: string;
  /** false: status.vip without the allocator's approval (written by someone else, or before approvals). */
  approved?: boolean;
}

export function claim(namespace: string, name: string, opts: ClaimOptions = {}): VIPClaim {
  const { cluster, serviceNamespace, created, vip, statusPool, approved, ...spec } = opts;
  const c: VIPClaim = {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPClaim',
    metadata: {
      name,
      namespace,
      uid: `uid-${namespace}-${name}`,
      creationTimestamp: created ?? '2026-01-01T00:00:00Z',
      generation: 1,
    },
    spec: {
      service: { cluster: cluster ?? namespace, namespace: serviceNamespace ?? 'default', name, uid: `svc-${name}` },
      ports: [{ protocol: 'TCP', port: 80, nodePort: 30080 }],
      backends: [{ nodeName: 'n1', address: '10.10.0.5', ready: true }],
      externalTrafficPolicy: 'Cluster',
      ...spec,
    },
  };
  if (vip) c.status = { vip, pool: statusPool, ...(approved !== false ? { approved: approvalOf(c, vip, true) } : {}) };
  return c;
}
