// Kernel BPF ABI constants (include/uapi/linux/bpf.h) that kube-lb's pure code and the native facade share.

/** Map types kube-lb creates or checks. */
export const BPF_MAP_TYPE = {
  HASH: 1,
  ARRAY: 2,
  LRU_HASH: 9,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
} as const;

const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [BPF_MAP_TYPE.HASH, 'hash'],
  [BPF_MAP_TYPE.ARRAY, 'array'],
  [BPF_MAP_TYPE.LRU_HASH, 'lru_hash'],
  [BPF_MAP_TYPE.LPM_TRIE, 'lpm_trie'],
  [BPF_MAP_TYPE.ARRAY_OF_MAPS, 'array_of_maps'],
  [BPF_MAP_TYPE.HASH_OF_MAPS, 'hash_of_maps'],
]);

export function mapTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `type-${type}`;
}

/** Map creation flags. */
export const BPF_F_NO_PREALLOC = 1 << 0;
/** Programs may only read the map (Cilium creates its services map so, as seen on 1.20.2). */
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_RDONLY = 1 << 3;

/** Element update flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
