// kube-lb.io/v1alpha1: the objects the three programs exchange through the LB cluster's API server.
// Their shapes are written once, as the CRD schemas in src/api/v1alpha1-crds.ts, which deploy/crds/*.yaml and
// docs/crds.md are generated from; the types here are derived from those schemas and only name their parts, with
// type-only imports (nothing of the schemas is loaded at run time). To add or change a field, edit the schema.
import type {
  BFDProfile,
  BGPAdvertisement,
  BGPPeer,
  ConsumerCluster,
  L2Announcement,
  VIPClaim,
  VIPPool,
} from './v1alpha1-crds.ts';

export const GROUP = 'kube-lb.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const PLURALS = {
  VIPPool: 'vippools',
  ConsumerCluster: 'consumerclusters',
  VIPClaim: 'vipclaims',
  L2Announcement: 'l2announcements',
  BGPPeer: 'bgppeers',
  BGPAdvertisement: 'bgpadvertisements',
  BFDProfile: 'bfdprofiles',
} as const;

/** The `loadBalancerClass` consumer Services use to be served by kube-lb. */
export const LOAD_BALANCER_CLASS = 'kube-lb.io/vip';

/** Largest number of addresses in one entry of a pool: an IPv4 /8 or an IPv6 /104 (CEL rules and the webhook). */
export const MAX_ADDRESSES_PER_ENTRY = 2 ** 24;

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

export type { BFDProfile, BGPAdvertisement, BGPPeer, ConsumerCluster, L2Announcement, VIPClaim, VIPPool };

/** What kube-lb reads and writes of an object's metadata (the CRDs leave metadata to the apiserver). */
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

// ---------------------------------------------------------------- shared parts

export type LabelSelector = NonNullable<VIPPoolAllocateTo['clusterSelector']>;
export type LabelSelectorRequirement = NonNullable<LabelSelector['matchExpressions']>[number];

/** A status condition (metav1.Condition); every kind's status has a list of them. */
export type Condition = NonNullable<VIPPoolStatus['conditions']>[number];
export type ConditionStatus = Condition['status'];

// ---------------------------------------------------------------- VIPPool (cluster-scoped)

export type VIPPoolSpec = VIPPool['spec'];
export type VIPPoolAllocateTo = NonNullable<VIPPoolSpec['allocateTo']>;
export type VIPPoolStatus = NonNullable<VIPPool['status']>;

// ---------------------------------------------------------------- ConsumerCluster (cluster-scoped)

export type ConsumerClusterSpec = ConsumerCluster['spec'];
/** Per-tenant limits on what the LB nodes program (defaults in src/core/allocation/limits.ts). */
export type TenantLimits = NonNullable<ConsumerClusterSpec['limits']>;
export type ConsumerClusterStatus = NonNullable<ConsumerCluster['status']>;

// ---------------------------------------------------------------- VIPClaim (namespaced: tenant namespace)

export type VIPClaimSpec = VIPClaim['spec'];
/** The consumer Service a claim stands for. */
export type ServiceReference = VIPClaimSpec['service'];
export type ClaimPort = VIPClaimSpec['ports'][number];
export type Protocol = ClaimPort['protocol'];
export type ClaimBackend = VIPClaimSpec['backends'][number];
export type SessionAffinity = NonNullable<VIPClaimSpec['sessionAffinity']>;
export type VIPClaimStatus = NonNullable<VIPClaim['status']>;
export type BackendHealth = NonNullable<VIPClaimStatus['backendHealth']>[number];

/** The part of a claim's spec that the speakers program: what the allocator approves. */
export type ProgrammedSpec = Pick<
  VIPClaimSpec,
  | 'ports'
  | 'backends'
  | 'externalTrafficPolicy'
  | 'healthCheckNodePort'
  | 'loadBalancerSourceRanges'
  | 'sessionAffinity'
>;

/**
 * What the allocator accepted (status.approved), written by it alone in the same status write as Allocated: the
 * speakers program this copy, never the spec, so a spec edited ahead of the allocator (down, behind, its webhook
 * failing open) changes nothing until the allocator has checked it. `vip` is the allocator's own record of the VIP
 * it gave, `generation` the metadata.generation of the spec it comes from. A claim whose VIP is kept reserved while
 * it is refused carries its VIP with no ports and no backends (both may then be absent: absent means none).
 */
export type ClaimApproval = NonNullable<VIPClaimStatus['approved']>;

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

export type L2AnnouncementSpec = L2Announcement['spec'];

// ---------------------------------------------------------------- BGP mode (cluster-scoped)

export type BGPPeerSpec = BGPPeer['spec'];
/** The Secret (in the speakers' namespace) and key holding a session's TCP MD5 password. */
export type BGPPasswordSecret = NonNullable<BGPPeerSpec['passwordSecret']>;
export type BGPPeerStatus = NonNullable<BGPPeer['status']>;
/** One LB node's session with a BGPPeer (status.nodes, keyed by node). */
export type BGPPeerNodeStatus = NonNullable<BGPPeerStatus['nodes']>[number];
export type BGPSessionState = BGPPeerNodeStatus['session'];
export type BFDSessionState = NonNullable<BGPPeerNodeStatus['bfd']>;
/** Defaults of BGPPeer's spec, written into the CRD (the apiserver fills them in) and used where one is unset. */
export const BGP_PEER_DEFAULTS = { peerPort: 179, holdTimeSeconds: 90, keepaliveTimeSeconds: 30 } as const;

/** The BGP communities a BGPAdvertisement may attach by name (RFC 1997, RFC 7999, RFC 8326). */
/** BGP session states (RFC 4271's finite state machine) as BGPPeer status reports them, or Unknown. */
export const BGP_SESSION_STATES = [
  'Idle',
  'Connect',
  'Active',
  'OpenSent',
  'OpenConfirm',
  'Established',
  'Unknown',
] as const;
/** BFD session states (RFC 5880) as BGPPeer status reports them, or Unknown. */
export const BFD_STATUSES = ['Up', 'Down', 'Init', 'AdminDown', 'Unknown'] as const;

export const WELL_KNOWN_COMMUNITIES = [
  'no-export',
  'no-advertise',
  'local-AS',
  'blackhole',
  'graceful-shutdown',
] as const;

export type BGPAdvertisementSpec = BGPAdvertisement['spec'];
export type BGPAdvertisementStatus = NonNullable<BGPAdvertisement['status']>;

export type BFDProfileSpec = BFDProfile['spec'];
export type BFDProfileStatus = NonNullable<BFDProfile['status']>;
