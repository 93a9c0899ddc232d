// kube-lb.io/v1alpha1: the objects the three programs exchange through the LB cluster's API server.
// deploy/crds/*.yaml must describe exactly these shapes; test/unit/api/crd-sync.test.ts keeps them in step.

export const GROUP = 'kube-lb.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const PLURALS = {
  VIPPool: 'vippools',
  ConsumerCluster: 'consumerclusters',
  VIPClaim: 'vipclaims',
  L2Announcement: 'l2announcements',
} as const;

/** The `loadBalancerClass` consumer Services use to be served by kube-lb. */
export const LOAD_BALANCER_CLASS = 'kube-lb.io/vip';

/** Annotations on consumer Services, read by the agent. */
export const ANNOTATIONS = {
  /** Comma-separated IPs to request (first free one wins); overrides spec.loadBalancerIP. */
  requestedIPs: 'kube-lb.io/ips',
  /** Services of one tenant with the same key may share a VIP when their ports do not overlap. */
  sharingKey: 'kube-lb.io/sharing-key',
  /** Name of the pool to allocate from. */
  pool: 'kube-lb.io/pool',
} as const;

/** Labels kube-lb puts on the objects it writes. */
export const LABELS = {
  cluster: 'kube-lb.io/cluster',
  serviceNamespace: 'kube-lb.io/service-namespace',
  serviceName: 'kube-lb.io/service-name',
} as const;

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

// ---------------------------------------------------------------- VIPPool (cluster-scoped)

export interface VIPPoolSpec {
  /** CIDRs ("10.0.0.0/24") and inclusive ranges ("10.0.0.10-10.0.0.20"). */
  addresses: string[];
  /** Whether claims that name no pool may be given addresses from this pool. Default true. */
  autoAssign?: boolean;
  /** Skip .0 and .255 addresses, which some old client stacks mishandle. */
  avoidBuggyIPs?: boolean;
  allocateTo?: VIPPoolAllocateTo;
  /** Among eligible pools, the lowest priority value is tried first. Default 1000. */
  priority?: number;
}

export interface VIPPoolAllocateTo {
  /** ConsumerCluster labels. */
  clusterSelector?: LabelSelector;
  /** Consumer-side Service namespaces. */
  namespaces?: string[];
  /** Consumer-side Service labels. */
  serviceSelector?: LabelSelector;
}

export interface VIPPoolStatus {
  capacity?: number;
  allocated?: number;
  conditions?: Condition[];
  observedGeneration?: number;
}

export interface VIPPool {
  apiVersion?: typeof API_VERSION;
  kind?: 'VIPPool';
  metadata: ObjectMeta;
  spec: VIPPoolSpec;
  status?: VIPPoolStatus;
}

// ---------------------------------------------------------------- ConsumerCluster (cluster-scoped)

export interface ConsumerClusterSpec {
  /** Namespace in the LB cluster where this tenant's agent writes its claims. */
  tenantNamespace: string;
  /** The consumer's node networks: claim backends must lie inside these. */
  allowedBackendCIDRs: string[];
  /**
   * ConsumerClusters whose allowedBackendCIDRs may overlap this one's. An overlap counts as agreed only when both
   * list each other; otherwise the younger tenant gets no backends in the shared addresses.
   */
  sharedBackendsWith?: string[];
  /** Quota on distinct VIPs. Unset: unlimited. */
  maxVIPs?: number;
  /** Which pools the tenant may use. Unset: all pools. */
  poolSelector?: LabelSelector;
  /** How much of the LB nodes' maps the tenant's claims may take; each unset field has its default. */
  limits?: TenantLimits;
}

/** Per-tenant limits on what the LB nodes program (defaults in src/core/allocation/limits.ts). */
export interface TenantLimits {
  /** Ports of one claim (each is a frontend on every LB node). */
  portsPerClaim?: number;
  /** Backends of one claim. */
  backendsPerClaim?: number;
  /** Ports × backends summed over the tenant's claims: the service-map slots they take on every LB node. */
  backendEntries?: number;
}

export interface ConsumerClusterStatus {
  claims?: number;
  vips?: number;
  lastHeartbeatTime?: string;
  agentVersion?: string;
  kubernetesVersion?: string;
  ipModeProxy?: boolean;
  conditions?: Condition[];
}

export interface ConsumerCluster {
  apiVersion?: typeof API_VERSION;
  kind?: 'ConsumerCluster';
  metadata: ObjectMeta;
  spec: ConsumerClusterSpec;
  status?: ConsumerClusterStatus;
}

// ---------------------------------------------------------------- VIPClaim (namespaced: tenant namespace)

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServiceReference {
  /** ConsumerCluster name. */
  cluster: string;
  namespace: string;
  name: string;
  uid: string;
}

