// cilium_lb4_source_range: LPM_TRIE, key struct lb4_src_range_key (12 bytes), value u8 (0).
//   0 prefixlen u32 (host) = 32 + CIDR bits (it counts the rev_nat_id and pad bits too)
//   4 rev_nat_id u16 (NBO) | 6 pad u16 | 8 addr (NBO)
import { getHost32, getNet16, getNet32, putHost32, putNet16, putNet32 } from './bytes.ts';
import { checkUint, type StructCodec } from './codec.ts';
import { Lb4CodecError } from './errors.ts';

export const SRC_RANGE_KEY_SIZE = 12;
export const SRC_RANGE_VALUE_SIZE = 1;
/** Bits of the key before the address that every prefix covers: rev_nat_id (16) and pad (16). */
export const SRC_RANGE_FIXED_BITS = 32;

export interface SourceRangeKey {
  readonly revNat: number;
  /** Network address, host order. */
  readonly address: number;
  /** CIDR prefix length 0..32. */
  readonly bits: number;
}

const S = 'lb4_src_range_key';

export const sourceRangeKeyCodec: StructCodec<SourceRangeKey> = {
  struct: S,
  size: SRC_RANGE_KEY_SIZE,
  write(v, o, k) {
    if (!Number.isInteger(k.bits) || k.bits < 0 || k.bits > 32) {
      throw new Lb4CodecError(S, 'prefixlen', `${k.bits} is not a prefix length of 0..32`);
    }
    putHost32(v, o, SRC_RANGE_FIXED_BITS + k.bits);
    putNet16(v, o + 4, checkUint(S, 'rev_nat_id', k.revNat, 16));
    v.setUint16(o + 6, 0);
    putNet32(v, o + 8, checkUint(S, 'addr', k.address, 32));
  },
  read(v, o) {
    return { bits: getHost32(v, o) - SRC_RANGE_FIXED_BITS, revNat: getNet16(v, o + 4), address: getNet32(v, o + 8) };
  },
};
