// struct lb4_key (12 bytes, all versions): the key of cilium_lb4_services_v2.
//   0 address (NBO) | 4 dport (NBO) | 6 backend_slot (host; 0 = master) | 8 proto | 9 scope | 10 pad[2]
import { getHost16, getNet16, getNet32, putHost16, putNet16, putNet32 } from './bytes.ts';
import { checkUint, type StructCodec } from './codec.ts';

export const LB4_KEY_SIZE = 12;
export const LB4_KEY_OFFSETS = { address: 0, dport: 4, backendSlot: 6, proto: 8, scope: 9, pad: 10 } as const;

/** lb4_key.scope: external traffic uses scope 0; scope 1 exists only for two-scope services. */
export const LB_LOOKUP_SCOPE = { EXT: 0, INT: 1 } as const;

export interface Lb4Key {
  /** Frontend IPv4, host-order number. */
  readonly address: number;
  readonly port: number;
  /** 0 for the master entry, 1.. for slots. */
  readonly slot: number;
  /** 0 or an IP protocol number, as the profile's keyProto rule says. */
  readonly proto: number;
  readonly scope: number;
}

const S = 'lb4_key';

export const lb4KeyCodec: StructCodec<Lb4Key> = {
  struct: S,
  size: LB4_KEY_SIZE,
  write(v, o, k) {
    putNet32(v, o + LB4_KEY_OFFSETS.address, checkUint(S, 'address', k.address, 32));
    putNet16(v, o + LB4_KEY_OFFSETS.dport, checkUint(S, 'dport', k.port, 16));
    putHost16(v, o + LB4_KEY_OFFSETS.backendSlot, checkUint(S, 'backend_slot', k.slot, 16));
    v.setUint8(o + LB4_KEY_OFFSETS.proto, checkUint(S, 'proto', k.proto, 8));
    v.setUint8(o + LB4_KEY_OFFSETS.scope, checkUint(S, 'scope', k.scope, 8));
    v.setUint16(o + LB4_KEY_OFFSETS.pad, 0);
  },
  read(v, o) {
    return {
      address: getNet32(v, o + LB4_KEY_OFFSETS.address),
      port: getNet16(v, o + LB4_KEY_OFFSETS.dport),
      slot: getHost16(v, o + LB4_KEY_OFFSETS.backendSlot),
      proto: v.getUint8(o + LB4_KEY_OFFSETS.proto),
      scope: v.getUint8(o + LB4_KEY_OFFSETS.scope),
    };
  },
};