export interface ClaimPort {
  name?: string;
  protocol: Protocol;
  port: number;
  nodePort: number;
}

export interface ClaimBackend {
  nodeName: string;
  /** Node InternalIP, the destination the LB sends to (node IP:NodePort). */
  address: string;
  /** False for nodes that should get no new flows (e.g. eTP Local without ready endpoints). */
  ready: boolean;
  zone?: string;
}

export interface SessionAffinity {
  type: 'None' | 'ClientIP';
  timeoutSeconds?: number;
}

export interface VIPClaimSpec {
  service: ServiceReference;
  /** Labels of the consumer Service, for pools' allocateTo.serviceSelector. */
  serviceLabels?: Record<string, string>;
  /** Requested pool by name. */
  pool?: string;
  /** Requested IPs in order of preference. */
  requestedIPs?: string[];
  sharingKey?: string;
  ports: ClaimPort[];
  backends: ClaimBackend[];
  externalTrafficPolicy: 'Cluster' | 'Local';
  healthCheckNodePort?: number;
  loadBalancerSourceRanges?: string[];
  sessionAffinity?: SessionAffinity;
}

export interface BackendHealth {
  address: string;
  healthy: boolean;
  /** LB nodes that currently see this backend as failing. */
  failingFrom?: string[];
}

/** The part of a claim's spec that the speakers program: what the allocator approves. */
export type ProgrammedSpec = Pick<
  VIPClaimSpec,
  'ports' | 'backends' | 'externalTrafficPolicy' | 'healthCheckNodePort' | 'loadBalancerSourceRanges' | 'sessionAffinity'
>;

/**
 * What the allocator accepted, written by it alone in the same status write as Allocated: the speakers program
 * this copy, never the spec, so a spec edited ahead of the allocator (down, behind, its webhook failing open)
 * changes nothing until the allocator has checked it. `vip` is the allocator's own record of the VIP it gave.
 * A claim whose VIP is kept reserved while it is refused carries its VIP with no ports and no backends.
 */
export interface ClaimApproval extends Omit<ProgrammedSpec, 'ports' | 'backends'> {
  /** Absent: none (a VIP kept reserved for a refused claim). */
  ports?: ClaimPort[];
  /** Absent: none. */
  backends?: ClaimBackend[];
  /** metadata.generation of the spec this copy comes from. */
  generation: number;
  vip: string;
}

export interface VIPClaimStatus {
  vip?: string;
  pool?: string;
  /** Written by the allocator only; what the speakers program. */
  approved?: ClaimApproval;
  /** LB nodes whose maps hold this claim's entries. */
  programmedNodes?: string[];
  /** LB node that answers ARP for the VIP. */
  announcedBy?: string;
  backendHealth?: BackendHealth[];
  conditions?: Condition[];
  observedGeneration?: number;
}

export interface VIPClaim {
  apiVersion?: typeof API_VERSION;
  kind?: 'VIPClaim';
  metadata: ObjectMeta;
  spec: VIPClaimSpec;
  status?: VIPClaimStatus;
}

export const CLAIM_CONDITIONS = {
  Allocated: 'Allocated',
  Programmed: 'Programmed',
  Announced: 'Announced',
  BackendsHealthy: 'BackendsHealthy',
} as const;

/** Reasons of the Allocated condition. */
export const ALLOCATION_REASONS = {
  Allocated: 'Allocated',
  PoolExhausted: 'PoolExhausted',
  NotAllowed: 'NotAllowed',
  QuotaExceeded: 'QuotaExceeded',
  RequestedIPUnavailable: 'RequestedIPUnavailable',
  SharingConflict: 'SharingConflict',
  InvalidSpec: 'InvalidSpec',
  /** The claim holds a VIP that its pool no longer contains (pool shrunk or deleted). */
  OutsidePool: 'OutsidePool',
  UnknownTenant: 'UnknownTenant',
} as const;

// ---------------------------------------------------------------- L2Announcement (cluster-scoped)

export interface L2AnnouncementSpec {
  /** Pools whose VIPs are announced. Unset: all pools. */
  poolSelector?: LabelSelector;
  /** LB nodes that may announce. Unset: all LB nodes running a speaker. */
  nodeSelector?: LabelSelector;
  /** Interface names, or regular expressions written as /regex/. Unset: the interface of the default route. */
  interfaces?: string[];
}

export interface L2Announcement {
  apiVersion?: typeof API_VERSION;
  kind?: 'L2Announcement';
  metadata: ObjectMeta;
  spec: L2AnnouncementSpec;
  status?: { conditions?: Condition[] };
}
