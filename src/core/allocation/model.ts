// The validated model the allocator works on, produced from a snapshot of custom resources by validate.ts.
// Plain data: no Kubernetes client, no clocks.
import type { LabelSelector, Protocol, VIPPoolAllocateTo } from '../../api/v1alpha1.ts';
import type { IPAddr, IPRange } from '../ip/index.ts';
import type { DeniedRange } from './deny-list.ts';
import type { Limits } from './limits.ts';
import type { ObjectRef } from '../../shared/errors.ts';

/**
 * Stable codes of problems found across objects, used as condition reasons, admission messages and metric
 * labels. Documented in docs/allocator.md.
 */
export type ProblemCode =
  | 'InvalidAddress'
  | 'AddressOverlap'
  | 'PoolOverlap'
  | 'ReservedAddress'
  | 'PoolTooLarge'
  | 'NamespaceConflict'
  | 'BackendRangeOverlap'
  | 'InvalidCIDR'
  | 'UnknownTenant'
  | 'ClusterMismatch'
  | 'BackendNotAllowed'
  | 'InvalidIP'
  | 'RequestedIPNotAllowed'
  | 'UnknownPool'
  | 'PoolNotAllowed'
  | 'SharingConflict'
  | 'LimitExceeded';

export interface Problem {
  readonly code: ProblemCode;
  /** The object at fault and the field, e.g. VIPPool b spec.addresses[1]. */
  readonly object: ObjectRef;
  /** Names the object and the field, and says what is wrong with it. */
  readonly message: string;
}

export interface PoolModel {
  readonly name: string;
  /** creationTimestamp (RFC 3339); with the name it orders pools, so the older of two overlapping pools wins. */
  readonly created: string;
  readonly generation: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Valid entries of spec.addresses, in spec order. */
  readonly ranges: readonly IPRange[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  readonly priority: number;
  readonly allocateTo: VIPPoolAllocateTo | undefined;
  /** Addresses the pool can hand out (after avoidBuggyIPs). */
  readonly capacity: number;
  /** False when the pool may not hand out new addresses (it overlaps an older pool). Held VIPs stay. */
  readonly usable: boolean;
  readonly problems: readonly Problem[];
}

export interface TenantModel {
  readonly name: string;
  readonly created: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly namespace: string;
  readonly backendRanges: readonly IPRange[];
  /**
   * Parts of backendRanges that an older tenant holds and that the two have not both agreed to share
   * (spec.sharedBackendsWith): never this tenant's backends.
   */
  readonly contested: readonly ContestedRange[];
  /** undefined: unlimited. */
  readonly maxVIPs: number | undefined;
  readonly poolSelector: LabelSelector | undefined;
  readonly limits: Limits;
  /** False when another, older tenant already uses the namespace: its claims are not served. */
  readonly usable: boolean;
  readonly problems: readonly Problem[];
}

export interface ContestedRange {
  readonly range: IPRange;
  /** The older tenant that keeps these addresses. */
  readonly holder: string;
}

export interface Model {
  readonly pools: ReadonlyMap<string, PoolModel>;
  readonly tenants: ReadonlyMap<string, TenantModel>;
  /** The one usable tenant of each tenant namespace. */
  readonly tenantByNamespace: ReadonlyMap<string, TenantModel>;
  /** Every problem of every pool and tenant. */
  readonly problems: readonly Problem[];
  /** Addresses never a backend beyond the special-purpose blocks and the pools (deny-list.ts). */
  readonly denied?: readonly DeniedRange[];
}

export interface PortKey {
  readonly protocol: Protocol;
  readonly port: number;
}

/** A claim as the allocator sees it: the request, and what its status already records. */
export interface ClaimRequest {
  /** namespace/name */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly created: string;
  readonly generation: number;
  readonly cluster: string;
  readonly serviceNamespace: string;
  readonly serviceName: string;
  readonly serviceLabels: Readonly<Record<string, string>>;
  readonly pool: string | undefined;
  /** Canonical text, in order of preference; unparseable entries are reported by checkClaim. */
  readonly requestedIPs: readonly string[];
  readonly sharingKey: string | undefined;
  readonly ports: readonly PortKey[];
  readonly backends: ReadonlyArray<{ readonly address: string; readonly ip: IPAddr | undefined }>;
  /**
   * status.approved.vip (canonical) and status.pool: the allocator's own record, which survives restarts and leader
   * changes. A status.vip without an approval is no record (approval.ts).
   */
  readonly recorded:
    | {
        readonly vip: string;
        readonly pool: string | undefined;
        /** Backend addresses the record approved (a legacy allocation's: its spec's), kept through a range overlap. */
        readonly backends: readonly string[];
      }
    | undefined;
}
