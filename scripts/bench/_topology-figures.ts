// Figures measured on a running topology (lab/topology.ts), shared by the e2e and cilium benchmarks.
import { eventually, type Topology } from '../../lab/topology.ts';

export function intFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? undefined : Number(process.argv[i + 1]);
  return v !== undefined && Number.isInteger(v) && v > 0 ? v : fallback;
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const round = (n: number): number => Math.round(n * 10) / 10;
export const log = (line: string): void => void process.stderr.write(`${line}\n`);

export async function createToTraffic(
  topo: Topology,
  count: number,
): Promise<{ traffic: number[]; externalIp: number[]; vips: string[] }> {
  const traffic: number[] = [];
  const externalIp: number[] = [];
  const vips: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `svc-${String(i).padStart(3, '0')}`;
    const t0 = performance.now();
    await topo.createService('c1', name, [{ name: 'http', protocol: 'TCP', port: 80 }], {}, { waitProxied: false });
    const vip = await topo.waitExternalIP('c1', name, 60_000, 10);
    const t1 = performance.now();
    await topo.requestUntilOk('tcp', vip, 80, 60_000, 200);
    const t2 = performance.now();
    externalIp.push(t1 - t0);
    traffic.push(t2 - t0);
    vips.push(vip);
    log(`${name} ${vip}: EXTERNAL-IP after ${Math.round(t1 - t0)} ms, first answer after ${Math.round(t2 - t0)} ms`);
  }
  return { traffic, externalIp, vips };
}

export async function failoverRun(topo: Topology, vip: string): Promise<number> {
  const owner = await eventually('an agreed owner', () => topo.announcedOwner(vip), 60_000, 100);
  await eventually(
    `traffic through ${owner}`,
    async () => {
      // eTP Cluster: kube-proxy masquerades, so the pod cannot name the LB node; the client's ARP entry does.
      const r = await topo.request('tcp', vip, 80, 500);
      return r.ok && (await topo.arpOwner(vip)) === owner;
    },
    60_000,
    100,
  );
  const crashed = performance.now();
  await topo.crashNode(owner);
  await topo.requestUntilOk('tcp', vip, 80, 60_000, 100);
  const gap = performance.now() - crashed;
  log(`failover: ${owner} died, first answer after ${Math.round(gap)} ms`);
  await topo.reviveNode(owner);
  topo.startSpeaker(owner);
  await topo.waitSpeakerReady(owner);
  await eventually(
    'three live speakers',
    async () => (await topo.speakerState(owner)).live.length === topo.lbNodes.length,
    60_000,
    200,
  );
  return gap;
}

/**
 * Only the owner's speaker dies (SIGKILL), its node keeps forwarding: the client keeps sending to it until the new
 * owner's gratuitous ARP arrives, and both nodes hold the same entries, so no request should fail.
 */
export async function speakerKill(topo: Topology, vip: string): Promise<{ ok: number; fail: number }> {
  const owner = await eventually('an agreed owner', () => topo.announcedOwner(vip), 60_000, 100);
  await topo.startLoop('tcp', vip, 80, 20, 1000);
  await eventually('the loop runs', async () => (await topo.loop()).ok >= 10, 30_000, 100);
  await topo.killSpeaker(owner);
  await eventually(
    'another node owns the VIP',
    async () => {
      const o = await topo.announcedOwner(vip);
      return o !== undefined && o !== owner;
    },
    60_000,
    100,
  );
  const at = await topo.loop();
  await eventually('100 more requests', async () => (await topo.loop()).ok >= at.ok + 100, 60_000, 100);
  const tally = await topo.stopLoop();
  log(`speaker of ${owner} killed: ${tally.fail} of ${tally.ok + tally.fail} requests failed`);
  topo.startSpeaker(owner);
  await topo.waitSpeakerReady(owner);
  await eventually(
    'three live speakers',
    async () => (await topo.speakerState(owner)).live.length === topo.lbNodes.length,
    60_000,
    200,
  );
  return { ok: tally.ok, fail: tally.fail };
}
