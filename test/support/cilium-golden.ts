// What a real cilium-agent wrote into its lb4 maps, from the committed golden dumps (test/fixtures/cilium/<version>/
// <mode>.json, made by `node scripts/cilium-golden.ts`): Cilium's own bytes, for tests that need "entries that are
// Cilium's" (foreign entries kube-lb must leave alone, evidence for version detection). Nothing here is encoded by
// kube-lb. Lines without dumps (1.14–1.16) and tests that need IDs or addresses of their own choosing use the
// synthetic entries of lb4-fixtures.ts instead.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GoldenDump } from '../../scripts/cilium-golden.ts';
import type { RawEntry } from './lb4-fixtures.ts';

const repoRoot = join(import.meta.dirname, '../..');
const LINES = JSON.parse(readFileSync(join(repoRoot, 'test/cilium/lines.json'), 'utf8')) as {
  lines: Record<string, { module: string }>;
};

const MAPS = {
  services: 'cilium_lb4_services_v2',
  backends: 'cilium_lb4_backends_v3',
  revNat: 'cilium_lb4_reverse_nat',
} as const;

/** Lines with golden dumps. */
export type GoldenLine = '1.17' | '1.18' | '1.19' | '1.20';

export function goldenDump(line: GoldenLine, mode: 'random' | 'maglev' = 'random'): GoldenDump {
  const version = LINES.lines[line]!.module;
  const file = join(repoRoot, 'test/fixtures/cilium', version, `${mode}.json`);
  const dump = JSON.parse(readFileSync(file, 'utf8')) as GoldenDump;
  // A map missing from a dump would give "no Cilium entries", which every leave-alone check passes trivially.
  for (const name of Object.values(MAPS)) {
    if (Object.keys(dump.maps[name]?.entries ?? {}).length === 0)
      throw new Error(`${file} has no ${name} entries: remake it with node scripts/cilium-golden.ts`);
  }
  return dump;
}

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

/** Every services, backends and reverse-NAT entry the agent wrote, byte for byte. */
export function goldenCiliumEntries(line: GoldenLine, mode: 'random' | 'maglev' = 'random'): RawEntry[] {
  const dump = goldenDump(line, mode);
  const out: RawEntry[] = [];
  for (const [role, name] of Object.entries(MAPS) as [RawEntry['map'], string][]) {
    for (const [k, v] of Object.entries(dump.maps[name]!.entries))
      out.push({ map: role, key: bytes(k), value: bytes(v) });
  }
  return out;
}

/** The service IDs and backend IDs those entries use (for "is this entry Cilium's?" predicates). */
export function goldenCiliumIds(
  line: GoldenLine,
  mode: 'random' | 'maglev' = 'random',
): { revNats: Set<number>; backendIds: Set<number> } {
  const dump = goldenDump(line, mode);
  const revNats = new Set(
    Object.keys(dump.maps[MAPS.revNat]!.entries).map((k) => Buffer.from(k, 'hex').readUInt16BE(0)),
  );
  const backendIds = new Set(
    Object.keys(dump.maps[MAPS.backends]!.entries).map((k) => Buffer.from(k, 'hex').readUInt32LE(0)),
  );
  return { revNats, backendIds };
}
