// status.approved: the allocator's record of what it accepted for a claim, the one thing speakers program and
// the one VIP record the allocator adopts after a restart. Pure.
//
// Written by the allocator alone, in the same status write as Allocated (a ValidatingAdmissionPolicy keeps the
// speakers' token off it; tenants cannot write claim status at all). So a spec edited while the allocator is down
// or behind (its webhook failing open) reaches no dataplane, and a status.vip written by anyone else is neither
// adopted by the allocator nor served by the speakers.
import { createHash } from 'node:crypto';
import {
  CLAIM_CONDITIONS,
  type ClaimApproval,
  type ProgrammedSpec,
  type VIPClaim,
  type VIPClaimStatus,
} from '../../api/v1alpha1.ts';
import { findCondition } from '../conditions.ts';

/**
 * The allocator's approval of the claim's current spec on `vip`: a copy of what the speakers program. With
 * `serve` false (the claim keeps `vip` reserved while it is refused), the VIP alone, with nothing to program.
 */
export function approvalOf(claim: Pick<VIPClaim, 'metadata' | 'spec'>, vip: string, serve: boolean): ClaimApproval {
  const spec = claim.spec;
  const programmed: ProgrammedSpec = serve
    ? {
        ports: spec.ports ?? [],
        backends: spec.backends ?? [],
        externalTrafficPolicy: spec.externalTrafficPolicy,
        ...(spec.healthCheckNodePort !== undefined ? { healthCheckNodePort: spec.healthCheckNodePort } : {}),
        ...(spec.loadBalancerSourceRanges?.length ? { loadBalancerSourceRanges: spec.loadBalancerSourceRanges } : {}),
        ...(spec.sessionAffinity ? { sessionAffinity: spec.sessionAffinity } : {}),
      }
    : { ports: [], backends: [], externalTrafficPolicy: spec.externalTrafficPolicy };
  return { generation: claim.metadata.generation ?? 0, vip, ...programmed };
}

/**
 * The VIP the allocator itself recorded for a claim, or undefined: its approval's, or a legacy allocation's
 * (below). A status.vip next to an approval naming another VIP is no record.
 */
export function recordedVIP(status: VIPClaimStatus | undefined): string | undefined {
  return status?.approved ? status.approved.vip || undefined : legacyAllocation(status);
}

/**
 * The VIP of a claim allocated before approvals existed (an upgrade from a version without status.approved): no
 * approval at all, a status.vip and the allocator's Allocated=True. Honoured so that an upgrade moves no VIP and
 * stops no traffic: the allocator adopts the VIP and records an approval in its first pass, and until then the
 * speakers serve the spec, behind their own backend checks. No one but the allocator (and the operator) can write
 * such a status: tenants have no access to claim status, and the speakers' admission policy keeps their token off
 * status.vip, the Allocated condition and status.approved, removing it included.
 */
export function legacyAllocation(status: VIPClaimStatus | undefined): string | undefined {
  if (!status?.vip || status.approved) return undefined;
  return findCondition(status.conditions, CLAIM_CONDITIONS.Allocated)?.status === 'True' ? status.vip : undefined;
}

/** A spec's programmed fields, or an approval's (whose empty lists may be absent). */
type Programmed = ProgrammedSpec | ClaimApproval;

/** The programmed fields in a fixed order, optional ones that are empty written as empty. */
function canonical(p: Programmed): unknown[] {
  return [
    (p.ports ?? []).map((x) => [x.name ?? '', x.protocol, x.port, x.nodePort]),
    (p.backends ?? []).map((b) => [b.nodeName, b.address, b.ready, b.zone ?? '']),
    p.externalTrafficPolicy,
    p.healthCheckNodePort ?? 0,
    p.loadBalancerSourceRanges ?? [],
    p.sessionAffinity ? [p.sessionAffinity.type, p.sessionAffinity.timeoutSeconds ?? 0] : [],
  ];
}

/**
 * A short digest of an approval, for the allocator's "is what the apiserver shows what I would write"
 * fingerprints (which it keeps per claim, so they must stay small). Over a canonical form: read back from the
 * apiserver, an object's keys come in another order than the allocator wrote them, and optional fields that are
 * empty may be absent.
 */
export function approvalDigest(a: ClaimApproval | undefined): string {
  if (!a) return '';
  return createHash('sha256')
    .update(JSON.stringify([a.generation, a.vip, ...canonical(a)]))
    .digest('base64url')
    .slice(0, 22);
}

/** Whether two carry the same programmed fields (an approval and the spec it was copied from, say). */
export function sameProgrammed(a: Programmed, b: Programmed): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
