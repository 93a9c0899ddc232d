// struct lb4_service (12 bytes): the value of cilium_lb4_services_v2.
//   0 union u32 (host): backend_id on a slot; affinity_timeout (1.14–1.16: whole u32; 1.17+: low 24 bits,
//     algorithm in the high 8) or l7 proxy port on a master
//   4 count (host) | 6 rev_nat_index (NBO) | 8 flags | 9 flags2 | 10 pad (1.14–1.16) or qcount (host, 1.17+)
import { getHost16, getHost32, getNet16, putHost16, putHost32, putNet16 } from './bytes.ts';
import { checkUint, type StructCodec } from './codec.ts';
import { Lb4CodecError } from './errors.ts';
import type { Lb4Profile } from './profile.ts';

export const LB4_SERVICE_SIZE = 12;
export const LB4_SERVICE_OFFSETS = { union: 0, count: 4, revNatIndex: 6, flags: 8, flags2: 9, tail: 10 } as const;

export interface Lb4Service {
  /** The raw u32 at offset 0: backend_id on slots; use packAffinity/unpackAffinity on masters. */
  readonly union: number;
  /** Active backends (masters); 0 on slots. */
  readonly count: number;
  /** The service ID. */
  readonly revNat: number;
  readonly flags: number;
  readonly flags2: number;
  /** Non-active slots after `count` (1.17+); always 0 where the profile has pad. */
  readonly qcount: number;
}

const S = 'lb4_service';

export function lb4ServiceCodec(profile: Lb4Profile): StructCodec<Lb4Service> {
  const hasQcount = profile.serviceTail === 'qcount';
  return {
    struct: S,
    size: LB4_SERVICE_SIZE,
    write(v, o, s) {
      putHost32(v, o + LB4_SERVICE_OFFSETS.union, checkUint(S, 'backend_id', s.union, 32));
      putHost16(v, o + LB4_SERVICE_OFFSETS.count, checkUint(S, 'count', s.count, 16));
      putNet16(v, o + LB4_SERVICE_OFFSETS.revNatIndex, checkUint(S, 'rev_nat_index', s.revNat, 16));
      v.setUint8(o + LB4_SERVICE_OFFSETS.flags, checkUint(S, 'flags', s.flags, 8));
      v.setUint8(o + LB4_SERVICE_OFFSETS.flags2, checkUint(S, 'flags2', s.flags2, 8));
      if (!hasQcount && s.qcount !== 0) {
        throw new Lb4CodecError(S, 'qcount', `Cilium ${profile.version} has padding here, qcount must be 0`);
      }
      putHost16(v, o + LB4_SERVICE_OFFSETS.tail, checkUint(S, 'qcount', s.qcount, 16));
    },
    read(v, o) {
      return {
        union: getHost32(v, o + LB4_SERVICE_OFFSETS.union),
        count: getHost16(v, o + LB4_SERVICE_OFFSETS.count),
        revNat: getNet16(v, o + LB4_SERVICE_OFFSETS.revNatIndex),
        flags: v.getUint8(o + LB4_SERVICE_OFFSETS.flags),
        flags2: v.getUint8(o + LB4_SERVICE_OFFSETS.flags2),
        qcount: hasQcount ? getHost16(v, o + LB4_SERVICE_OFFSETS.tail) : 0,
      };
    },
  };
}

/**
 * Per-service backend selection in the master's high byte (1.17+ with bpf-lb-algorithm-annotation):
 * LB_SELECTION_RANDOM 1 and LB_SELECTION_MAGLEV 2 in every line (1.17/1.18 pkg/datapath/linux/config,
 * 1.20 bpf/include/bpf/lb_selection.h). 0 means "node default" from 1.18 on, but in 1.17 the datapath has no
 * fallback and selects no backend, so kube-lb always writes the node's own algorithm.
 */
export const LB_ALGORITHM = { DEFAULT: 0, RANDOM: 1, MAGLEV: 2 } as const;

export interface Affinity {
  readonly timeoutSeconds: number;
  readonly algorithm: number;
}

const TIMEOUT24_MASK = 0xffffff;

/** The master's u32 union from an affinity timeout and (1.17+) algorithm, range-checked per profile. */
export function packAffinity(profile: Lb4Profile, affinity: Affinity): number {
  if (profile.affinityUnion === 'timeout32') {
    if (affinity.algorithm !== 0) {
      throw new Lb4CodecError(S, 'algorithm', `Cilium ${profile.version} has no per-service algorithm`);
    }
    return checkUint(S, 'affinity_timeout', affinity.timeoutSeconds, 32);
  }
  checkUint(S, 'affinity_timeout', affinity.timeoutSeconds, 24);
  checkUint(S, 'algorithm', affinity.algorithm, 8);
  return ((affinity.algorithm << 24) | affinity.timeoutSeconds) >>> 0;
}

export function unpackAffinity(profile: Lb4Profile, union: number): Affinity {
  if (profile.affinityUnion === 'timeout32') return { timeoutSeconds: union >>> 0, algorithm: 0 };
  return { timeoutSeconds: union & TIMEOUT24_MASK, algorithm: union >>> 24 };
}
