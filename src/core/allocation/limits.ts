// Per-tenant limits on what the LB nodes program for a tenant (ConsumerCluster spec.limits), with their defaults:
// one tenant's claims must not be able to fill the maps every tenant and Cilium itself share (65,536 entries
// each by default; kube-lb keeps within nine tenths of them, see core/dataplane/planner.ts kubeLbBudget). The
// allocator and its webhook refuse a claim over a per-claim limit; each speaker also enforces all three before
// programming (core/speaker/plan.ts), the tenant's older claims first.
import type { TenantLimits } from '../../api/v1alpha1.ts';

export interface Limits {
  readonly portsPerClaim: number;
  readonly backendsPerClaim: number;
  /** Ports × backends over all the tenant's claims. */
  readonly backendEntries: number;
}

/** A Service with more ports is rare; a consumer cluster with more nodes behind one Service too. A quarter of a default map. */
export const DEFAULT_TENANT_LIMITS: Limits = { portsPerClaim: 64, backendsPerClaim: 1000, backendEntries: 16384 };

export function tenantLimits(spec: TenantLimits | undefined): Limits {
  return {
    portsPerClaim: spec?.portsPerClaim ?? DEFAULT_TENANT_LIMITS.portsPerClaim,
    backendsPerClaim: spec?.backendsPerClaim ?? DEFAULT_TENANT_LIMITS.backendsPerClaim,
    backendEntries: spec?.backendEntries ?? DEFAULT_TENANT_LIMITS.backendEntries,
  };
}
