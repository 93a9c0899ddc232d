// The allocator's metrics, registered on the registry main creates (no globals).
import type { Registry } from 'prom-client';
import type { ApiRequestInfo } from '../kube/api-client.ts';
import { metricsOn } from '../shared/metrics.ts';

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
  const m = metricsOn(registry);
  const requests = m.counter(
    'kube_lb_allocator_api_requests_total',
    'API requests sent, by HTTP method and resource.',
    ['method', 'resource'],
  );
  const decisions = m.counter(
    'kube_lb_allocator_decisions_total',
    'Allocation decisions whose outcome was written, by kind (allocated, held, refused) and Allocated reason.',
    ['kind', 'reason'],
  );
  const writes = m.counter('kube_lb_allocator_status_writes_total', 'Status writes, by object kind and result.', [
    'kind',
    'result',
  ]);
  const vips = m.gauge('kube_lb_allocator_vips', 'Distinct VIPs held by claims.');
  const pending = m.gauge(
    'kube_lb_allocator_pending_claims',
    'Claims waiting for capacity or a fix (refused, or held with a change not applied).',
  );
  const leader = m.gauge('kube_lb_allocator_leader', '1 while this replica holds the leader Lease.');
  const admissions = m.counter(
    'kube_lb_allocator_admission_reviews_total',
    'Admission reviews answered by the webhook, by object kind and verdict.',
    ['kind', 'verdict'],
  );
  const dropped = m.counter(
    'kube_lb_allocator_events_dropped_total',
    'Normal Events not written because the Event backlog was full (a burst of decisions); Warnings are never dropped.',
  );
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
