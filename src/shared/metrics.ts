// Each program owns one prom-client Registry, created in main and passed to the parts that record metrics;
// no module-level metric objects. Names are listed in docs/metrics.md.
import { Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(program: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ program });
  collectDefaultMetrics({ register: registry, prefix: 'kube_lb_process_' });
  return registry;
}

export { Registry };
