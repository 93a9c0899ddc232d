// The agent's metrics, registered on the registry main creates. API requests are counted per cluster, method and
// resource straight from the API clients, so "how many writes did one Service change cost" is measurable.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ApiRequestInfo } from '../kube/api-client.ts';
import type { ConsumerCapabilities } from '../core/agent/capabilities.ts';

export type ApiCluster = 'consumer' | 'lb';

export interface AgentMetrics {
  apiRequest(cluster: ApiCluster, info: ApiRequestInfo): void;
  /** How long one write of a reconcile took, failed or not (finalizer, status, claim create/patch/delete). */
  writeDuration(cluster: ApiCluster, op: string, seconds: number): void;
  reconciled(reason: string): void;
  reconcileFailed(kind: 'transient' | 'rejected' | 'conflict'): void;
  heartbeat(ok: boolean, at: Date): void;
  leading(yes: boolean): void;
  eventDropped(): void;
  /** What the consumer cluster's Kubernetes keeps (src/core/agent/capabilities.ts). */
  consumerCapabilities(caps: ConsumerCapabilities): void;
}

export function createAgentMetrics(registry: Registry): AgentMetrics {
  const requests = new Counter({
    name: 'kube_lb_agent_api_requests_total',
    help: 'API requests sent, by cluster (consumer, lb), HTTP method and resource.',
    labelNames: ['cluster', 'method', 'resource'] as const,
    registers: [registry],
  });
  const writes = new Histogram({
    name: 'kube_lb_agent_write_duration_seconds',
    help: 'Duration of the API writes a reconcile waits for, by cluster and operation.',
    labelNames: ['cluster', 'op'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
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
  const dropped = new Counter({
    name: 'kube_lb_agent_events_dropped_total',
    help: 'Normal Events on Services not written because the Event backlog was full (status writes go first).',
    registers: [registry],
  });
  const leader = new Gauge({
    name: 'kube_lb_agent_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [registry],
  });
  const consumerInfo = new Gauge({
    name: 'kube_lb_agent_consumer_cluster_info',
    help: 'Always 1: the consumer cluster\'s Kubernetes version and whether it keeps ingress ipMode (ip_mode="false": in-cluster clients bypass kube-lb, docs/compatibility.md#ipmode).',
    labelNames: ['kubernetes_version', 'ip_mode'] as const,
    registers: [registry],
  });
  return {
    consumerCapabilities(caps) {
      consumerInfo.reset();
      consumerInfo.set({ kubernetes_version: caps.version, ip_mode: String(caps.ipMode) }, 1);
    },
    apiRequest: (cluster, info) => requests.inc({ cluster, method: info.method, resource: info.resource }),
    writeDuration: (cluster, op, seconds) => writes.observe({ cluster, op }, seconds),
    reconciled: (reason) => reconciles.inc({ reason }),
    reconcileFailed: (kind) => failures.inc({ kind }),
    heartbeat(ok, at) {
      heartbeats.inc({ result: ok ? 'ok' : 'failed' });
      if (ok) lastHeartbeat.set(at.getTime() / 1000);
    },
    leading: (yes) => leader.set(yes ? 1 : 0),
    eventDropped: () => dropped.inc(),
  };
}
