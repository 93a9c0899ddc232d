// What a speaker keeps of each claim it caches. A speaker programs what the allocator approved
// (status.approved, core/allocation/approval.ts), never the spec, so the spec's ports and backends (up to 100 ×
// 5,000 entries per claim, the same again in the approval) are dropped before the claim enters the cache: every
// LB node caches every claim, and a tenant editing its spec ahead of the allocator then costs the LB nodes nothing.
// Safe for writes: a speaker writes status only (PUT on the status subresource, which ignores the spec).
import type { VIPClaim } from '../api/v1alpha1.ts';

const NONE: never[] = [];

export function trimClaimSpec<T extends VIPClaim>(claim: T): T {
  const spec = claim.spec;
  if (!spec || ((spec.ports?.length ?? 0) === 0 && (spec.backends?.length ?? 0) === 0)) return claim;
  // A claim allocated before approvals existed is served from its spec until the allocator approves it.
  if (!claim.status?.approved) return claim;
  // Rebuilt rather than deleted from (src/kube/trim.ts on V8's dictionary-mode objects); one shared empty list.
  claim.spec = { ...spec, ports: NONE, backends: NONE };
  return claim;
}
