// `npm run bench -- maps [--services N] [--backends N] [--trials N] [--bpftool-sample N]`
// Map programming speed of the dataplane reconciler on Cilium-shaped maps in a private bpffs, against two
// baselines measured in the same run on identical fresh maps:
//   - C doing raw bpf() updates of the same entries (one BPF_MAP_UPDATE_ELEM each; also one batch per map),
//   - one `bpftool map update` process per entry (sampled, then extrapolated).
// Then the reconciler runs at its default period and 10% of its Cilium entries are deleted at random, several
// times: how long until it has detected and repaired them. The last stdout line is one JSON object.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hex } from '../../src/core/lb4/bytes.ts';
import type { DesiredFrontend } from '../../src/core/dataplane/frontend.ts';
import { LB4_MAPS } from '../../src/core/lb4/maps.ts';
import { PROFILES } from '../../src/core/lb4/profile.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { parseConfig } from '../../src/shared/config.ts';
import { BpfMap } from '../../src/native/bpf.ts';
import { openLb4Maps } from '../../src/speaker/dataplane/native-maps.ts';
import { DataplaneReconciler, DEFAULT_RECONCILE_PERIOD_MS, type PassResult } from '../../src/speaker/dataplane/reconciler.ts';
import { mountBpffs } from '../../test/support/bpffs.ts';
import { createCiliumMaps } from '../../test/support/cilium-maps.ts';
import { Ledger } from '../../test/support/ledger.ts';
import { seededRandom } from '../../src/speaker/dataplane/faulty-maps.ts';

const here = dirname(fileURLToPath(import.meta.url));
const BASELINE = join(here, 'build', 'maps-baseline');
const options = parseConfig(
  {
    services: { kind: 'int', default: 10_000, min: 1, max: 60_000, help: 'services' },
    backends: { kind: 'int', default: 10, min: 1, max: 64, help: 'backends per service' },
    trials: { kind: 'int', default: 7, min: 1, help: 'repair trials' },
    'bpftool-sample': { kind: 'int', default: 150, min: 10, help: 'entries written with bpftool' },
  },
  process.argv.slice(2),
  {},
);
const S = options.services;
const B = options.backends;
const profile = PROFILES['1.18'];
const log = (msg: string): void => void process.stderr.write(`maps bench: ${msg}\n`);
const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round = (n: number): number => Math.round(n * 10) / 10;
const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;

/** The same services the C baseline writes: VIP 10.128.0.0+i:80/TCP, backends 10.(64+j).(i>>8).(i&255):30080. */
function desired(): DesiredFrontend[] {
  const out: DesiredFrontend[] = [];
  for (let i = 0; i < S; i++) {
    const vip = 0x0a800000 + i;
    out.push({
      vip: `10.${(vip >>> 16) & 255}.${(vip >>> 8) & 255}.${vip & 255}`,
      port: 80,
      protocol: 'TCP',
      backends: Array.from({ length: B }, (_, j) => ({ address: `10.${64 + j}.${(i >>> 8) & 255}.${i & 255}`, port: 30080 })),
    });
  }
  return out;
}

const ledger = Ledger.open('bench-maps');
const bpffs = mountBpffs(ledger, 'benchmaps');
const maxEntries = 1 << 18;
let sets = 0;
const freshMaps = (): string => {
  const dir = join(bpffs.dir, `set-${sets++}`);
  mkdirSync(dir);
  createCiliumMaps(dir, { profile, maxEntries });
  return dir;
};
const ciliumEntries = S * B * 2 + S * 2; // backends + slots + revNAT + masters

