// What the allocator writes into the status of claims, pools and tenants, computed purely from its decisions
// and model. Each result carries a fingerprint of the content the allocator owns, so the controller writes
// only when that content changed (timestamps excluded).
import { CLAIM_CONDITIONS, type ClaimApproval, type Condition, type VIPClaim } from '../../api/v1alpha1.ts';
import { findCondition, setCondition, type ConditionInput } from '../conditions.ts';
import { SERVED_WHILE_FALSE, type Decision } from './allocator.ts';
import { approvalDigest, approvalOf, recordedVIP } from './approval.ts';
import type { PoolModel, TenantModel } from './model.ts';

export interface OwnedStatus<S> {
  /** The allocator's fields only: applied with server-side apply, so speakers' and agents' fields stay. */
  readonly status: S;
  readonly fingerprint: string;
}

export interface ClaimStatusPart {
  vip?: string;
  pool?: string;
  approved?: ClaimApproval;
  conditions: Condition[];
}

function fingerprint(fields: unknown, conditions: readonly ConditionInput[]): string {
  return JSON.stringify([fields, conditions.map((c) => [c.type, c.status, c.reason, c.message, c.observedGeneration])]);
}

function build(existing: readonly Condition[] | undefined, inputs: readonly ConditionInput[], now: Date): Condition[] {
  return inputs.map(
    (input) =>
      setCondition(
        existing?.filter((c) => c.type === input.type),
        input,
        now,
      )[0]!,
  );
}

export function allocatedCondition(decision: Decision, generation: number): ConditionInput {
  return {
    type: CLAIM_CONDITIONS.Allocated,
    status: decision.kind === 'allocated' ? 'True' : 'False',
    reason: decision.reason,
    message: decision.message,
    observedGeneration: generation,
  };
}

/**
 * The claim status the allocator owns after `decision`; `now` only stamps a condition whose status changes. A
 * claim that keeps a VIP is approved with it: its current spec when it may be served, nothing to program when it
 * keeps the VIP only reserved (its spec is refused). Without a VIP there is nothing to approve.
 */
export function claimStatus(claim: VIPClaim, decision: Decision, now: Date): OwnedStatus<ClaimStatusPart> {
  const input = allocatedCondition(decision, claim.metadata.generation ?? 0);
  const approved = decision.kind === 'refused' ? undefined : approvalOf(claim, decision.vip, servable(decision));
  const fields =
    decision.kind === 'refused' ? {} : { vip: decision.vip, ...(decision.pool ? { pool: decision.pool } : {}) };
  return {
    status: { ...fields, ...(approved ? { approved } : {}), conditions: build(claim.status?.conditions, [input], now) },
    fingerprint: fingerprint({ ...fields, approved: approvalDigest(approved) }, [input]),
  };
}

/** The same fingerprint, read back from an object's current status. */
export function currentClaimFingerprint(claim: VIPClaim): string {
  const c = findCondition(claim.status?.conditions, CLAIM_CONDITIONS.Allocated);
  const fields = claim.status?.vip
    ? { vip: claim.status.vip, ...(claim.status.pool ? { pool: claim.status.pool } : {}) }
    : {};
  return fingerprint(
    { ...fields, approved: approvalDigest(claim.status?.approved) },
    c
      ? [
          {
            type: c.type,
            status: c.status,
            reason: c.reason,
            message: c.message,
            observedGeneration: c.observedGeneration,
          },
        ]
      : [],
  );
}

/** Whether a decision lets the speakers serve the claim (the reasons of isServable below). */
function servable(decision: Decision): boolean {
  return decision.kind === 'allocated' || (decision.kind === 'held' && SERVED_WHILE_FALSE.has(decision.reason));
}

/**
 * Whether a speaker should program a claim: it has a VIP that the allocator approved (approval.ts), and its
 * Allocated condition is True, or False only because a change the claim asked for could not be applied (its VIP
 * itself is still valid and its own).
 */
export function isServable(claim: Pick<VIPClaim, 'status'>): boolean {
  if (!claim.status?.vip || recordedVIP(claim.status) !== claim.status.vip) return false;
  const c = findCondition(claim.status.conditions, CLAIM_CONDITIONS.Allocated);
  return c !== undefined && (c.status === 'True' || SERVED_WHILE_FALSE.has(c.reason));
}

export interface PoolStatusPart {
  capacity: number;
  allocated: number;
  observedGeneration: number;
  conditions: Condition[];
}

export const POOL_CONDITIONS = { Ready: 'Ready', Valid: 'Valid', Overlap: 'Overlap' } as const;

export function poolStatus(
  pool: PoolModel,
  allocated: number,
  existing: readonly Condition[] | undefined,
  now: Date,
): OwnedStatus<PoolStatusPart> {
  const overlaps = pool.problems.filter((p) => p.code === 'PoolOverlap');
  const invalid = pool.problems.filter((p) => p.code !== 'PoolOverlap');
  const g = pool.generation;
  const inputs: ConditionInput[] = [
    pool.usable
      ? {
          type: POOL_CONDITIONS.Ready,
          status: 'True',
          reason: 'Ready',
          message: `hands out addresses (${allocated} of ${pool.capacity} in use)`,
          observedGeneration: g,
        }
      : {
          type: POOL_CONDITIONS.Ready,
          status: 'False',
          reason: overlaps.length > 0 ? 'Overlap' : 'NoAddresses',
          observedGeneration: g,
          message:
            overlaps.length > 0 ? 'hands out no addresses while it overlaps an older pool' : 'has no valid address',
        },
    invalid.length > 0
      ? {
          type: POOL_CONDITIONS.Valid,
          status: 'False',
          reason: invalid[0]!.code,
          message: invalid.map((p) => p.message).join('; '),
          observedGeneration: g,
        }
      : {
          type: POOL_CONDITIONS.Valid,
          status: 'True',
          reason: 'Valid',
          message: 'every address entry is valid',
          observedGeneration: g,
        },
    overlaps.length > 0
      ? {
          type: POOL_CONDITIONS.Overlap,
          status: 'True',
          reason: 'PoolOverlap',
          message: overlaps.map((p) => p.message).join('; '),
          observedGeneration: g,
        }
      : {
          type: POOL_CONDITIONS.Overlap,
          status: 'False',
          reason: 'NoOverlap',
          message: 'no address is in another pool',
          observedGeneration: g,
        },
  ];
  const fields = { capacity: pool.capacity, allocated, observedGeneration: g };
  return { status: { ...fields, conditions: build(existing, inputs, now) }, fingerprint: fingerprint(fields, inputs) };
}

export interface TenantStatusPart {
  claims: number;
  vips: number;
  conditions: Condition[];
}

export function tenantStatus(
  tenant: TenantModel,
  claims: number,
  vips: number,
  existing: readonly Condition[] | undefined,
  now: Date,
): OwnedStatus<TenantStatusPart> {
  const first = tenant.problems[0];
  const input: ConditionInput = first
    ? {
        type: 'Ready',
        status: tenant.usable ? 'True' : 'False',
        reason: first.code,
        message: tenant.problems.map((p) => p.message).join('; '),
      }
    : { type: 'Ready', status: 'True', reason: 'Ready', message: `claims in namespace ${tenant.namespace} are served` };
  const fields = { claims, vips };
  return {
    status: { ...fields, conditions: build(existing, [input], now) },
    fingerprint: fingerprint(fields, [input]),
  };
}
