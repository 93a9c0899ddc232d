// What differs between Cilium releases in the lb4 maps, as data. Sizes, map names and types are the same in
// 1.14–1.20; the bytes inside some fields and a few datapath rules are not: each field of Lb4Profile below says
// what changed in which release (the structs are in Cilium's bpf/lib/common.h, from 1.19 in bpf/lib/lb.h; the
// byte order the agent writes in pkg/maps/lbmap/ipv4.go, from 1.18 pkg/loadbalancer/maps/types.go). Every codec
// and the planner take a profile instead of testing versions. 1.20 writes the same
// lb4 structs under the same map names as 1.19 (bpf/lib/lb.h of v1.20.2; its maps only gain
// BPF_F_RDONLY_PROG, which restricts programs, not bpf(2) from user space), so its profile is 1.19's.
// What a node's Cilium *configuration* changes on top of its line (bpf-lb-proto-diff, ...) is applied by
// core/cilium/config.ts, not here.
import { ConfigError } from '../../shared/errors.ts';

export const CILIUM_VERSIONS = ['1.14', '1.15', '1.16', '1.17', '1.18', '1.19', '1.20'] as const;
export type CiliumVersion = (typeof CILIUM_VERSIONS)[number];
/** "1.14–1.20", for help texts and messages. */
export const CILIUM_VERSION_RANGE = `${CILIUM_VERSIONS[0]}–${CILIUM_VERSIONS[CILIUM_VERSIONS.length - 1]}`;

export interface Lb4Profile {
  readonly version: CiliumVersion;
  /**
   * What lb4_key.proto holds. 'any': always 0 (1.14–1.16 force 0 on lookup, so a non-zero entry never
   * matches). 'l4': the IP protocol number, as the agent writes it in 1.17+.
   */
  readonly keyProto: 'any' | 'l4';
  /** After an exact-protocol miss the datapath retries with proto 0 (1.17, 1.18 with bpf-lb-proto-diff). */
  readonly protoFallback: boolean;
  /** lb4_backend bytes 8–11: u8 cluster_id + 3 pad (1.14); u16 cluster_id + 2 pad (1.15); + u8 zone (1.16+). */
  readonly backendTail: 'cluster8' | 'cluster16' | 'cluster16-zone';
  /** lb4_backend.proto: 0 (1.14–1.16) or the L4 protocol (1.17+). The datapath never reads it. */
  readonly backendProto: 'zero' | 'l4';
  /** lb4_service bytes 10–11: pad (1.14–1.16) or qcount, the number of non-active slots (1.17+). */
  readonly serviceTail: 'pad' | 'qcount';
  /** Master union at 0: the whole u32 is the affinity timeout, or low 24 bits timeout + high 8 bits algorithm. */
  readonly affinityUnion: 'timeout32' | 'timeout24-algorithm8';
  /** Flag bytes of slot entries: 0; 0 with QUARANTINED on non-active slots (1.17); the master's (1.18+). */
  readonly slotFlags: 'zero' | 'quarantine' | 'master';
  /** flags2 bits 6 (SOURCE_RANGE_DENY / QUARANTINED) and 7 (FWD_MODE_DSR) exist (1.17+). */
  readonly flags2HighBits: boolean;
  /**
   * The datapath reads EXT_LOCAL_SCOPE (1.19). Its backends are then filtered to node-local ones, which the
   * consumer-cluster nodes kube-lb points at never are, so kube-lb does not set the flag on such versions.
   */
  readonly datapathReadsLocalScope: boolean;
  /**
   * The protocol in a backend's maglev hash string: the L4 protocol, or "ANY" where Cilium strips it (1.17 with
   * bpf-lb-proto-diff off; set by core/cilium/config.ts). Not verified for 1.14–1.16 (no sources at hand).
   */
  readonly maglevHashProto: 'l4' | 'any';
}

const BASE = {
  keyProto: 'any',
  protoFallback: false,
  backendProto: 'zero',
  serviceTail: 'pad',
  affinityUnion: 'timeout32',
  slotFlags: 'zero',
  flags2HighBits: false,
  datapathReadsLocalScope: false,
  maglevHashProto: 'l4',
} as const;

const L4 = {
  keyProto: 'l4',
  protoFallback: true,
  backendTail: 'cluster16-zone',
  backendProto: 'l4',
  serviceTail: 'qcount',
  affinityUnion: 'timeout24-algorithm8',
  flags2HighBits: true,
  datapathReadsLocalScope: false,
  maglevHashProto: 'l4',
} as const;

export const PROFILES: Readonly<Record<CiliumVersion, Lb4Profile>> = {
  '1.14': { ...BASE, version: '1.14', backendTail: 'cluster8' },
  '1.15': { ...BASE, version: '1.15', backendTail: 'cluster16' },
  '1.16': { ...BASE, version: '1.16', backendTail: 'cluster16-zone' },
  '1.17': { ...L4, version: '1.17', slotFlags: 'quarantine' },
  '1.18': { ...L4, version: '1.18', slotFlags: 'master' },
  '1.19': { ...L4, version: '1.19', slotFlags: 'master', protoFallback: false, datapathReadsLocalScope: true },
  '1.20': { ...L4, version: '1.20', slotFlags: 'master', protoFallback: false, datapathReadsLocalScope: true },
};

export function isCiliumVersion(value: string): value is CiliumVersion {
  return (CILIUM_VERSIONS as readonly string[]).includes(value);
}

/** The profile for "1.20", "v1.20" or "v1.20.2"; a ConfigError for anything else. */
export function profileFor(version: string, flag = 'cilium-version'): Lb4Profile {
  const m = /^v?(\d+\.\d+)(?:\.\d+)?$/.exec(version.trim());
  const minor = m?.[1];
  if (minor === undefined || !isCiliumVersion(minor)) {
    throw new ConfigError(flag, version, `supported Cilium versions are ${CILIUM_VERSIONS.join(', ')}`);
  }
  return PROFILES[minor];
}

/** The lb4_key.proto value for a frontend of this L4 protocol. */
export function keyProtoFor(profile: Lb4Profile, l4proto: number): number {
  return profile.keyProto === 'l4' ? l4proto : 0;
}
