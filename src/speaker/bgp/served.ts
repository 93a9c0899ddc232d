// Which VIPs this node may announce over BGP: those of claims it serves whose every frontend is programmed in
// this node's maps (the fingerprint it holds is the one planned) and that have a backend to send to (some
// port with a selected backend: under eTP Local, a healthy local endpoint). A VIP that stops qualifying is
// withdrawn from this node only; the router keeps sending its flows to the nodes that still announce it.
import type { ServedVip } from '../../core/bgp/plan.ts';
import type { SpeakerController } from '../controller.ts';
import type { L2Inputs } from '../l2/inputs.ts';

export function servedVips(controller: SpeakerController, view: Pick<L2Inputs, 'vips'>): ServedVip[] {
  const pools = new Map(view.vips().map((v) => [v.vip, v]));
  const programming = controller.programming();
  const out = new Map<string, ServedVip>();
  for (const c of controller.plan().claims.values()) {
    if (!c.serve || out.has(c.vip)) continue;
    if (programming.get(c.key)?.fingerprint !== c.fingerprint) continue;
    if (!c.ports.some((p) => p.backends.some((b) => b.selected))) continue;
    const pool = pools.get(c.vip);
    out.set(c.vip, { vip: c.vip, pool: pool?.pool ?? '', poolLabels: pool?.poolLabels ?? {} });
  }
  return [...out.values()];
}
