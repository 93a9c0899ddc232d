// cilium_lb4_reverse_nat: key u16 rev_nat_index (NBO), value struct lb4_reverse_nat (packed, 6 bytes):
//   0 address (NBO) | 4 port (NBO). Replies of a NATed flow are translated back to this frontend.
import { getNet16, getNet32, putNet16, putNet32 } from './bytes.ts';
import { checkUint, type StructCodec } from './codec.ts';

export const REV_NAT_KEY_SIZE = 2;
export const LB4_REVERSE_NAT_SIZE = 6;

export interface Lb4ReverseNat {
  readonly address: number;
  readonly port: number;
}

/** A service ID (rev_nat_index) in network order: the revNAT key and the maglev outer key share it. */
export function revNatIndexCodec(struct: string): StructCodec<number> {
  return {
    struct,
    size: REV_NAT_KEY_SIZE,
    write(v, o, id) {
      putNet16(v, o, checkUint(struct, 'rev_nat_index', id, 16));
    },
    read(v, o) {
      return getNet16(v, o);
    },
  };
}

export const revNatKeyCodec = revNatIndexCodec('lb4_reverse_nat_key');

export const lb4ReverseNatCodec: StructCodec<Lb4ReverseNat> = {
  struct: 'lb4_reverse_nat',
  size: LB4_REVERSE_NAT_SIZE,
  write(v, o, r) {
    putNet32(v, o, checkUint('lb4_reverse_nat', 'address', r.address, 32));
    putNet16(v, o + 4, checkUint('lb4_reverse_nat', 'port', r.port, 16));
  },
  read(v, o) {
    return { address: getNet32(v, o), port: getNet16(v, o + 4) };
  },
};
