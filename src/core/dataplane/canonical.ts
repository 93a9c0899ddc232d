// A canonical, sorted, human-readable dump of every lb4 map, so tests can compare whole map states as text and
// a failing test shows what differs. Service and backend IDs are printed in decimal, addresses dotted.
import type { PackedEntries } from '../bpf/packed.ts';
import { affinityMatchKeyCodec } from '../lb4/affinity-match.ts';
import { backendIdCodec, lb4BackendCodec } from '../lb4/backend.ts';
import { decode } from '../lb4/codec.ts';
import { backendStateName } from '../lb4/flags.ts';
import { formatIPv4, protocolName } from '../lb4/ipv4.ts';
import { decodeMaglevTable } from '../lb4/maglev.ts';
import type { Lb4Profile } from '../lb4/profile.ts';
import { lb4ReverseNatCodec, revNatKeyCodec } from '../lb4/reverse-nat.ts';
import { lb4KeyCodec } from '../lb4/service-key.ts';
import { lb4ServiceCodec } from '../lb4/service-value.ts';
import { sourceRangeKeyCodec } from '../lb4/source-range.ts';
import { backendIdTableKeyCodec, backendIdTableValueCodec, idTableKeyCodec, idTableValueCodec } from './id-table.ts';
import type { MapsSnapshot } from './ownership.ts';

const hex2 = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

function lines(e: PackedEntries | undefined, line: (key: Uint8Array, value: Uint8Array) => string): string[] {
  if (!e) return [];
  const out: string[] = [];
  for (let i = 0; i < e.count; i++) {
    out.push(
      line(
        e.keys.subarray(i * e.keySize, (i + 1) * e.keySize),
        e.values.subarray(i * e.valueSize, (i + 1) * e.valueSize),
      ),
    );
  }
  return out;
}

/** Counts per backend ID in a maglev table: "4294967294x8191 4294967293x8190" (ID order). */
export function summarizeMaglevTable(bytes: Uint8Array): string {
  const counts = new Map<number, number>();
  for (const id of decodeMaglevTable(bytes)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[0] - a[0])
    .map(([id, n]) => `${id}x${n}`)
    .join(' ');
}

export function canonicalDump(
  s: MapsSnapshot,
  profile: Lb4Profile,
  maglevTables?: ReadonlyMap<number, Uint8Array>,
): string[] {
  const svc = lb4ServiceCodec(profile);
  const be = lb4BackendCodec(profile);
  const out = [
    ...lines(s.services, (k, v) => {
      const key = decode(lb4KeyCodec, k);
      const val = decode(svc, v);
      return (
        `svc ${formatIPv4(key.address)}:${key.port}/${protocolName(key.proto)} scope=${key.scope} slot=${key.slot} => ` +
        `u32=${val.union} count=${val.count} revnat=${val.revNat} flags=${hex2(val.flags)}/${hex2(val.flags2)} qcount=${val.qcount}`
      );
    }),
    ...lines(s.backends, (k, v) => {
      const b = decode(be, v);
      return (
        `be ${decode(backendIdCodec, k)} => ${formatIPv4(b.address)}:${b.port}/${protocolName(b.proto)} ` +
        `${backendStateName(b.state)} cluster=${b.clusterId} zone=${b.zone}`
      );
    }),
    ...lines(s.revNat, (k, v) => {
      const r = decode(lb4ReverseNatCodec, v);
      return `rnat ${decode(revNatKeyCodec, k)} => ${formatIPv4(r.address)}:${r.port}`;
    }),
    ...lines(s.sourceRange, (k) => {
      const r = decode(sourceRangeKeyCodec, k);
      return `src ${r.revNat} ${formatIPv4(r.address)}/${r.bits}`;
    }),
    ...lines(s.affinityMatch, (k) => {
      const a = decode(affinityMatchKeyCodec, k);
      return `aff ${a.revNat} backend=${a.backendId}`;
    }),
    ...[...(s.maglev ?? new Map())].map(([id]) => {
      const table = maglevTables?.get(id);
      return `mag ${id} => ${table ? summarizeMaglevTable(table) : 'table'}`;
    }),
    ...lines(s.idTable, (k, v) => {
      const f = decode(idTableKeyCodec, k);
      return `ids ${formatIPv4(f.address)}:${f.port}/${protocolName(f.proto)} scope=${f.scope} => ${decode(idTableValueCodec, v)}`;
    }),
    ...lines(s.backendIdTable, (k, v) => {
      const b = decode(backendIdTableKeyCodec, k);
      return `beids ${formatIPv4(b.address)}:${b.port}/${protocolName(b.proto)} => ${decode(backendIdTableValueCodec, v)}`;
    }),
  ];
  return out.sort();
}
