// The speaker's dataplane metrics beside the reconciler's own counters: how long each map pass takes, how
// many entries of each Cilium map are kube-lb's and Cilium's (read from the maps at scrape time, read-only,
// maglev tables excluded), and whether the node's Cilium configuration lets kube-lb serve at all.
import type { Registry } from 'prom-client';
import { REFUSAL_REASONS, type Servability } from '../core/cilium/config.ts';
import { classify } from '../core/dataplane/ownership.ts';
import type { Lb4Profile } from '../core/lb4/profile.ts';
import { mapEntryCounts } from '../core/metrics/map-entries.ts';
import { metricsOn } from '../shared/metrics.ts';
import { readSnapshot, type Lb4Maps } from './dataplane/maps.ts';
import type { PassResult } from './dataplane/reconciler.ts';

export interface DataplaneMetricsSource {
  /** The maps written now (they change when Cilium re-creates one); undefined while none is held. */
  readonly maps: () => Lb4Maps | undefined;
  readonly profile: Lb4Profile;
  /** Whether kube-lb can serve this node (core/cilium/config.ts); decided once at start. */
  readonly servability: Servability;
  onPass(listener: (result: PassResult) => void): () => void;
}

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function registerDataplaneMetrics(registry: Registry, source: DataplaneMetricsSource): () => void {
  const m = metricsOn(registry);
  const duration = m.histogram(
    'kube_lb_dataplane_pass_duration_seconds',
    'Time one map reconcile pass took (read every map, plan, apply), by result (ok, error).',
    ['result'],
    BUCKETS,
  );
  m.gauge(
    'kube_lb_dataplane_map_entries',
    "Entries in Cilium's lb4 maps (services, backends, revNat) by owner (kube-lb, other).",
    ['map', 'owner'],
    {
      collect() {
        const maps = source.maps();
        if (!maps) return;
        const snapshot = readSnapshot({ ...maps, maglev: undefined });
        for (const c of mapEntryCounts(snapshot, classify(snapshot, source.profile)))
          this.set({ map: c.map, owner: c.owner }, c.count);
      },
    },
  );
  const refused = m.gauge(
    'kube_lb_dataplane_refused',
    "1 when this node's Cilium configuration is one kube-lb cannot serve, by reason (CiliumKubeProxyReplacementOff, CiliumDSRMode, CiliumHybridMode); kube-lb then programs nothing here.",
    ['reason'],
  );
  // Every reason is exported (0 or 1), so an alert can be written before the first refusal.
  const s = source.servability;
  for (const reason of REFUSAL_REASONS) refused.set({ reason }, !s.ok && s.reason === reason ? 1 : 0);
  return source.onPass((r) => duration.observe({ result: r.error ? 'error' : 'ok' }, r.durationMs / 1000));
}
