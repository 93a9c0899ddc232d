// kube-lb's own pinned map beside Cilium's: which frontends (lb4_key without the slot) are kube-lb's and
// their service IDs. It is what makes an entry "ours", and it survives speaker restarts (a bpffs pin lives as
// long as Cilium's maps do). Cilium's map sweeper only removes names it knows, all starting with "cilium_".
//   key (8 bytes):  0 address (NBO) | 4 port (NBO) | 6 proto | 7 scope      value (4 bytes): service ID (host)
import { BPF_MAP_TYPE } from '../bpf/uapi.ts';
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
} as const;

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
