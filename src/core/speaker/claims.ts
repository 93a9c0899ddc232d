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
  | { readonly serve: false; readonly reason: 'Deleting' | 'NoVIP' | 'NotAllocated' | 'NoPorts'; readonly message: string };

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
