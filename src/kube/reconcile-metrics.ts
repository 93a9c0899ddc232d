// Reconcile latency, the same way in every program: a histogram of how long one work-queue handler run took, by
// its closed result (done, retry, requeueAfter). Fed by WorkQueue's onProcessed hook.
import type { Registry } from 'prom-client';
import { metricsOn } from '../shared/metrics.ts';
import type { HandlerResult } from './workqueue.ts';

/** Buckets from 1 ms to 10 s: an in-cache decision is sub-millisecond, an API write tens of milliseconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function reconcileDurationObserver(
  registry: Registry,
  program: 'allocator' | 'agent',
): (key: string, result: HandlerResult, durationMs: number) => void {
  const histogram = metricsOn(registry).histogram(
    `kube_lb_${program}_reconcile_duration_seconds`,
    'Time one reconcile of one key took, by result (done, retry, requeueAfter).',
    ['result'],
    BUCKETS,
  );
  return (_key, result, durationMs) => histogram.observe({ result: result.kind }, durationMs / 1000);
}
