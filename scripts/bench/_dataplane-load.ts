// Preloaded into each L2 speaker of the failover benchmark's load phase (node --import): the speaker's main
// thread also runs the dataplane reconciler, as the full speaker does, over 10k services × 10 backends, in a
// loop with no pause: a full program of changed backends, then a prune of every service entry (what Cilium's
// housekeeping does) and its repair, again and again. Heartbeats and failure detection must stay sound
// meanwhile. Maps: Cilium-shaped, created by the benchmark under $KUBE_LB_BENCH_LOAD_DIR/<node name>, apart
// from the maps the test datapath serves the VIPs from. Progress: $KUBE_LB_BENCH_LOAD_OUT/load-<node>.json after
// every pass, and load-<node>.error if it failed (a bpffs holds no regular files).
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchFrontends } from './_frontends.ts';
import type { DesiredFrontend } from '../../src/core/dataplane/frontend.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { openLb4Maps } from '../../src/speaker/dataplane/native-maps.ts';
import { DataplaneReconciler } from '../../src/speaker/dataplane/reconciler.ts';

const SERVICES = 10_000;
const BACKENDS = 10;
const START_AFTER_MS = 5000;

/** Every other round moves every backend's port: the next pass re-plans and rewrites everything. */
const desired = (round: number): DesiredFrontend[] => benchFrontends(SERVICES, BACKENDS, 30080 + (round % 2));

const base = process.env.KUBE_LB_BENCH_LOAD_DIR;
const out = process.env.KUBE_LB_BENCH_LOAD_OUT;
const at = process.argv.indexOf('--node-name');
const node = at === -1 ? undefined : process.argv[at + 1];
if (base && out && node) {
  const failed = (err: unknown): never => {
    writeFileSync(join(out, `load-${node}.error`), String((err as Error).stack ?? err));
    throw err;
  };
  try {
    startLoad(join(base, node), join(out, `load-${node}.json`), failed);
  } catch (err) {
    failed(err);
  }
}

function startLoad(dir: string, progress: string, failed: (err: unknown) => never): void {
  const opened = openLb4Maps({ dir, ciliumVersion: '1.18' });
  const reconciler = new DataplaneReconciler({
    maps: opened.maps,
    profile: opened.profile,
    logger: createLogger({ program: 'load', level: 'silent' }),
  });
  const durations: number[] = [];
  let round = 0;
  const pass = (): void => {
    try {
      onePass();
    } catch (err) {
      failed(err);
    }
    setImmediate(pass); // the event loop turns between passes, as between the full speaker's
  };
  const onePass = (): void => {
    if (round % 2 === 0) reconciler.setDesired(desired(round / 2));
    else {
      const services = opened.maps.services;
      services.remove(services.dump()); // a prune: every service entry gone at once
    }
    const r = reconciler.reconcileOnce();
    if (r.error) throw r.error;
    durations.push(r.durationMs);
    round++;
    const sorted = [...durations].sort((a, b) => a - b);
    // Whole or not at all: the benchmark reads it meanwhile.
    writeFileSync(
      `${progress}.tmp`,
      JSON.stringify({
        passes: round,
        pass_ms_p50: sorted[Math.floor(sorted.length / 2)],
        pass_ms_max: sorted[sorted.length - 1],
        last_written: r.absent + r.changed,
      }),
    );
    renameSync(`${progress}.tmp`, progress);
  };
  // Started once the speaker itself is up: a pass between every turn of the event loop would stretch the loading
  // of its modules (many turns) over minutes.
  setTimeout(pass, START_AFTER_MS);
}
