// The agent's reconcile decision for one Service key, pure: everything it knows in, a plan of writes out, with a
// reason. The edge (src/agent/reconciler.ts) runs the plan in a fixed order: add finalizer, delete claims, write
// the claim, write the Service status, record Events, remove the finalizer; it stops at the first failure, so a
// finalizer is never removed before its claim is gone and a status is never written from a failed request.
import type { VIPClaim } from '../../api/v1alpha1.ts';
import type { ConditionInput } from '../conditions.ts';
import type { ConsumerCapabilities } from './capabilities.ts';
import { desiredClaim, type ClaimContext } from './desired.ts';
import { FINALIZER, claimName } from './naming.ts';
import { selectService, type SelectionPolicy } from './selection.ts';
import {
  SERVICE_CONDITIONS,
  decideServiceStatus,
  releasedServiceStatus,
  type ServiceEvent,
  type StatusDecision,
} from './status.ts';
import type { EndpointSliceView, NodeView, ServiceStatusView, ServiceView } from './views.ts';

export interface AgentIdentity extends ClaimContext, SelectionPolicy {}

export interface PlanInput {
  namespace: string;
  name: string;
  /** From the consumer cluster's cache; undefined when the Service does not exist. */
  service: ServiceView | undefined;
  /** Claims in the tenant namespace that stand for this Service (normally one, named claimName()). */
  claims: readonly VIPClaim[];
  nodes: readonly NodeView[];
  /** The Service's EndpointSlices. */
  slices: readonly EndpointSliceView[];
  identity: AgentIdentity;
  /** The LB API refused this exact claim recently (schema or webhook): do not resend it yet. */
  rejection?: { digest: string; message: string } | undefined;
  /** What the consumer cluster's Kubernetes keeps (capabilities.ts). */
  cluster: ConsumerCapabilities;
  now: Date;
}

export type PlanReason =
  | 'Nothing'
  | 'ServiceGone'
  | 'NotOurs'
  | 'Released'
  | 'Deleting'
  | 'Refused'
  | 'Rejected'
  | 'ServiceReplaced'
  | 'Create'
  | 'Update'
  | 'InSync';

export type ClaimWrite =
  | { op: 'none' }
  | { op: 'create'; claim: VIPClaim; digest: string }
  /**
   * A JSON Patch (RFC 6902) that replaces the whole spec and sets our labels. Not a PUT of the cached object: the
   * allocator and speakers write the claim's status all the time, so a cached resourceVersion is often stale and
   * a PUT would conflict (an extra round trip per change) or, without it, drop metadata others added. The spec is
   * the agent's alone (one leader), so replacing it needs no precondition.
   */
  | { op: 'patch'; name: string; patch: JsonPatchOp[]; digest: string; changed: string[] };

export interface JsonPatchOp {
  op: 'add' | 'replace';
  path: string;
  value: unknown;
}

export interface ServicePlan {
  reason: PlanReason;
  addFinalizer: boolean;
  /** Claim names to delete (404 is success). */
  deleteClaims: string[];
  write: ClaimWrite;
  /** Undefined: no status write. */
  status: ServiceStatusView | undefined;
  events: ServiceEvent[];
  removeFinalizer: boolean;
}

const nothing = (reason: PlanReason): ServicePlan => ({
  reason,
  addFinalizer: false,
  deleteClaims: [],
  write: { op: 'none' },
  status: undefined,
  events: [],
  removeFinalizer: false,
});

