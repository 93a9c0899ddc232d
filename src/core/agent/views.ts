// The consumer-cluster objects the agent reads, reduced to the fields it uses. client-node's V1Service, V1Node
// and V1EndpointSlice are assignable to these, so the pure modules need no Kubernetes client. Timestamps are
// `unknown` because typed reads give Dates and watch events give strings: the core only tests their presence.
import type { Condition } from '../../api/v1alpha1.ts';

export interface ServicePortView {
  name?: string;
  protocol?: string;
  port: number;
  nodePort?: number;
}

export interface LoadBalancerIngressView {
  ip?: string;
  hostname?: string;
  ipMode?: string;
}

export interface ServiceStatusView {
  loadBalancer?: { ingress?: LoadBalancerIngressView[] };
  conditions?: Condition[];
}

export interface ServiceView {
  metadata?: {
    namespace?: string;
    name?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: unknown;
    resourceVersion?: string;
  };
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    loadBalancerIP?: string;
    ports?: ServicePortView[];
    externalTrafficPolicy?: string;
    healthCheckNodePort?: number;
    loadBalancerSourceRanges?: string[];
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    ipFamilies?: string[];
  };
  status?: ServiceStatusView;
}

export interface NodeView {
  metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: unknown };
  spec?: { taints?: Array<{ key: string; effect?: string }> };
  status?: {
    addresses?: Array<{ type: string; address: string }>;
    conditions?: Array<{ type: string; status: string }>;
  };
}

export interface EndpointView {
  nodeName?: string;
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
}

export interface EndpointSliceView {
  metadata?: { namespace?: string; name?: string; labels?: Record<string, string> };
  addressType?: string;
  endpoints?: EndpointView[];
}

/** "namespace/name", the work-queue key of a Service. */
export type ServiceKey = string;

export function serviceKey(namespace: string, name: string): ServiceKey {
  return `${namespace}/${name}`;
}

export function parseServiceKey(key: ServiceKey): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
