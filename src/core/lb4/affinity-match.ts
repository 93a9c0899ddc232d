// cilium_lb_affinity_match (shared by v4 and v6): HASH, key struct lb_affinity_match (8 bytes), value u8 (0).
//   0 backend_id u32 (host) | 4 rev_nat_id u16 (NBO) | 6 pad
// The datapath only reuses an affinity backend when {backend, service} is listed here.
import { getHost32, getNet16, putHost32, putNet16 } from './bytes.ts';
import { checkUint, type StructCodec } from './codec.ts';

export const AFFINITY_MATCH_KEY_SIZE = 8;
export const AFFINITY_MATCH_VALUE_SIZE = 1;

export interface AffinityMatchKey {
  readonly backendId: number;
  readonly revNat: number;
}

const S = 'lb_affinity_match';

export const affinityMatchKeyCodec: StructCodec<AffinityMatchKey> = {
  struct: S,
  size: AFFINITY_MATCH_KEY_SIZE,
  write(v, o, k) {
    putHost32(v, o, checkUint(S, 'backend_id', k.backendId, 32));
    putNet16(v, o + 4, checkUint(S, 'rev_nat_id', k.revNat, 16));
    v.setUint16(o + 6, 0);
  },
  read(v, o) {
    return { backendId: getHost32(v, o), revNat: getNet16(v, o + 4) };
  },
};
