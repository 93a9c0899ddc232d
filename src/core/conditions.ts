// Kubernetes-style status conditions, pure: upsert by type keeping lastTransitionTime when the status holds.
import type { Condition, ConditionStatus } from '../api/v1alpha1.ts';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
}

/** Returns a new list; `now` is passed in so the function stays pure. */
export function setCondition(existing: readonly Condition[] | undefined, next: ConditionInput, now: Date): Condition[] {
  const list = [...(existing ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i === -1 ? undefined : list[i];
  const lastTransitionTime =
    prev && prev.status === next.status ? prev.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const cond: Condition = { ...next, lastTransitionTime };
  if (cond.observedGeneration === undefined) delete cond.observedGeneration;
  if (i === -1) list.push(cond);
  else list[i] = cond;
  return list;
}

export function findCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}

/** True when applying `next` would change nothing but timestamps: lets callers skip a status write. */
export function conditionUnchanged(list: readonly Condition[] | undefined, next: ConditionInput): boolean {
  const c = findCondition(list, next.type);
  return (
    c !== undefined &&
    c.status === next.status &&
    c.reason === next.reason &&
    c.message === next.message &&
    (next.observedGeneration === undefined || c.observedGeneration === next.observedGeneration)
  );
}
