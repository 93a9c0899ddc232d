// kube-lb's own pinned maps beside Cilium's, which survive speaker and agent restarts (a bpffs pin lives as
// long as Cilium's maps do; Cilium's map sweeper only removes names it knows, all starting with "cilium_"):
//  - kube_lb_svc_ids: which frontends (lb4_key without the slot) are kube-lb's, and their service IDs. It is
//    what makes an entry "ours".
//      key (8 bytes): 0 address (NBO) | 4 port (NBO) | 6 proto | 7 scope      value (4 bytes): service ID (host)
//  - kube_lb_backend_ids: the backend ID of each of kube-lb's backends. Conntrack entries carry backend IDs,
//    so a backend that came back under another ID (both restarted, Cilium's prune in between) would send the
//    established flows it carried to whatever now holds the old ID.
//      key (8 bytes): 0 address (NBO) | 4 port (NBO) | 6 proto | 7 zero       value (4 bytes): backend ID (host)
import { BPF_F_NO_PREALLOC, BPF_MAP_TYPE } from '../bpf/uapi.ts';
import { getHost32, getNet16, getNet32, putHost32, putNet16, putNet32 } from '../lb4/bytes.ts';
import { checkUint, type StructCodec } from '../lb4/codec.ts';

export const ID_TABLE_NAME = 'kube_lb_svc_ids';
export const ID_TABLE_KEY_SIZE = 8;
export const ID_TABLE_VALUE_SIZE = 4;
export const ID_TABLE_SHAPE = {
  name: ID_TABLE_NAME,
  type: BPF_MAP_TYPE.HASH,
  keySize: ID_TABLE_KEY_SIZE,
  valueSize: ID_TABLE_VALUE_SIZE,
  /** One record per frontend; the service ID space has 65535 values anyway. */
  maxEntries: 65536,
  flags: 0,
} as const;

export const BACKEND_ID_TABLE_NAME = 'kube_lb_backend_ids';
export const BACKEND_ID_TABLE_SHAPE = {
  name: BACKEND_ID_TABLE_NAME,
  type: BPF_MAP_TYPE.HASH,
  keySize: 8,
  valueSize: 4,
  /** Above any lb4 backends map a node runs (Cilium's default is 65536); allocated per entry, not up front. */
  maxEntries: 1 << 20,
  flags: BPF_F_NO_PREALLOC,
} as const;

/** A backend as kube-lb's backend ID table keys it (proto 0 where the line's backends carry none). */
export interface BackendIdKey {
  readonly address: number;
  readonly port: number;
  readonly proto: number;
}

/** A frontend as the services map keys it, minus the slot. */
export interface FrontendKey {
  readonly address: number;
  readonly port: number;
  readonly proto: number;
  readonly scope: number;
}

const S = 'kube_lb_svc_ids_key';

export const idTableKeyCodec: StructCodec<FrontendKey> = {
  struct: S,
  size: ID_TABLE_KEY_SIZE,
  write(v, o, k) {
    putNet32(v, o, checkUint(S, 'address', k.address, 32));
    putNet16(v, o + 4, checkUint(S, 'port', k.port, 16));
    v.setUint8(o + 6, checkUint(S, 'proto', k.proto, 8));
    v.setUint8(o + 7, checkUint(S, 'scope', k.scope, 8));
  },
  read(v, o) {
    return { address: getNet32(v, o), port: getNet16(v, o + 4), proto: v.getUint8(o + 6), scope: v.getUint8(o + 7) };
  },
};

export const idTableValueCodec: StructCodec<number> = {
  struct: 'kube_lb_svc_ids_value',
  size: ID_TABLE_VALUE_SIZE,
  write(v, o, id) {
    putHost32(v, o, checkUint('kube_lb_svc_ids_value', 'service_id', id, 16));
  },
  read(v, o) {
    return getHost32(v, o);
  },
};

const B = 'kube_lb_backend_ids_key';

export const backendIdTableKeyCodec: StructCodec<BackendIdKey> = {
  struct: B,
  size: 8,
  write(v, o, k) {
    putNet32(v, o, checkUint(B, 'address', k.address, 32));
    putNet16(v, o + 4, checkUint(B, 'port', k.port, 16));
    v.setUint8(o + 6, checkUint(B, 'proto', k.proto, 8));
    v.setUint8(o + 7, 0);
  },
  read(v, o) {
    return { address: getNet32(v, o), port: getNet16(v, o + 4), proto: v.getUint8(o + 6) };
  },
};

export const backendIdTableValueCodec: StructCodec<number> = {
  struct: 'kube_lb_backend_ids_value',
  size: 4,
  write(v, o, id) {
    putHost32(v, o, checkUint('kube_lb_backend_ids_value', 'backend_id', id, 32));
  },
  read(v, o) {
    return getHost32(v, o);
  },
};

/**
 * The frontend key as a byte string, derived the same way from an lb4_key (bytes 0–5 and 8–9) and from an
 * ID-table key, so the two can be matched without decoding.
 */
export function frontendKeyOfServiceKey(keys: Uint8Array, off: number): string {
  return String.fromCharCode(
    keys[off]!,
    keys[off + 1]!,
    keys[off + 2]!,
    keys[off + 3]!,
    keys[off + 4]!,
    keys[off + 5]!,
    keys[off + 8]!,
    keys[off + 9]!,
  );
}

export function frontendKeyString(k: FrontendKey): string {
  return String.fromCharCode(
    (k.address >>> 24) & 255,
    (k.address >>> 16) & 255,
    (k.address >>> 8) & 255,
    k.address & 255,
    (k.port >>> 8) & 255,
    k.port & 255,
    k.proto,
    k.scope,
  );
}
