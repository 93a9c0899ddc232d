// Inventory gauges of the allocator, read from its informer caches at scrape time (no timers, no API calls):
// pool usage, claims by condition, VIPs per tenant and each tenant's last agent heartbeat. Every replica exports
// them (the caches are warm on followers too); aggregate with max() across replicas.
import type { Registry } from 'prom-client';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../api/v1alpha1.ts';
import { claimConditionCounts, poolUsage, tenantUsage } from '../core/metrics/inventory.ts';
import { metricsOn } from '../shared/metrics.ts';

export interface InventorySource {
  pools(): readonly VIPPool[];
  tenants(): readonly ConsumerCluster[];
  claims(): readonly VIPClaim[];
}

export function registerInventoryMetrics(registry: Registry, source: InventorySource): void {
  const m = metricsOn(registry);
  m.gauge(
    'kube_lb_pool_addresses',
    'Addresses of each VIPPool, by state: capacity (usable addresses) and allocated (distinct VIPs handed out).',
    ['pool', 'state'],
    {
      collect() {
        this.reset();
        for (const p of poolUsage(source.pools())) {
          this.set({ pool: p.pool, state: 'capacity' }, p.capacity);
          this.set({ pool: p.pool, state: 'allocated' }, p.allocated);
        }
      },
    },
  );
  m.gauge(
    'kube_lb_claims',
    'VIPClaims by tenant, condition (Allocated, Programmed, Announced, BackendsHealthy) and its status.',
    ['tenant', 'condition', 'status'],
    {
      collect() {
        this.reset();
        for (const c of claimConditionCounts(source.claims()))
          this.set({ tenant: c.tenant, condition: c.condition, status: c.status }, c.count);
      },
    },
  );
  m.gauge('kube_lb_tenant_vips', 'Distinct VIPs each tenant (ConsumerCluster) holds.', ['tenant'], {
    collect() {
      this.reset();
      for (const t of tenantUsage(source.tenants())) this.set({ tenant: t.tenant }, t.vips);
    },
  });
  m.gauge(
    'kube_lb_tenant_last_heartbeat_timestamp_seconds',
    "When each tenant's agent last reported (ConsumerCluster status); absent until it first does.",
    ['tenant'],
    {
      collect() {
        this.reset();
        for (const t of tenantUsage(source.tenants()))
          if (t.heartbeatSeconds !== undefined) this.set({ tenant: t.tenant }, t.heartbeatSeconds);
      },
    },
  );
}
