// Inventory gauges of the allocator, read from its informer caches at scrape time (no timers, no API calls):
// pool usage, claims by condition, VIPs per tenant and each tenant's last agent heartbeat. Every replica exports
// them (the caches are warm on followers too); aggregate with max() across replicas.
import { Gauge, type Registry } from 'prom-client';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../api/v1alpha1.ts';
import { claimConditionCounts, poolUsage, tenantUsage } from '../core/metrics/inventory.ts';

export interface InventorySource {
  pools(): readonly VIPPool[];
  tenants(): readonly ConsumerCluster[];
  claims(): readonly VIPClaim[];
}

export function registerInventoryMetrics(registry: Registry, source: InventorySource): void {
  new Gauge({
    name: 'kube_lb_pool_addresses',
    help: 'Addresses of each VIPPool, by state: capacity (usable addresses) and allocated (distinct VIPs handed out).',
    labelNames: ['pool', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const p of poolUsage(source.pools())) {
        this.set({ pool: p.pool, state: 'capacity' }, p.capacity);
        this.set({ pool: p.pool, state: 'allocated' }, p.allocated);
      }
    },
  });
  new Gauge({
    name: 'kube_lb_claims',
    help: 'VIPClaims by tenant, condition (Allocated, Programmed, Announced, BackendsHealthy) and its status.',
    labelNames: ['tenant', 'condition', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of claimConditionCounts(source.claims()))
        this.set({ tenant: c.tenant, condition: c.condition, status: c.status }, c.count);
    },
  });
  new Gauge({
    name: 'kube_lb_tenant_vips',
    help: 'Distinct VIPs each tenant (ConsumerCluster) holds.',
    labelNames: ['tenant'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const t of tenantUsage(source.tenants())) this.set({ tenant: t.tenant }, t.vips);
    },
  });
  new Gauge({
    name: 'kube_lb_tenant_last_heartbeat_timestamp_seconds',
    help: "When each tenant's agent last reported (ConsumerCluster status); absent until it first does.",
    labelNames: ['tenant'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const t of tenantUsage(source.tenants()))
        if (t.heartbeatSeconds !== undefined) this.set({ tenant: t.tenant }, t.heartbeatSeconds);
    },
  });
}
