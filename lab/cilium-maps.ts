// Maps shaped exactly like the ones the Cilium agent pins in /sys/fs/bpf/tc/globals (names, types, key and
// value sizes, flags), created in a private bpffs directory so tests and benchmarks can run the reconciler and
// the test datapath against them. Shapes are the same in 1.14–1.19; the profile only decides what the test
// datapath does with them (test/datapath/loader.ts).
import { join } from 'node:path';
import { BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG, BPF_MAP_TYPE } from '../src/core/bpf/uapi.ts';
import { DEFAULT_LB_MAP_MAX_ENTRIES, LB4_MAPS, type Lb4MapRole, type Lb4MapShape } from '../src/core/lb4/maps.ts';
import { MAGLEV_INNER_KEY_SIZE, maglevInnerValueSize } from '../src/core/lb4/maglev.ts';
import type { Lb4Profile } from '../src/core/lb4/profile.ts';
import { BpfMap } from '../src/native/bpf.ts';

export interface CiliumMapsOptions {
  readonly profile: Lb4Profile;
  /** Create cilium_lb4_maglev with inner tables of this size (bpf-lb-algorithm=maglev). */
  readonly maglevTableSize?: number;
  /** cilium_lb4_source_range (EnableSVCSourceRangeCheck); default true. */
  readonly sourceRange?: boolean;
  /** cilium_lb4_affinity and cilium_lb_affinity_match (session affinity); default true. */
  readonly affinity?: boolean;
  /** --bpf-lb-map-max; default 65536. */
  readonly maxEntries?: number;
  /** bpf.preallocateMaps (Helm default false: HASH maps get BPF_F_NO_PREALLOC). */
  readonly preallocate?: boolean;
}

export interface CiliumMaps {
  readonly dir: string;
  readonly profile: Lb4Profile;
  readonly maglevTableSize: number | undefined;
  /** Pinned path of each map created. */
  readonly paths: Partial<Record<Lb4MapRole, string>>;
}

function flagsFor(shape: Lb4MapShape, preallocate: boolean): number {
  switch (shape.type) {
    case BPF_MAP_TYPE.LPM_TRIE:
      return BPF_F_NO_PREALLOC; // the kernel requires it
    case BPF_MAP_TYPE.HASH:
    case BPF_MAP_TYPE.HASH_OF_MAPS:
      return preallocate ? 0 : BPF_F_NO_PREALLOC;
    default:
      return 0;
  }
}

/** Creates and pins the maps in `dir` (a bpffs directory); returns their paths. File descriptors are closed. */
export function createCiliumMaps(dir: string, options: CiliumMapsOptions): CiliumMaps {
  const maxEntries = options.maxEntries ?? DEFAULT_LB_MAP_MAX_ENTRIES;
  const preallocate = options.preallocate ?? false;
  const roles: Lb4MapRole[] = ['services', 'backends', 'revNat'];
  if (options.sourceRange ?? true) roles.push('sourceRange');
  if (options.affinity ?? true) roles.push('affinity', 'affinityMatch');
  if (options.maglevTableSize !== undefined) roles.push('maglev');
  const paths: Partial<Record<Lb4MapRole, string>> = {};
  for (const role of roles) {
    const shape = LB4_MAPS[role];
    let inner: BpfMap | undefined;
    if (role === 'maglev') {
      // The template that fixes every inner table's shape (Cilium's cilium_maglev_inner spec).
      inner = BpfMap.create({
        type: BPF_MAP_TYPE.ARRAY,
        keySize: MAGLEV_INNER_KEY_SIZE,
        valueSize: maglevInnerValueSize(options.maglevTableSize!),
        maxEntries: 1,
        flags: 0,
        name: 'cilium_maglev_inner',
      });
    }
    try {
      const map = BpfMap.create({
        type: shape.type,
        keySize: shape.keySize,
        valueSize: shape.valueSize,
        maxEntries,
        // Cilium's agent makes its services map read-only to programs (flags 0x80 on 1.20.2); so does the lab,
        // since the kernel write-back must then leave it to the events.
        flags: flagsFor(shape, preallocate) | (role === 'services' ? BPF_F_RDONLY_PROG : 0),
        name: shape.name,
        ...(inner ? { innerMap: inner } : {}),
      });
      try {
        const path = join(dir, shape.name);
        map.pin(path);
        paths[role] = path;
      } finally {
        map.close();
      }
    } finally {
      inner?.close();
    }
  }
  return { dir, profile: options.profile, maglevTableSize: options.maglevTableSize, paths };
}
