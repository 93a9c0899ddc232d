// Which VIPClaims this LB node serves, and the identity of what it programs for each. Pure: claims in,
// decisions with reasons out.
import { CLAIM_CONDITIONS, type VIPClaim } from '../../api/v1alpha1.ts';
import { SERVED_WHILE_FALSE } from '../allocation/allocator.ts';
import { findCondition } from '../conditions.ts';

/** "tenant-ns/claim-name": how a claim is named in plans, logs, published state and the CLI. */
export function claimKey(c: Pick<VIPClaim, 'metadata'>): string {
  return `${c.metadata.namespace ?? ''}/${c.metadata.name ?? ''}`;
}

export type ServeDecision =
  | { readonly serve: true; readonly vip: string }
  | { readonly serve: false; readonly reason: 'Deleting' | 'NoVIP' | 'NotAllocated' | 'NoPorts' | 'Unapproved'; readonly message: string };

/** By claim key: the generation and spec this node last served, which the allocator had checked. */
export type ApprovedSpecs = ReadonlyMap<string, { readonly generation: number; readonly spec: VIPClaim['spec'] }>;

/**
 * The claim as this node may serve it. Its spec names backends and ports, and a tenant writes it: the allocator
 * checks every generation (backends inside the tenant's ranges, no special-purpose address or VIP) and records
 * which one in Allocated's observedGeneration. A node serves the spec the allocator has checked; when the spec
 * has moved on since (the allocator is behind, or down), it keeps serving the last checked spec it served, and
 * serves nothing for a claim it never served. Returns the claim with that spec and generation, or why not.
 */
export function approvedClaim(c: VIPClaim, approved: ApprovedSpecs): VIPClaim | { readonly reason: 'Unapproved'; readonly message: string } {
  const generation = c.metadata.generation ?? 0;
  const checked = findCondition(c.status?.conditions, CLAIM_CONDITIONS.Allocated)?.observedGeneration;
  if (checked === generation) return c;
  const last = approved.get(claimKey(c));
  if (last) return { ...c, metadata: { ...c.metadata, generation: last.generation }, spec: last.spec };
  return {
    reason: 'Unapproved',
    message: `generation ${generation} of the spec awaits the allocator's check (it last checked ${checked ?? 'none'}); nothing served before it`,
  };
}

/**
 * A claim is served when it holds a VIP that the allocator lets it use: Allocated=True, or Allocated=False with a
 * reason under which the claim keeps being served (its VIP is valid; a requested change could not be applied).
 */
export function serveDecision(c: VIPClaim): ServeDecision {
  if (c.metadata.deletionTimestamp) return { serve: false, reason: 'Deleting', message: 'the claim is being deleted' };
  const vip = c.status?.vip;
  if (!vip) return { serve: false, reason: 'NoVIP', message: 'no VIP allocated yet' };
  const allocated = findCondition(c.status?.conditions, CLAIM_CONDITIONS.Allocated);
  if (allocated && allocated.status !== 'True' && !SERVED_WHILE_FALSE.has(allocated.reason)) {
    return { serve: false, reason: 'NotAllocated', message: `Allocated is ${allocated.status} (${allocated.reason})` };
  }
  if ((c.spec.ports ?? []).length === 0) return { serve: false, reason: 'NoPorts', message: 'the claim lists no ports' };
  return { serve: true, vip };
}

/**
 * What a node programs for a claim is fully determined by its spec generation and its VIP (health only changes
 * backend states, which differ per node on purpose). Two nodes that programmed the same fingerprint hold the
 * same frontends.
 */
export function claimFingerprint(c: VIPClaim, vip: string): string {
  return `${claimKey(c)}@${c.metadata.generation ?? 0}=${vip}`;
}