export function planService(input: PlanInput): ServicePlan {
  const { service: svc, identity } = input;
  const name = claimName(input.namespace, input.name);
  const cachedNames = input.claims.map((c) => c.metadata.name!).filter(Boolean);

  if (!svc) {
    return cachedNames.length > 0 ? { ...nothing('ServiceGone'), deleteClaims: cachedNames } : nothing('Nothing');
  }

  const hasFinalizer = svc.metadata?.finalizers?.includes(FINALIZER) === true;
  const current = input.claims.find((c) => c.metadata.name === name);
  // While we hold a finalizer the claim may exist even if the cache has not seen it yet: delete by name too.
  const toRelease = [...new Set([...cachedNames, ...(hasFinalizer ? [name] : [])])];
  const vip = current?.status?.vip;
  const released: ServiceEvent = {
    type: 'Normal',
    reason: 'VIPReleased',
    message: `VIPClaim ${identity.tenantNamespace}/${name} deleted${vip ? `, VIP ${vip} released` : ''}`,
  };

  if (svc.metadata?.deletionTimestamp) {
    if (toRelease.length === 0)
      return hasFinalizer ? { ...nothing('Deleting'), removeFinalizer: true } : nothing('Nothing');
    return {
      ...nothing('Deleting'),
      deleteClaims: toRelease,
      events: current ? [released] : [],
      removeFinalizer: hasFinalizer,
    };
  }

  const selection = selectService(svc, identity);
  if (!selection.ours) {
    if (!hasFinalizer && toRelease.length === 0) return nothing('NotOurs');
    const status = releasedServiceStatus(svc.status, vip);
    return {
      ...nothing('Released'),
      deleteClaims: toRelease,
      status: status.changed ? status.status : undefined,
      events: current
        ? [{ ...released, message: `${released.message} (Service no longer kube-lb's: ${selection.reason})` }]
        : [],
      removeFinalizer: hasFinalizer,
    };
  }

  const strays = cachedNames.filter((n) => n !== name);
  const base = { ...nothing('InSync'), addFinalizer: !hasFinalizer, deleteClaims: strays };
  const desired = desiredClaim(svc, input.nodes, input.slices, identity);
  const synced = (status: ConditionInput['status'], reason: string, message: string): ConditionInput => ({
    type: SERVICE_CONDITIONS.ClaimSynced,
    status,
    reason,
    message,
  });
  const withStatus = (plan: ServicePlan, decision: StatusDecision): ServicePlan => ({
    ...plan,
    status: decision.changed ? decision.status : undefined,
    events: [...plan.events, ...decision.events],
  });

  if (!desired.ok) {
    return withStatus(
      { ...base, reason: 'Refused' },
      decideServiceStatus(
        svc.status,
        current,
        synced('False', desired.reason, desired.message),
        input.now,
        input.cluster,
      ),
    );
  }

  if (current && current.spec.service.uid !== svc.metadata?.uid) {
    // The claim stands for an earlier Service of the same name (spec.service is immutable): replace it. The IP
    // shown stays until the new claim has a verdict.
    return { ...base, reason: 'ServiceReplaced', deleteClaims: [...strays, name] };
  }

  const digest = claimDigest(desired.claim);
  if (input.rejection && input.rejection.digest === digest) {
    return withStatus(
      { ...base, reason: 'Rejected' },
      decideServiceStatus(
        svc.status,
        current,
        synced('False', 'ClaimRejected', input.rejection.message),
        input.now,
        input.cluster,
      ),
    );
  }

  const ok = synced('True', 'Synced', `VIPClaim ${identity.tenantNamespace}/${name}`);
  if (!current) {
    return withStatus(
      {
        ...base,
        reason: 'Create',
        write: { op: 'create', claim: desired.claim, digest },
        events: [{ type: 'Normal', reason: 'ClaimCreated', message: `VIPClaim ${identity.tenantNamespace}/${name}` }],
      },
      decideServiceStatus(svc.status, undefined, ok, input.now, input.cluster),
    );
  }

  const changed = changedFields(current, desired.claim);
  if (changed.length === 0)
    return withStatus(base, decideServiceStatus(svc.status, current, ok, input.now, input.cluster));
  return withStatus(
    {
      ...base,
      reason: 'Update',
      write: { op: 'patch', name, patch: claimPatch(current, desired.claim), digest, changed },
      events: [
        {
          type: 'Normal',
          reason: 'ClaimUpdated',
          message: `VIPClaim ${identity.tenantNamespace}/${name}: ${changed.join(', ')} changed`,
        },
      ],
    },
    decideServiceStatus(svc.status, current, ok, input.now, input.cluster),
  );
}

/** Top-level spec fields (and "labels") whose content differs: empty when the claim needs no write. */
export function changedFields(current: VIPClaim, desired: VIPClaim): string[] {
  const keys = new Set([...Object.keys(current.spec ?? {}), ...Object.keys(desired.spec)]);
  const changed = [...keys]
    .filter(
      (k) =>
        canonical((current.spec as unknown as Record<string, unknown>)[k]) !==
        canonical((desired.spec as unknown as Record<string, unknown>)[k]),
    )
    .sort();
  const labels = current.metadata.labels ?? {};
  if (Object.entries(desired.metadata.labels ?? {}).some(([k, v]) => labels[k] !== v)) changed.push('labels');
  return changed;
}

/** Replace the spec; add or overwrite our labels, leaving others' labels alone. */
export function claimPatch(current: VIPClaim, desired: VIPClaim): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [{ op: 'replace', path: '/spec', value: desired.spec }];
  const want = desired.metadata.labels ?? {};
  const have = current.metadata.labels;
  if (!have) ops.push({ op: 'add', path: '/metadata/labels', value: want });
  else {
    for (const [k, v] of Object.entries(want)) {
      if (have[k] !== v)
        ops.push({ op: 'add', path: `/metadata/labels/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, value: v });
    }
  }
  return ops;
}

/** Identifies a desired claim (spec and labels), to remember which exact content the LB API refused. */
export function claimDigest(claim: VIPClaim): string {
  return canonical({ labels: claim.metadata.labels ?? {}, spec: claim.spec });
}

/** JSON with sorted keys and without undefined members, so equal content gives equal text. */
export function canonical(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
