// Counts for the inventory gauges (pool usage, claims by condition, tenant VIPs and heartbeats), computed from
// the objects a program already caches. Pure: the metrics module turns them into gauges at scrape time.
import {
  CLAIM_CONDITIONS,
  type ConditionStatus,
  type ConsumerCluster,
  type VIPClaim,
  type VIPPool,
} from '../../api/v1alpha1.ts';

export interface PoolUsage {
  pool: string;
  capacity: number;
  allocated: number;
}

export interface ClaimConditionCount {
  tenant: string;
  condition: string;
  status: ConditionStatus;
  count: number;
}

export interface TenantUsage {
  tenant: string;
  vips: number;
  /** Seconds since the epoch of the agent's last heartbeat, or undefined when it never reported. */
  heartbeatSeconds: number | undefined;
}

export function poolUsage(pools: readonly VIPPool[]): PoolUsage[] {
  return pools.map((p) => ({
    pool: p.metadata.name ?? '',
    capacity: p.status?.capacity ?? 0,
    allocated: p.status?.allocated ?? 0,
  }));
}

/** Every claim counts once per condition type; a condition not reported yet counts as Unknown. */
export function claimConditionCounts(claims: readonly VIPClaim[]): ClaimConditionCount[] {
  const counts = new Map<string, ClaimConditionCount>();
  for (const c of claims) {
    const tenant = c.spec.service.cluster;
    for (const condition of Object.values(CLAIM_CONDITIONS)) {
      const status = c.status?.conditions?.find((x) => x.type === condition)?.status ?? 'Unknown';
      const key = `${tenant}\0${condition}\0${status}`;
      const entry = counts.get(key) ?? { tenant, condition, status, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
  }
  return [...counts.values()];
}

export function tenantUsage(tenants: readonly ConsumerCluster[]): TenantUsage[] {
  return tenants.map((t) => {
    const at = t.status?.lastHeartbeatTime ? Date.parse(t.status.lastHeartbeatTime) : Number.NaN;
    return {
      tenant: t.metadata.name ?? '',
      vips: t.status?.vips ?? 0,
      heartbeatSeconds: Number.isNaN(at) ? undefined : at / 1000,
    };
  });
}
