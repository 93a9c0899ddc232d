// struct lb4_backend (12 bytes): the value of cilium_lb4_backends_v3 (key: u32 backend ID, host order).
//   0 address (NBO) | 4 port (NBO) | 6 proto | 7 flags (backend state) | 8..11 per version:
//   1.14: cluster_id u8, pad[3] | 1.15: cluster_id u16 (host), pad[2] | 1.16+: cluster_id u16, zone u8, pad
import { getHost16, getHost32, getNet16, getNet32, putHost16, putHost32, putNet16, putNet32 } from './bytes.ts';
import { checkUint, type StructCodec } from './codec.ts';
import { Lb4CodecError } from './errors.ts';
import type { Lb4Profile } from './profile.ts';

export const LB4_BACKEND_SIZE = 12;
export const LB4_BACKEND_OFFSETS = { address: 0, port: 4, proto: 6, flags: 7, clusterId: 8, zone: 10 } as const;
export const BACKEND_ID_SIZE = 4;

export interface Lb4Backend {
  readonly address: number;
  readonly port: number;
  readonly proto: number;
  /** Backend state code (flags.ts BACKEND_STATES). */
  readonly state: number;
  readonly clusterId: number;
  /** Cilium's zone index; 0 = none. Only 1.16+ has the field. */
  readonly zone: number;
}

const S = 'lb4_backend';

export function lb4BackendCodec(profile: Lb4Profile): StructCodec<Lb4Backend> {
  const tail = profile.backendTail;
  return {
    struct: S,
    size: LB4_BACKEND_SIZE,
    write(v, o, b) {
      putNet32(v, o + LB4_BACKEND_OFFSETS.address, checkUint(S, 'address', b.address, 32));
      putNet16(v, o + LB4_BACKEND_OFFSETS.port, checkUint(S, 'port', b.port, 16));
      v.setUint8(o + LB4_BACKEND_OFFSETS.proto, checkUint(S, 'proto', b.proto, 8));
      v.setUint8(o + LB4_BACKEND_OFFSETS.flags, checkUint(S, 'flags', b.state, 8));
      putHost32(v, o + LB4_BACKEND_OFFSETS.clusterId, 0);
      if (tail === 'cluster8') {
        v.setUint8(o + LB4_BACKEND_OFFSETS.clusterId, checkUint(S, 'cluster_id', b.clusterId, 8));
      } else {
        putHost16(v, o + LB4_BACKEND_OFFSETS.clusterId, checkUint(S, 'cluster_id', b.clusterId, 16));
      }
      if (tail === 'cluster16-zone') v.setUint8(o + LB4_BACKEND_OFFSETS.zone, checkUint(S, 'zone', b.zone, 8));
      else if (b.zone !== 0) throw new Lb4CodecError(S, 'zone', `Cilium ${profile.version} has no zone field`);
    },
    read(v, o) {
      return {
        address: getNet32(v, o + LB4_BACKEND_OFFSETS.address),
        port: getNet16(v, o + LB4_BACKEND_OFFSETS.port),
        proto: v.getUint8(o + LB4_BACKEND_OFFSETS.proto),
        state: v.getUint8(o + LB4_BACKEND_OFFSETS.flags),
        clusterId:
          tail === 'cluster8'
            ? v.getUint8(o + LB4_BACKEND_OFFSETS.clusterId)
            : getHost16(v, o + LB4_BACKEND_OFFSETS.clusterId),
        zone: tail === 'cluster16-zone' ? v.getUint8(o + LB4_BACKEND_OFFSETS.zone) : 0,
      };
    },
  };
}

/** The backends map key: the backend ID as a host-order u32. */
export const backendIdCodec: StructCodec<number> = {
  struct: 'lb4_backend_key',
  size: BACKEND_ID_SIZE,
  write(v, o, id) {
    putHost32(v, o, checkUint('lb4_backend_key', 'id', id, 32));
  },
  read(v, o) {
    return getHost32(v, o);
  },
};
