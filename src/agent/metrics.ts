// The agent's metrics, registered on the registry main creates. API requests are counted per cluster, method and
// resource straight from the API clients, so "how many writes did one Service change cost" is measurable.
import type { Registry } from 'prom-client';
import type { ApiRequestInfo } from '../kube/api-client.ts';
import type { ConsumerCapabilities } from '../core/agent/capabilities.ts';
import { metricsOn } from '../shared/metrics.ts';

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
  const m = metricsOn(registry);
  const requests = m.counter(
    'kube_lb_agent_api_requests_total',
    'API requests sent, by cluster (consumer, lb), HTTP method and resource.',
    ['cluster', 'method', 'resource'],
  );
  const writes = m.histogram(
    'kube_lb_agent_write_duration_seconds',
    'Duration of the API writes a reconcile waits for, by cluster and operation.',
    ['cluster', 'op'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  const reconciles = m.counter(
    'kube_lb_agent_reconciles_total',
    'Service reconciles, by the plan reason (Create, Update, InSync, Deleting, Refused, ...).',
    ['reason'],
  );
  const failures = m.counter(
    'kube_lb_agent_reconcile_failures_total',
    'Reconciles that stopped on an API error: transient (retried with backoff), rejected (shown on the Service), conflict.',
    ['kind'],
  );
  const heartbeats = m.counter('kube_lb_agent_heartbeats_total', 'ConsumerCluster heartbeats, by result.', ['result']);
  const lastHeartbeat = m.gauge(
    'kube_lb_agent_last_heartbeat_success_timestamp_seconds',
    'When the LB cluster last accepted a heartbeat: a stale value means the LB cluster is unreachable.',
  );
  const dropped = m.counter(
    'kube_lb_agent_events_dropped_total',
    'Normal Events on Services not written because the Event backlog was full (status writes go first).',
  );
  const leader = m.gauge('kube_lb_agent_leader', '1 while this replica holds the leader Lease.');
  const consumerInfo = m.gauge(
    'kube_lb_agent_consumer_cluster_info',
    'Always 1: the consumer cluster\'s Kubernetes version and whether it keeps ingress ipMode (ip_mode="false": in-cluster clients bypass kube-lb, docs/compatibility.md#ipmode).',
    ['kubernetes_version', 'ip_mode'],
  );
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
