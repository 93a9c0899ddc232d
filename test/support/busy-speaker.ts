// A speaker's two busiest halves in one process, for the heartbeat test under load: a heartbeat channel and a
// dataplane reconciler that programs 10k Services × 10 backends into Cilium-shaped maps and removes them again,
// `rounds` times, each pass blocking the main thread for hundreds of milliseconds. It prints one JSON line with
// the pass durations when done, and waits to be killed.
// Usage: busy-speaker.ts MAP_DIR PORT PEER_PORT ROUNDS
import type { DesiredFrontend } from '../../src/core/dataplane/frontend.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { openLb4Maps } from '../../src/speaker/dataplane/native-maps.ts';
import { DataplaneReconciler } from '../../src/speaker/dataplane/reconciler.ts';
import { ProbeChannel } from '../../src/speaker/l2/probes.ts';

const [dir, port, peerPort, rounds] = process.argv.slice(2);
const logger = createLogger({ program: 'busy-speaker', level: 'silent' });
const probes = new ProbeChannel({
  nodeName: 'busy',
  bindAddress: '127.0.0.1',
  port: Number(port),
  intervalMs: 100,
  timeoutMs: 500,
  logger,
});
await probes.start();
probes.setPeers([{ name: 'judge', host: '127.0.0.1', port: Number(peerPort) }]);

const desired: DesiredFrontend[] = Array.from({ length: 10_000 }, (_, i) => ({
  vip: `10.128.${i >> 8}.${i & 255}`,
  port: 80,
  protocol: 'TCP',
  backends: Array.from({ length: 10 }, (_, j) => ({ address: `10.${64 + j}.${i >> 8}.${i & 255}`, port: 30080 })),
}));
const opened = openLb4Maps({ dir: dir!, ciliumVersion: '1.18' });
const reconciler = new DataplaneReconciler({ maps: opened.maps, profile: opened.profile, logger });
await new Promise((r) => setTimeout(r, 500));
const passes: number[] = [];
for (let i = 0; i < Number(rounds); i++) {
  for (const d of [desired, []]) {
    reconciler.setDesired(d);
    const pass = reconciler.reconcileOnce();
    if (pass.error) throw pass.error;
    passes.push(Math.round(pass.durationMs));
    // A breath between passes, as a running speaker has (its period), so the event loop turns.
    await new Promise((r) => setTimeout(r, 20));
  }
}
process.stdout.write(`${JSON.stringify({ passes })}\n`);
await new Promise(() => undefined);
