// The agent's metrics, registered on the registry main creates. API requests are counted per cluster, method and
// resource straight from the API clients, so "how many writes did one Service change cost" is measurable.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ApiRequestInfo } from '../kube/api-client.ts';

export type ApiCluster = 'consumer' | 'lb';

export interface AgentMetrics {
  apiRequest(cluster: ApiCluster, info: ApiRequestInfo): void;
  reconciled(reason: string): void;
  reconcileFailed(kind: 'transient' | 'rejected' | 'conflict'): void;
  heartbeat(ok: boolean, at: Date): void;
  leading(yes: boolean): void;
}

export function createAgentMetrics(registry: Registry): AgentMetrics {
  const requests = new Counter({
    name: 'kube_lb_agent_api_requests_total',
    help: 'API requests sent, by cluster (consumer, lb), HTTP method and resource.',
    labelNames: ['cluster', 'method', 'resource'] as const,
    registers: [registry],
  });
  const reconciles = new Counter({
    name: 'kube_lb_agent_reconciles_total',
    help: 'Service reconciles, by the plan reason (Create, Update, InSync, Deleting, Refused, ...).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'kube_lb_agent_reconcile_failures_total',
    help: 'Reconciles that stopped on an API error: transient (retried with backoff), rejected (shown on the Service), conflict.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const heartbeats = new Counter({
    name: 'kube_lb_agent_heartbeats_total',
    help: 'ConsumerCluster heartbeats, by result.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const lastHeartbeat = new Gauge({
    name: 'kube_lb_agent_last_heartbeat_success_timestamp_seconds',
    help: 'When the LB cluster last accepted a heartbeat: a stale value means the LB cluster is unreachable.',
    registers: [registry],
  });
  const leader = new Gauge({
    name: 'kube_lb_agent_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [registry],
  });
  return {
    apiRequest: (cluster, info) => requests.inc({ cluster, method: info.method, resource: info.resource }),
    reconciled: (reason) => reconciles.inc({ reason }),
    reconcileFailed: (kind) => failures.inc({ kind }),
    heartbeat(ok, at) {
      heartbeats.inc({ result: ok ? 'ok' : 'failed' });
      if (ok) lastHeartbeat.set(at.getTime() / 1000);
    },
    leading: (yes) => leader.set(yes ? 1 : 0),
  };
}
