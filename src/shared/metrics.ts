// Each program owns one prom-client Registry, created in main and passed to the parts that record metrics;
// no module-level metric objects. Names are listed in docs/metrics.md.
// The runtime's own metrics keep their standard names (process_cpu_seconds_total, process_resident_memory_bytes,
// nodejs_eventloop_lag_seconds, …), as every Prometheus client library exports them and dashboards expect; the
// `program` label says whose they are. (A prefix of kube_lb_process_ once made process_process_… names.)
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(program: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ program });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** What a declaration may add: a callback run at scrape time, `this` being the metric. */
export interface MetricOptions<M> {
  readonly collect?: (this: M) => void | Promise<void>;
}

// The one way to declare a metric: on the registry given (never the global one), label names checked from the tuple.
export function metricsOn(registry: Registry) {
  const registers = [registry];
  return {
    counter: <const L extends string = never>(
      name: string,
      help: string,
      labelNames: readonly L[] = [],
      options: MetricOptions<Counter<L>> = {},
    ): Counter<L> => new Counter({ name, help, labelNames, registers, ...options }),
    gauge: <const L extends string = never>(
      name: string,
      help: string,
      labelNames: readonly L[] = [],
      options: MetricOptions<Gauge<L>> = {},
    ): Gauge<L> => new Gauge({ name, help, labelNames, registers, ...options }),
    histogram: <const L extends string = never>(
      name: string,
      help: string,
      labelNames: readonly L[],
      buckets: readonly number[],
      options: MetricOptions<Histogram<L>> = {},
    ): Histogram<L> => new Histogram({ name, help, labelNames, buckets: [...buckets], registers, ...options }),
  };
}

export { Registry };
