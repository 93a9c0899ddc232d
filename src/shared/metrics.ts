// Each program owns one prom-client Registry, created in main and passed to the parts that record metrics;
// no module-level metric objects. Names are listed in docs/metrics.md.
// The runtime's own metrics keep their standard names (process_cpu_seconds_total, process_resident_memory_bytes,
// nodejs_eventloop_lag_seconds, …), as every Prometheus client library exports them and dashboards expect; the
// `program` label says whose they are. (A prefix of kube_lb_process_ once made process_process_… names.)
import { Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(program: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ program });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export { Registry };
