// The Cilium maps kube-lb reads and writes: pinned names, kernel types, key/value sizes. These are the same
// in 1.14–1.20: types and flags in Cilium's bpf/lib/lb.h; the names filled in by the agent up to 1.17
// (pkg/datapath/linux/config/config.go), written literally in bpf/lib/lb.h from 1.18. max_entries
// (--bpf-lb-map-max) and preallocation (bpf.preallocateMaps) are agent options, so they are reported but never
// required.
import { BPF_MAP_TYPE } from '../bpf/uapi.ts';
import { AFFINITY_MATCH_KEY_SIZE, AFFINITY_MATCH_VALUE_SIZE } from './affinity-match.ts';
import { BACKEND_ID_SIZE, LB4_BACKEND_SIZE } from './backend.ts';
import { MAGLEV_OUTER_KEY_SIZE, MAGLEV_OUTER_VALUE_SIZE } from './maglev.ts';
import { LB4_REVERSE_NAT_SIZE, REV_NAT_KEY_SIZE } from './reverse-nat.ts';
import { LB4_KEY_SIZE } from './service-key.ts';
import { LB4_SERVICE_SIZE } from './service-value.ts';
import { SRC_RANGE_KEY_SIZE, SRC_RANGE_VALUE_SIZE } from './source-range.ts';

export type Lb4MapRole = 'services' | 'backends' | 'revNat' | 'maglev' | 'sourceRange' | 'affinityMatch' | 'affinity';

export interface Lb4MapShape {
  readonly role: Lb4MapRole;
  /** File name under the pin directory (default /sys/fs/bpf/tc/globals). */
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  /** Absent unless Cilium enables the feature; kube-lb then does without it. */
  readonly optional: boolean;
}

export const DEFAULT_MAP_DIR = '/sys/fs/bpf/tc/globals';
/** Cilium's default --bpf-lb-map-max. */
export const DEFAULT_LB_MAP_MAX_ENTRIES = 65536;

export const LB4_MAPS: Readonly<Record<Lb4MapRole, Lb4MapShape>> = {
  services: {
    role: 'services',
    name: 'cilium_lb4_services_v2',
    type: BPF_MAP_TYPE.HASH,
    keySize: LB4_KEY_SIZE,
    valueSize: LB4_SERVICE_SIZE,
    optional: false,
  },
  backends: {
    role: 'backends',
    name: 'cilium_lb4_backends_v3',
    type: BPF_MAP_TYPE.HASH,
    keySize: BACKEND_ID_SIZE,
    valueSize: LB4_BACKEND_SIZE,
    optional: false,
  },
  revNat: {
    role: 'revNat',
    name: 'cilium_lb4_reverse_nat',
    type: BPF_MAP_TYPE.HASH,
    keySize: REV_NAT_KEY_SIZE,
    valueSize: LB4_REVERSE_NAT_SIZE,
    optional: false,
  },
  maglev: {
    role: 'maglev',
    name: 'cilium_lb4_maglev',
    type: BPF_MAP_TYPE.HASH_OF_MAPS,
    keySize: MAGLEV_OUTER_KEY_SIZE,
    valueSize: MAGLEV_OUTER_VALUE_SIZE,
    optional: true,
  },
  sourceRange: {
    role: 'sourceRange',
    name: 'cilium_lb4_source_range',
    type: BPF_MAP_TYPE.LPM_TRIE,
    keySize: SRC_RANGE_KEY_SIZE,
    valueSize: SRC_RANGE_VALUE_SIZE,
    optional: true,
  },
  affinityMatch: {
    role: 'affinityMatch',
    name: 'cilium_lb_affinity_match',
    type: BPF_MAP_TYPE.HASH,
    keySize: AFFINITY_MATCH_KEY_SIZE,
    valueSize: AFFINITY_MATCH_VALUE_SIZE,
    optional: true,
  },
  affinity: {
    role: 'affinity',
    name: 'cilium_lb4_affinity',
    type: BPF_MAP_TYPE.LRU_HASH,
    keySize: 16,
    valueSize: 16,
    optional: true,
  },
};

/** What an opened map reports about itself (bpf_map_info). */
export interface ObservedMapShape {
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
}

/** Why a map's shape is not the expected one, or undefined when it is. */
export function shapeMismatch(expected: Lb4MapShape, seen: ObservedMapShape): string | undefined {
  const problems: string[] = [];
  if (seen.type !== expected.type) problems.push(`type ${seen.type}, expected ${expected.type}`);
  if (seen.keySize !== expected.keySize) problems.push(`key size ${seen.keySize}, expected ${expected.keySize}`);
  if (seen.valueSize !== expected.valueSize) {
    problems.push(`value size ${seen.valueSize}, expected ${expected.valueSize}`);
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}
