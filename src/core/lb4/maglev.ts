// cilium_lb4_maglev: HASH_OF_MAPS, key u16 rev_nat_index (NBO); each value is an inner ARRAY map with one
// element, the lookup table: M backend IDs as host-order u32 (M = bpf-lb-maglev-table-size).
import { getHost32, putHost32, viewOf } from './bytes.ts';
import type { StructCodec } from './codec.ts';
import { Lb4CodecError } from './errors.ts';
import { revNatIndexCodec } from './reverse-nat.ts';

export const MAGLEV_OUTER_KEY_SIZE = 2;
/** The inner map's value in the outer map, as written: an inner map fd; as read: an inner map ID. */
export const MAGLEV_OUTER_VALUE_SIZE = 4;
/** The inner array has one element, at key 0. */
export const MAGLEV_INNER_KEY_SIZE = 4;
export const DEFAULT_MAGLEV_TABLE_SIZE = 16381;
/** Table sizes Cilium accepts for --bpf-lb-maglev-table-size (primes). */
export const MAGLEV_TABLE_SIZES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071] as const;

export const maglevOuterKeyCodec: StructCodec<number> = revNatIndexCodec('lb4_maglev_outer_key');

export function maglevInnerValueSize(tableSize: number): number {
  return tableSize * 4;
}

export function encodeMaglevTable(table: Uint32Array): Uint8Array {
  const bytes = new Uint8Array(table.length * 4);
  const view = viewOf(bytes);
  for (let i = 0; i < table.length; i++) putHost32(view, i * 4, table[i]!);
  return bytes;
}

export function decodeMaglevTable(bytes: Uint8Array): Uint32Array {
  if (bytes.length % 4 !== 0) {
    throw new Lb4CodecError('lb4_maglev_inner', 'backend_ids', `${bytes.length} bytes is not a u32 array`);
  }
  const view = viewOf(bytes);
  const table = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < table.length; i++) table[i] = getHost32(view, i * 4);
  return table;
}
