// The exact bytes kube-lb wants in each map for a set of frontends whose IDs are decided: the "desired image".
// The planner diffs it against what the maps hold. Keys are byte strings (packed.ts), values raw bytes.
import { bytesKey } from '../bpf/packed.ts';
import { affinityMatchKeyCodec } from '../lb4/affinity-match.ts';
import { backendIdCodec, lb4BackendCodec } from '../lb4/backend.ts';
import { encode } from '../lb4/codec.ts';
import { LB_VIP_FLAGS, SVC_FLAG, SVC_FLAG2 } from '../lb4/flags.ts';
import { encodeMaglevTable } from '../lb4/maglev.ts';
import { lb4ReverseNatCodec, revNatKeyCodec } from '../lb4/reverse-nat.ts';
import { LB_LOOKUP_SCOPE, lb4KeyCodec } from '../lb4/service-key.ts';
import { lb4ServiceCodec, packAffinity, type Lb4Service } from '../lb4/service-value.ts';
import { sourceRangeKeyCodec } from '../lb4/source-range.ts';
import type { Lb4Profile } from '../lb4/profile.ts';
import { maglevTable } from '../maglev/table.ts';
import type { Frontend } from './frontend.ts';
import { idTableKeyCodec, idTableValueCodec } from './id-table.ts';
import { tableDigest } from './maglev-digest.ts';

export interface MaglevWant {
  readonly bytes: Uint8Array;
  readonly digest: string;
}

export interface DesiredImage {
  readonly idTable: Map<string, Uint8Array>;
  readonly backends: Map<string, Uint8Array>;
  readonly services: Map<string, Uint8Array>;
  readonly revNat: Map<string, Uint8Array>;
  readonly sourceRange: Map<string, Uint8Array>;
  readonly affinityMatch: Map<string, Uint8Array>;
  /** Service ID → lookup table, for services with at least one active backend when maglev is on. */
  readonly maglev: Map<number, MaglevWant>;
}

export interface ImageOptions {
  readonly profile: Lb4Profile;
  readonly maglev: { readonly tableSize: number; readonly seed: number } | undefined;
  /** Write affinity-match entries (the map exists). */
  readonly affinityMatch: boolean;
}

/** A frontend with its service ID, the backend ID of each of its backends (same order) and what it enables. */
export interface AssignedFrontend {
  readonly frontend: Frontend;
  readonly serviceId: number;
  readonly backendIds: readonly number[];
  readonly affinity: boolean;
}

const ZERO_BYTE = new Uint8Array(1);

/** Master flags: a routable LoadBalancer VIP, plus what the frontend asks for. */
export function masterFlags(a: AssignedFrontend, profile: Lb4Profile): number {
  const f = a.frontend;
  let flags = LB_VIP_FLAGS;
  if (a.affinity) flags |= SVC_FLAG.AFFINITY;
  if (f.sourceRanges.length > 0) flags |= SVC_FLAG.SOURCE_RANGE;
  if (f.localScope && !profile.datapathReadsLocalScope) flags |= SVC_FLAG.EXT_LOCAL_SCOPE;
  return flags;
}

function slotFlags(profile: Lb4Profile, active: boolean, master: Lb4Service): [number, number] {
  switch (profile.slotFlags) {
    case 'zero':
      return [0, 0];
    case 'quarantine':
      return [0, active ? 0 : SVC_FLAG2.QUARANTINED_OR_DENY];
    case 'master':
      return [master.flags, master.flags2];
  }
}

/** Memo of maglev tables by their inputs, so a periodic re-plan does not recompute unchanged tables. */
export type MaglevMemo = Map<string, MaglevWant>;

export function buildImage(assigned: readonly AssignedFrontend[], options: ImageOptions, memo: MaglevMemo): DesiredImage {
  const { profile } = options;
  const serviceCodec = lb4ServiceCodec(profile);
  const backendCodec = lb4BackendCodec(profile);
  const image: DesiredImage = {
    idTable: new Map(),
    backends: new Map(),
    services: new Map(),
    revNat: new Map(),
    sourceRange: new Map(),
    affinityMatch: new Map(),
    maglev: new Map(),
  };
  const usedMemo = new Set<string>();
  for (const a of assigned) {
    const f = a.frontend;
    const key = { address: f.address, port: f.port, proto: f.keyProto, scope: LB_LOOKUP_SCOPE.EXT };
    const idKey = encode(idTableKeyCodec, key);
    image.idTable.set(bytesKey(idKey, 0, idKey.length), encode(idTableValueCodec, a.serviceId));

    const master: Lb4Service = {
      union: a.affinity ? packAffinity(profile, { timeoutSeconds: f.affinityTimeout ?? 0, algorithm: 0 }) : 0,
      count: f.activeCount,
      revNat: a.serviceId,
      flags: masterFlags(a, profile),
      flags2: 0,
      qcount: profile.serviceTail === 'qcount' ? f.backends.length - f.activeCount : 0,
    };
    const setService = (slot: number, value: Lb4Service): void => {
      const k = encode(lb4KeyCodec, { ...key, slot });
      image.services.set(bytesKey(k, 0, k.length), encode(serviceCodec, value));
    };
    f.backends.forEach((b, i) => {
      const id = a.backendIds[i]!;
      const k = encode(backendIdCodec, id);
      const entryProto = profile.backendProto === 'l4' ? b.proto : 0;
      image.backends.set(
        bytesKey(k, 0, k.length),
        encode(backendCodec, { address: b.address, port: b.port, proto: entryProto, state: b.state, clusterId: 0, zone: 0 }),
      );
      const [flags, flags2] = slotFlags(profile, b.state === 0, master);
      setService(i + 1, { union: id, count: 0, revNat: a.serviceId, flags, flags2, qcount: 0 });
      if (a.affinity) {
        const mk = encode(affinityMatchKeyCodec, { backendId: id, revNat: a.serviceId });
        image.affinityMatch.set(bytesKey(mk, 0, mk.length), ZERO_BYTE);
      }
    });
    setService(0, master);

    const rk = encode(revNatKeyCodec, a.serviceId);
    image.revNat.set(bytesKey(rk, 0, rk.length), encode(lb4ReverseNatCodec, { address: f.address, port: f.port }));

    for (const cidr of f.sourceRanges) {
      const sk = encode(sourceRangeKeyCodec, { revNat: a.serviceId, address: cidr.address, bits: cidr.bits });
      image.sourceRange.set(bytesKey(sk, 0, sk.length), ZERO_BYTE);
    }

    if (options.maglev && f.activeCount > 0) {
      const { tableSize, seed } = options.maglev;
      const active = f.backends.slice(0, f.activeCount).map((b, i) => ({ name: b.name, id: a.backendIds[i]!, weight: b.weight }));
      const memoKey = `${tableSize}/${seed}/${active.map((b) => `${b.name}=${b.id}*${b.weight}`).join(',')}`;
      let want = memo.get(memoKey);
      if (!want) {
        const bytes = encodeMaglevTable(maglevTable(active, tableSize, seed));
        want = { bytes, digest: tableDigest(bytes) };
        memo.set(memoKey, want);
      }
      usedMemo.add(memoKey);
      image.maglev.set(a.serviceId, want);
    }
  }
  for (const k of memo.keys()) if (!usedMemo.has(k)) memo.delete(k);
  return image;
}