try {
  // 1. C, raw bpf(): one update per entry, then one batch per map.
  const c = (mode: 'single' | 'batch'): { entries: number; ms: number; cpu_ms: number } =>
    JSON.parse(execFileSync(BASELINE, [freshMaps(), String(S), String(B), mode], { encoding: 'utf8' })) as {
      entries: number;
      ms: number;
      cpu_ms: number;
    };
  const cSingle = c('single');
  log(`C single updates: ${cSingle.entries} entries in ${round(cSingle.ms)} ms (CPU ${round(cSingle.cpu_ms)} ms)`);
  const cBatch = c('batch');
  log(`C batch updates: ${cBatch.entries} entries in ${round(cBatch.ms)} ms (CPU ${round(cBatch.cpu_ms)} ms)`);

  // 2. The reconciler, from empty maps: normalize, read, plan, write (its own ID table included).
  const dir = freshMaps();
  const opened = openLb4Maps({ dir, ciliumVersion: '1.18' });
  const logger = createLogger({ program: 'bench', level: 'silent' });
  const reconciler = new DataplaneReconciler({ maps: opened.maps, profile: opened.profile, logger });
  const frontends = desired();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  reconciler.setDesired(frontends);
  const first = reconciler.reconcileOnce();
  const fullMs = performance.now() - t0;
  const fullCpuMs = cpuMs(process.cpuUsage(cpu0));
  if (first.error) throw first.error;
  log(
    `reconciler: ${first.absent} entries (${ciliumEntries} Cilium + ${first.absent - ciliumEntries} ID records) ` +
      `in ${round(fullMs)} ms (CPU ${round(fullCpuMs)} ms)`,
  );
  const steady: number[] = [];
  for (let i = 0; i < 5; i++) steady.push(reconciler.reconcileOnce().durationMs);
  log(`steady-state pass (re-read ${ciliumEntries} entries, nothing to do): p50 ${round(percentile(steady, 50))} ms`);

  // 3. bpftool, one process per entry, on a sample of the same entries.
  const sampleDir = freshMaps();
  const sample: Array<[string, Uint8Array, Uint8Array]> = [];
  for (const role of ['backends', 'services', 'revNat'] as const) {
    const m = BpfMap.open(join(dir, LB4_MAPS[role].name), { readOnly: true });
    const d = m.dump();
    m.close();
    const n = Math.min(d.count, Math.ceil(options['bpftool-sample'] / 3));
    for (let i = 0; i < n; i++) {
      sample.push([
        LB4_MAPS[role].name,
        d.keys.subarray(i * d.keySize, (i + 1) * d.keySize),
        d.values.subarray(i * d.valueSize, (i + 1) * d.valueSize),
      ]);
    }
  }
  const tb = performance.now();
  for (const [name, key, value] of sample) {
    execFileSync('bpftool', ['map', 'update', 'pinned', join(sampleDir, name), 'key', 'hex', ...hex(key).split(' '), 'value', 'hex', ...hex(value).split(' ')]);
  }
  const bpftoolMs = performance.now() - tb;
  log(`bpftool: ${sample.length} entries in ${round(bpftoolMs)} ms`);

  // 4. Repair: the reconciler at its default period; delete 10% of its Cilium entries at random.
  reconciler.start();
  const random = seededRandom(42);
  const repairMs: number[] = [];
  const repairCpuMs: number[] = [];
  for (let trial = 0; trial < options.trials; trial++) {
    await new Promise((r) => setTimeout(r, random() * DEFAULT_RECONCILE_PERIOD_MS));
    let deleted = 0;
    for (const role of ['backends', 'services', 'revNat'] as const) {
      const m = BpfMap.open(join(dir, LB4_MAPS[role].name));
      const d = m.dump();
      const keys = new Uint8Array(d.count * d.keySize);
      let n = 0;
      for (let i = 0; i < d.count; i++) {
        if (random() >= 0.1) continue;
        keys.set(d.keys.subarray(i * d.keySize, (i + 1) * d.keySize), n * d.keySize);
        n++;
      }
      deleted += m.deleteMany(keys, n);
      m.close();
    }
    const deletedAt = performance.now();
    let passCpu = 0;
    const pass = await new Promise<PassResult>((resolve) => {
      let before = process.cpuUsage();
      const off = reconciler.onPass((r) => {
        passCpu = cpuMs(process.cpuUsage(before));
        before = process.cpuUsage();
        if (r.absent > 0) {
          off();
          resolve(r);
        }
      });
    });
    const ms = performance.now() - deletedAt;
    repairCpuMs.push(passCpu);
    if (pass.absent !== deleted) throw new Error(`trial ${trial}: deleted ${deleted}, repaired ${pass.absent}`);
    repairMs.push(ms);
    log(
      `repair trial ${trial + 1}: ${deleted} entries deleted, all back after ${round(ms)} ms ` +
        `(repair pass ${round(pass.durationMs)} ms, CPU ${round(passCpu)} ms)`,
    );
  }
  reconciler.stop();
  opened.maps.close();

  const entriesPerS = ciliumEntries / (fullMs / 1000);
  const cPerS = cSingle.entries / (cSingle.ms / 1000);
  const result = {
    services: S,
    backends_per_service: B,
    cilium_entries: ciliumEntries,
    full_program_ms: round(fullMs),
    entries_per_s: Math.round(entriesPerS),
    c_baseline_entries_per_s: Math.round(cPerS),
    c_batch_entries_per_s: Math.round(cBatch.entries / (cBatch.ms / 1000)),
    ratio_to_c_baseline: Math.round((cPerS / entriesPerS) * 100) / 100,
    // The VM is shared and loaded: CPU time (user+system, syscalls included) is the steadier comparison.
    full_program_cpu_ms: round(fullCpuMs),
    c_baseline_cpu_ms: round(cSingle.cpu_ms),
    cpu_ratio_to_c_baseline: Math.round((fullCpuMs / cSingle.cpu_ms) * 100) / 100,
    bpftool_entries_per_s: Math.round(sample.length / (bpftoolMs / 1000)),
    bpftool_sample_entries: sample.length,
    steady_pass_ms_p50: round(percentile(steady, 50)),
    reconcile_period_ms: DEFAULT_RECONCILE_PERIOD_MS,
    repair_fraction: 0.1,
    repair_trials: repairMs.length,
    repair_detect_ms_p50: round(percentile(repairMs, 50)),
    repair_detect_ms_max: round(Math.max(...repairMs)),
    repair_pass_cpu_ms_p50: round(percentile(repairCpuMs, 50)),
  };
  console.log(JSON.stringify(result));
} finally {
  bpffs.dispose();
}
