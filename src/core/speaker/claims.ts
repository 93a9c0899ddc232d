// Which VIPClaims this LB node serves, and the identity of what it programs for each. Pure: claims in,
// decisions with reasons out.
import { CLAIM_CONDITIONS, type ClaimApproval, type ProgrammedSpec, type VIPClaim } from '../../api/v1alpha1.ts';
import { SERVED_WHILE_FALSE } from '../allocation/allocator.ts';
import { approvalOf, legacyAllocation } from '../allocation/approval.ts';
import { findCondition } from '../conditions.ts';

/** "tenant-ns/claim-name": how a claim is named in plans, logs, published state and the CLI. */
export function claimKey(c: Pick<VIPClaim, 'metadata'>): string {
  return `${c.metadata.namespace ?? ''}/${c.metadata.name ?? ''}`;
}

/** An approval as the planner reads it: its lists present (an approval may omit empty ones). */
export type ServedApproval = ClaimApproval & Pick<ProgrammedSpec, 'ports' | 'backends'>;

export type ServeDecision =
  | { readonly serve: true; readonly vip: string; readonly approved: ServedApproval }
  | {
      readonly serve: false;
      readonly reason: 'Deleting' | 'NoVIP' | 'NotAllocated' | 'NotApproved' | 'NoPorts';
      readonly message: string;
    };

/**
 * A claim is served when it holds a VIP that the allocator lets it use: Allocated=True, or Allocated=False with a
 * reason under which the claim keeps being served (its VIP is valid; a requested change could not be applied);
 * and the allocator approved that VIP (status.approved, approval.ts). What is served is the approved copy, never
 * the spec: a spec edited ahead of the allocator keeps the last approved one served until the allocator decides.
 */
export function serveDecision(c: VIPClaim): ServeDecision {
  if (c.metadata.deletionTimestamp) return { serve: false, reason: 'Deleting', message: 'the claim is being deleted' };
  const vip = c.status?.vip;
  if (!vip) return { serve: false, reason: 'NoVIP', message: 'no VIP allocated yet' };
  const allocated = findCondition(c.status?.conditions, CLAIM_CONDITIONS.Allocated);
  if (allocated && allocated.status !== 'True' && !SERVED_WHILE_FALSE.has(allocated.reason)) {
    return { serve: false, reason: 'NotAllocated', message: `Allocated is ${allocated.status} (${allocated.reason})` };
  }
  // A claim allocated before approvals existed is served from its spec until the allocator records one.
  const approved = c.status?.approved ?? (legacyAllocation(c.status) === vip ? approvalOf(c, vip, true) : undefined);
  if (!approved)
    return { serve: false, reason: 'NotApproved', message: `the allocator has approved nothing for status.vip ${vip}` };
  if (approved.vip !== vip) {
    return {
      serve: false,
      reason: 'NotApproved',
      message: `status.vip ${vip} is not the VIP the allocator approved (${approved.vip})`,
    };
  }
  const { ports, backends } = approved;
  if (!ports || ports.length === 0)
    return { serve: false, reason: 'NoPorts', message: 'the approved claim lists no ports' };
  return { serve: true, vip, approved: backends ? (approved as ServedApproval) : { ...approved, ports, backends: [] } };
}

/**
 * What a node programs for a claim is fully determined by the approval's generation and its VIP (health only
 * changes backend states, which differ per node on purpose). Two nodes that programmed the same fingerprint hold
 * the same frontends, whatever generation the spec has moved on to.
 */
export function claimFingerprint(c: VIPClaim, approved: Pick<ClaimApproval, 'generation' | 'vip'>): string {
  return `${claimKey(c)}@${approved.generation}=${approved.vip}`;
}
