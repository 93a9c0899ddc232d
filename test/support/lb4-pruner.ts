// Cilium's prune, played by another process: deletes every lb4 entry not in a keep-list, map by map in the order
// Cilium 1.18+ prunes (services, backends, revNAT, source ranges, maglev, then affinity match since cilium/cilium
// PR #48919; the Prune of pkg/loadbalancer/reconciler/bpf_reconciler.go, each step dumping its map, then deleting),
// one BPF_MAP_DELETE_ELEM per key as its reconciler does, at full speed.
// Run as its own process so that kube-lb's change events see a foreign writer, exactly as with a real agent.
//
//   node test/support/lb4-pruner.ts '{"dir": "...", "keep": {"cilium_lb4_services_v2": ["0a14…"]}}'
//
// Prints one JSON line: {"deleted": {map: n}, "startNs": "…", "endNs": "…"} (CLOCK_MONOTONIC, as
// process.hrtime.bigint() in any process on the machine).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { hex } from '../../src/core/lb4/bytes.ts';
import { LB4_MAPS, type Lb4MapRole } from '../../src/core/lb4/maps.ts';
import { BpfMap } from '../../src/native/bpf.ts';

/** The order of Cilium's prune. */
export const PRUNE_ORDER: readonly Lb4MapRole[] = [
  'services',
  'backends',
  'revNat',
  'sourceRange',
  'maglev',
  'affinityMatch',
];

export interface PruneRequest {
  readonly dir: string;
  /** Keys (hex, as src/core/lb4/bytes.ts prints them, without spaces) that are "Cilium's own", by map name. */
  readonly keep?: Readonly<Record<string, readonly string[]>>;
}

export interface PruneResult {
  readonly deleted: Readonly<Record<string, number>>;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

const compact = (key: Uint8Array): string => hex(key).replaceAll(' ', '');

function prune(request: PruneRequest): PruneResult {
  const deleted: Record<string, number> = {};
  const startNs = process.hrtime.bigint();
  for (const role of PRUNE_ORDER) {
    const name = LB4_MAPS[role].name;
    const path = join(request.dir, name);
    if (!existsSync(path)) continue;
    const keep = new Set(request.keep?.[name] ?? []);
    const map = BpfMap.open(path);
    try {
      const d = map.dump();
      let n = 0;
      for (let i = 0; i < d.count; i++) {
        const key = d.keys.subarray(i * d.keySize, (i + 1) * d.keySize);
        if (!keep.has(compact(key)) && map.delete(key)) n++;
      }
      deleted[name] = n;
    } finally {
      map.close();
    }
  }
  return { deleted, startNs, endNs: process.hrtime.bigint() };
}

/** Runs the pruner in a child process (another tgid) and resolves with what it deleted. */
export function pruneFromAnotherProcess(request: PruneRequest): Promise<PruneResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(request)], (err, stdout, stderr) => {
      if (err) return reject(new Error(`lb4 pruner failed: ${stderr || err.message}`));
      const parsed = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
        deleted: Record<string, number>;
        startNs: string;
        endNs: string;
      };
      resolve({ deleted: parsed.deleted, startNs: BigInt(parsed.startNs), endNs: BigInt(parsed.endNs) });
    });
  });
}

export { compact as compactHex };

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = prune(JSON.parse(process.argv[2] ?? '{}') as PruneRequest);
  console.log(
    JSON.stringify({ deleted: result.deleted, startNs: String(result.startNs), endNs: String(result.endNs) }),
  );
}
