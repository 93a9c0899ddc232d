// client-go's workqueue metrics for kube-lb's work queues, under client-go's own names and with its `name` label,
// so the dashboards and alerts written for Kubernetes controllers work unchanged: workqueue_depth,
// workqueue_adds_total, workqueue_queue_duration_seconds and workqueue_retries_total
// (k8s.io/component-base/metrics/prometheus/workqueue). Fed by WorkQueue's metrics port.
import type { Registry } from 'prom-client';
import { metricsOn } from '../shared/metrics.ts';
import type { WorkQueueMetrics } from './workqueue.ts';

/** client-go's buckets: 10 ns to 10 s, ten powers of ten. */
const QUEUE_DURATION_BUCKETS = Array.from({ length: 10 }, (_, i) => 1e-8 * 10 ** i);

/** The metrics of the queue called `name`; several queues in one registry share the series, told apart by label. */
export function workQueueMetrics(registry: Registry, name: string): WorkQueueMetrics {
  const labels = { name };
  const m = metricsOn(registry);
  const depth = shared(registry, 'workqueue_depth', () =>
    m.gauge('workqueue_depth', 'Current depth of workqueue', ['name']),
  );
  const adds = shared(registry, 'workqueue_adds_total', () =>
    m.counter('workqueue_adds_total', 'Total number of adds handled by workqueue', ['name']),
  );
  const waited = shared(registry, 'workqueue_queue_duration_seconds', () =>
    m.histogram(
      'workqueue_queue_duration_seconds',
      'How long in seconds an item stays in workqueue before being requested.',
      ['name'],
      QUEUE_DURATION_BUCKETS,
    ),
  );
  const retries = shared(registry, 'workqueue_retries_total', () =>
    m.counter('workqueue_retries_total', 'Total number of retries handled by workqueue', ['name']),
  );
  // Every series exists from the start (0), so a queue that has not been used yet (a stand-by) is still visible.
  depth.set(labels, 0);
  adds.inc(labels, 0);
  waited.zero(labels);
  retries.inc(labels, 0);
  return {
    added: () => adds.inc(labels),
    depth: (keys) => depth.set(labels, keys),
    waited: (seconds) => waited.observe(labels, seconds),
    retried: () => retries.inc(labels),
  };
}

function shared<M>(registry: Registry, metric: string, create: () => M): M {
  return (registry.getSingleMetric(metric) as M | undefined) ?? create();
}
