// Shared by the lb4 dataplane tests: a lab plus an in-process reconciler over its maps, and raw map dumps.
import type { Test } from 'tap';
import type { DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { hex } from '../../../src/core/lb4/bytes.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { readSnapshot, type MapChangeFeed } from '../../../src/speaker/dataplane/maps.ts';
import { openLb4Maps, type OpenedLb4Maps } from '../../../src/speaker/dataplane/native-maps.ts';
import { DataplaneReconciler } from '../../../src/speaker/dataplane/reconciler.ts';
import { BpfMap } from '../../../src/native/bpf.ts';
import { createLab, NODE_PORT_TCP, NODE_PORT_UDP, type Lab, type LabOptions } from '../../datapath/lab.ts';
import { lb4Violations } from '../../support/lb4-invariants.ts';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export const VIP = '10.20.0.1';

export async function labFor(t: Test, label: string, options: LabOptions): Promise<Lab> {
  const lab = await createLab(label, options);
  t.teardown(() => lab.destroy());
  return lab;
}

export function reconcilerFor(
  t: Test,
  lab: Lab,
  periodMs?: number,
  changes?: MapChangeFeed,
): { reconciler: DataplaneReconciler; opened: OpenedLb4Maps } {
  const opened = openLb4Maps({
    dir: lab.mapDir,
    ciliumVersion: lab.profile.version,
    ...(lab.maps.maglevTableSize !== undefined ? { maglevTableSize: lab.maps.maglevTableSize } : {}),
  });
  const reconciler = new DataplaneReconciler({
    maps: opened.maps,
    profile: opened.profile,
    logger: createLogger({ program: 'test', level: 'silent' }),
    ...(periodMs ? { periodMs } : {}),
    ...(changes ? { changes } : {}),
  });
  t.teardown(() => {
    reconciler.stop();
    changes?.close();
    opened.maps.close();
  });
  return { reconciler, opened };
}

export function web(lab: Lab, port = 80, backends = lab.backends): DesiredFrontend {
  return {
    vip: VIP,
    port,
    protocol: 'TCP',
    backends: backends.map((b) => ({ address: b.address, port: NODE_PORT_TCP })),
  };
}

export function dns(lab: Lab, port = 53, backends = lab.backends): DesiredFrontend {
  return {
    vip: VIP,
    port,
    protocol: 'UDP',
    backends: backends.map((b) => ({ address: b.address, port: NODE_PORT_UDP })),
  };
}

/** Violations of the no-dangling-reference invariant in the real maps right now. */
export function violations(opened: OpenedLb4Maps): string[] {
  return lb4Violations(readSnapshot(opened.maps));
}

/**
 * Every pinned map in `dir` as sorted hex lines "name key => value", plus for maglev the inner map ID each
 * entry points at and that table's bytes: equal dumps mean byte-identical maps (and untouched inner maps).
 */
export function rawDump(dir: string): string[] {
  const lines: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const map = BpfMap.open(join(dir, name), { readOnly: true });
    try {
      const d = map.dump();
      for (let i = 0; i < d.count; i++) {
        const key = d.keys.subarray(i * d.keySize, (i + 1) * d.keySize);
        const value = d.values.subarray(i * d.valueSize, (i + 1) * d.valueSize);
        let line = `${name} ${hex(key)} => ${hex(value)}`;
        if (map.info.typeName === 'hash_of_maps') {
          const inner = BpfMap.fromId(new DataView(value.buffer, value.byteOffset).getUint32(0, true));
          try {
            line += ` table ${hex(inner.lookup(new Uint8Array(4)) ?? new Uint8Array(0)).slice(0, 200)}…`;
          } finally {
            inner.close();
          }
        }
        lines.push(line);
      }
    } finally {
      map.close();
    }
  }
  return lines.sort();
}
