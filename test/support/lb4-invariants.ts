// What must hold in the lb4 maps at every moment for the datapath never to follow a dangling reference:
// a master with count N has slots 1..N, each naming a backend that exists; its revNAT entry exists; with
// maglev, its table exists and names only existing backends. Checked after every single map write in the
// fault-injection tests, and on real maps after each pass.
import { getHost16, getHost32, getNet16, viewOf } from '../../src/core/lb4/bytes.ts';
import { bytesKey } from '../../src/core/bpf/packed.ts';
import { decodeMaglevTable } from '../../src/core/lb4/maglev.ts';
import { LB4_KEY_OFFSETS } from '../../src/core/lb4/service-key.ts';
import { LB4_SERVICE_OFFSETS } from '../../src/core/lb4/service-value.ts';
import type { MapsSnapshot } from '../../src/core/dataplane/ownership.ts';

export function lb4Violations(
  s: MapsSnapshot,
  maglevTables?: ReadonlyMap<number, Uint8Array>,
  only: (revNat: number) => boolean = () => true,
): string[] {
  const problems: string[] = [];
  const svc = s.services;
  const kv = viewOf(svc.keys);
  const vv = viewOf(svc.values);
  const byKey = new Map<string, number>();
  for (let i = 0; i < svc.count; i++) byKey.set(bytesKey(svc.keys, i * 12, 12), i);
  const backends = new Set<number>();
  const bv = viewOf(s.backends.keys);
  for (let i = 0; i < s.backends.count; i++) backends.add(getHost32(bv, i * 4));
  const revNats = new Set<number>();
  const rv = viewOf(s.revNat.keys);
  for (let i = 0; i < s.revNat.count; i++) revNats.add(getNet16(rv, i * 2));

  for (let i = 0; i < svc.count; i++) {
    if (getHost16(kv, i * 12 + LB4_KEY_OFFSETS.backendSlot) !== 0) continue;
    const count = getHost16(vv, i * 12 + LB4_SERVICE_OFFSETS.count);
    const revNat = getNet16(vv, i * 12 + LB4_SERVICE_OFFSETS.revNatIndex);
    if (!only(revNat)) continue;
    const name = `master ${[...svc.keys.subarray(i * 12, i * 12 + 6)].join('.')} revnat ${revNat}`;
    if (!revNats.has(revNat)) problems.push(`${name}: no revNAT entry`);
    if (count === 0) continue;
    const key = Uint8Array.from(svc.keys.subarray(i * 12, i * 12 + 12));
    for (let slot = 1; slot <= count; slot++) {
      key[6] = slot & 255;
      key[7] = slot >> 8;
      const j = byKey.get(bytesKey(key, 0, 12));
      if (j === undefined) {
        problems.push(`${name}: slot ${slot} of ${count} missing`);
        continue;
      }
      const backendId = getHost32(vv, j * 12 + LB4_SERVICE_OFFSETS.union);
      if (!backends.has(backendId)) problems.push(`${name}: slot ${slot} names missing backend ${backendId}`);
    }
    if (s.maglev) {
      if (!s.maglev.has(revNat)) problems.push(`${name}: no maglev table`);
      const table = maglevTables?.get(revNat);
      if (table) {
        for (const id of new Set(decodeMaglevTable(table))) {
          if (!backends.has(id)) problems.push(`${name}: maglev table names missing backend ${id}`);
        }
      }
    }
  }
  return problems;
}
