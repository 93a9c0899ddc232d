// What the allocator keeps of each object it caches. Every replica caches every claim of the LB cluster (50,000
// in a large one), so what a claim costs in memory is what the allocator costs. Besides server-side apply's
// managedFields (src/kube/trim.ts), a claim's status carries what the speakers write: programmedNodes,
// announcedBy and per-backend health, which nothing in the allocator reads (decisions read the spec, status.vip,
// status.pool and the conditions; the inventory metrics count conditions of every type, so those stay).
// Status writes apply only the allocator's own fields (status-writer.ts), so nothing trimmed here is ever
// written back or removed on the server.
//
// status.approved is a second copy of the spec's ports and backends (approval.ts), which the allocator reads only
// through its digest (is the approval current?). When it is current, nearly always, the cached copy points at the
// spec's own arrays and costs nothing; a spec ahead of it lasts until the leader decides again, and a VIP only
// reserved is approved with empty lists. So the copy stays a valid VIPClaim, at no memory cost worth a digest field.
import type { VIPClaim } from '../api/v1alpha1.ts';
import { sameProgrammed } from '../core/allocation/approval.ts';
import { stripManagedFields } from '../kube/trim.ts';

export function trimClaim<T extends VIPClaim>(claim: T): T {
  stripManagedFields(claim);
  const status = claim.status;
  if (
    status &&
    (status.programmedNodes !== undefined || status.announcedBy !== undefined || status.backendHealth !== undefined)
  ) {
    // Rebuilt rather than deleted from: see trim.ts on V8's dictionary-mode objects.
    const { programmedNodes: _nodes, announcedBy: _announcer, backendHealth: _health, ...kept } = status;
    claim.status = kept;
  }
  const approved = claim.status?.approved;
  if (approved && claim.spec && sameProgrammed(approved, claim.spec)) {
    claim.status = {
      ...claim.status,
      approved: { ...approved, ports: claim.spec.ports, backends: claim.spec.backends },
    };
  }
  return claim;
}

/** Pools and tenants: few and small, but their managedFields go too. */
export const trimConfig = stripManagedFields;
