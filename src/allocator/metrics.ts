// The allocator's metrics, registered on the registry main creates (no globals).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ApiRequestInfo } from '../kube/api-client.ts';

export interface AllocatorMetrics {
  apiRequest(info: ApiRequestInfo): void;
  decided(kind: 'allocated' | 'held' | 'refused', reason: string): void;
  statusWrite(kind: string, result: 'ok' | 'gone' | 'failed'): void;
  state(vips: number, pending: number): void;
  leading(yes: boolean): void;
  admission(kind: string, allowed: boolean): void;
  eventDropped(): void;
}

export function createAllocatorMetrics(registry: Registry): AllocatorMetrics {
  const requests = new Counter({
    name: 'kube_lb_allocator_api_requests_total',
    help: 'API requests sent, by HTTP method and resource.',
    labelNames: ['method', 'resource'] as const,
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'kube_lb_allocator_decisions_total',
    help: 'Allocation decisions whose outcome was written, by kind (allocated, held, refused) and Allocated reason.',
    labelNames: ['kind', 'reason'] as const,
    registers: [registry],
  });
  const writes = new Counter({
    name: 'kube_lb_allocator_status_writes_total',
    help: 'Status writes, by object kind and result.',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  const vips = new Gauge({
    name: 'kube_lb_allocator_vips',
    help: 'Distinct VIPs held by claims.',
    registers: [registry],
  });
  const pending = new Gauge({
    name: 'kube_lb_allocator_pending_claims',
    help: 'Claims waiting for capacity or a fix (refused, or held with a change not applied).',
    registers: [registry],
  });
  const leader = new Gauge({
    name: 'kube_lb_allocator_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [registry],
  });
  const admissions = new Counter({
    name: 'kube_lb_allocator_admission_reviews_total',
    help: 'Admission reviews answered by the webhook, by object kind and verdict.',
    labelNames: ['kind', 'verdict'] as const,
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'kube_lb_allocator_events_dropped_total',
    help: 'Normal Events not written because the Event backlog was full (a burst of decisions); Warnings are never dropped.',
    registers: [registry],
  });
  return {
    eventDropped: () => dropped.inc(),
    apiRequest: (info) => requests.inc({ method: info.method, resource: info.resource }),
    decided: (kind, reason) => decisions.inc({ kind, reason }),
    statusWrite: (kind, result) => writes.inc({ kind, result }),
    state(v, p) {
      vips.set(v);
      pending.set(p);
    },
    leading: (yes) => leader.set(yes ? 1 : 0),
    admission: (kind, allowed) => admissions.inc({ kind, verdict: allowed ? 'allowed' : 'denied' }),
  };
}
