// Builders for the consumer objects the agent's pure modules read. Every test starts from these and overrides
// only what it is about, so each row says what matters.
import type { VIPClaim, Condition } from '../../../src/api/v1alpha1.ts';
import { LOAD_BALANCER_CLASS } from '../../../src/api/v1alpha1.ts';
import { approvalOf } from '../../../src/core/allocation/approval.ts';
import type { EndpointSliceView, NodeView, ServiceView } from '../../../src/core/agent/views.ts';
import type { AgentIdentity } from '../../../src/core/agent/plan.ts';
import type { ConsumerCapabilities } from '../../../src/core/agent/capabilities.ts';

export const identity: AgentIdentity = { cluster: 'c1', tenantNamespace: 'tenant-c1', defaultClass: false };

type DeepPartialService = {
  metadata?: ServiceView['metadata'];
  spec?: Partial<NonNullable<ServiceView['spec']>>;
  status?: ServiceView['status'];
};

export function service(over: DeepPartialService = {}): ServiceView {
  return {
    metadata: { namespace: 'shop', name: 'web', uid: 'uid-1', ...over.metadata },
    spec: {
      type: 'LoadBalancer',
      loadBalancerClass: LOAD_BALANCER_CLASS,
      ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
      externalTrafficPolicy: 'Cluster',
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
      ...over.spec,
    },
    ...(over.status ? { status: over.status } : {}),
  };
}

export function node(
  name: string,
  ip: string,
  over: {
    ready?: boolean;
    labels?: Record<string, string>;
    taints?: Array<{ key: string; effect?: string }>;
    deleting?: boolean;
  } = {},
): NodeView {
  return {
    metadata: {
      name,
      labels: over.labels ?? {},
      ...(over.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    spec: over.taints ? { taints: over.taints } : {},
    status: {
      addresses: [
        { type: 'Hostname', address: name },
        { type: 'InternalIP', address: ip },
      ],
      conditions: [{ type: 'Ready', status: over.ready === false ? 'False' : 'True' }],
    },
  };
}

export interface EndpointSpec {
  node: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export function slice(endpoints: EndpointSpec[], addressType = 'IPv4'): EndpointSliceView {
  return {
    metadata: {
      namespace: 'shop',
      name: `web-${Math.random().toString(36).slice(2, 7)}`,
      labels: { 'kubernetes.io/service-name': 'web' },
    },
    addressType,
    endpoints: endpoints.map((e) => ({
      nodeName: e.node,
      conditions: {
        ...(e.ready === undefined ? {} : { ready: e.ready }),
        ...(e.serving === undefined ? {} : { serving: e.serving }),
        ...(e.terminating === undefined ? {} : { terminating: e.terminating }),
      },
    })),
  };
}

export function allocated(claim: VIPClaim, vip: string, extra: Condition[] = []): VIPClaim {
  return {
    ...claim,
    metadata: { ...claim.metadata, resourceVersion: '10' },
    status: {
      vip,
      pool: 'default',
      approved: approvalOf(claim, vip, true),
      conditions: [
        {
          type: 'Allocated',
          status: 'True',
          reason: 'Allocated',
          message: `from pool default`,
          lastTransitionTime: '2025-01-01T00:00:00Z',
        },
        ...extra,
      ],
    },
  };
}

export function refused(claim: VIPClaim, reason: string, message: string): VIPClaim {
  return {
    ...claim,
    metadata: { ...claim.metadata, resourceVersion: '11' },
    status: {
      conditions: [{ type: 'Allocated', status: 'False', reason, message, lastTransitionTime: '2025-01-01T00:00:01Z' }],
    },
  };
}

export const now = new Date('2025-06-01T12:00:00Z');

/** A consumer cluster that keeps ipMode (1.30+), as most tests assume. */
export const current: ConsumerCapabilities = { version: 'v1.34.4', ipMode: true };
/** A consumer cluster without ipMode. */
export const old: ConsumerCapabilities = { version: 'v1.24.17', ipMode: false };
