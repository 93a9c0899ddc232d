// The exact bytes kube-lb wants in each map for a set of frontends whose IDs are decided: the "desired image",
// written straight into packed buffers (one per map, indexed by key bytes) that the planner diffs against
// what the maps hold and slices into batches.
import { EntryTable } from '../bpf/packed.ts';
import { AFFINITY_MATCH_KEY_SIZE, AFFINITY_MATCH_VALUE_SIZE, affinityMatchKeyCodec } from '../lb4/affinity-match.ts';
import { BACKEND_ID_SIZE, backendIdCodec, LB4_BACKEND_SIZE, lb4BackendCodec, type Lb4Backend } from '../lb4/backend.ts';
import type { StructCodec } from '../lb4/codec.ts';
import { LB_VIP_FLAGS, SVC_FLAG, SVC_FLAG2 } from '../lb4/flags.ts';
import { encodeMaglevTable } from '../lb4/maglev.ts';
import { LB4_REVERSE_NAT_SIZE, lb4ReverseNatCodec, REV_NAT_KEY_SIZE, revNatKeyCodec } from '../lb4/reverse-nat.ts';
import { LB4_KEY_OFFSETS, LB4_KEY_SIZE, LB_LOOKUP_SCOPE, lb4KeyCodec } from '../lb4/service-key.ts';
import {
  LB4_SERVICE_OFFSETS,
  LB4_SERVICE_SIZE,
  lb4ServiceCodec,
  packAffinity,
  type Lb4Service,
} from '../lb4/service-value.ts';
import { putHost16, putHost32 } from '../lb4/bytes.ts';
import { SRC_RANGE_KEY_SIZE, SRC_RANGE_VALUE_SIZE, sourceRangeKeyCodec } from '../lb4/source-range.ts';
import type { Lb4Profile } from '../lb4/profile.ts';
import { algorithmCode, type LbAlgorithm } from '../cilium/config.ts';
import { maglevTable } from '../maglev/table.ts';
import { backendHashedId, backendMaglevName, type Frontend } from './frontend.ts';
import {
  BACKEND_ID_TABLE_SHAPE,
  backendIdTableKeyCodec,
  backendIdTableValueCodec,
  ID_TABLE_KEY_SIZE,
  ID_TABLE_VALUE_SIZE,
  idTableKeyCodec,
  idTableValueCodec,
} from './id-table.ts';
import { tableDigest } from './maglev-digest.ts';
import { assertNever } from '../../shared/errors.ts';

export interface MaglevWant {
  readonly bytes: Uint8Array;
  readonly digest: string;
}

/** Per map, the entries kube-lb wants, packed, each indexed by its key bytes. */
export interface DesiredImage {
  readonly idTable: EntryTable;
  readonly backendIdTable: EntryTable;
  readonly backends: EntryTable;
  readonly services: EntryTable;
  readonly revNat: EntryTable;
  readonly sourceRange: EntryTable;
  readonly affinityMatch: EntryTable;
  /** Service ID → lookup table, for services with at least one active backend when maglev is on. */
  readonly maglev: Map<number, MaglevWant>;
}

export interface ImageOptions {
  readonly profile: Lb4Profile;
  /** The node's backend selection, written into every master's algorithm byte (1.17+). */
  readonly algorithm: LbAlgorithm;
  readonly maglev: { readonly tableSize: number; readonly seed: number } | undefined;
  /** Write affinity-match entries (the map exists). */
  readonly affinityMatch: boolean;
}

/** A frontend with its service ID, the backend ID of each of its backends (same order) and what it enables. */
export interface AssignedFrontend {
  readonly frontend: Frontend;
  readonly serviceId: number;
  readonly backendIds: readonly number[];
  /** 1 where this frontend is the first of the plan to use the backend: its entry is written there, once. */
  readonly firstUse: Uint8Array;
  readonly affinity: boolean;
}

/** The u8 value of the source-range and affinity-match maps: always 0. */
const zeroByte: StructCodec<number> = {
  struct: 'u8',
  size: 1,
  write(v, o) {
    v.setUint8(o, 0);
  },
  read(v, o) {
    return v.getUint8(o);
  },
};

function put<K, V>(t: EntryTable, keyCodec: StructCodec<K>, key: K, valueCodec: StructCodec<V>, value: V): void {
  const i = t.push();
  keyCodec.write(t.keyView, i * t.keySize, key);
  valueCodec.write(t.valueView, i * t.valueSize, value);
}

/** Copies entry `from` of a table over entry `to` (key and value). */
function copyEntry(t: EntryTable, from: number, to: number): void {
  const { keySize, valueSize, keys, values } = t;
  keys.copyWithin(to * keySize, from * keySize, (from + 1) * keySize);
  values.copyWithin(to * valueSize, from * valueSize, (from + 1) * valueSize);
}

/** Master flags: a routable LoadBalancer VIP, plus what the frontend asks for. */
export function masterFlags(a: AssignedFrontend, profile: Lb4Profile): number {
  const f = a.frontend;
  let flags = LB_VIP_FLAGS;
  if (a.affinity) flags |= SVC_FLAG.AFFINITY;
  if (f.sourceRanges.length > 0) flags |= SVC_FLAG.SOURCE_RANGE;
  if (f.localScope && !profile.datapathReadsLocalScope) flags |= SVC_FLAG.EXT_LOCAL_SCOPE;
  return flags;
}

/** Byte 0 (flags) or 1 (flags2) of a slot entry, as this Cilium version writes slots. */
function slotFlagsOf(profile: Lb4Profile, active: boolean, master: Lb4Service, which: 0 | 1): number {
  switch (profile.slotFlags) {
    case 'zero':
      return 0;
    case 'quarantine':
      return which === 1 && !active ? SVC_FLAG2.QUARANTINED_OR_DENY : 0;
    case 'master':
      return which === 0 ? master.flags : master.flags2;
    default:
      return assertNever(profile.slotFlags, 'slotFlags');
  }
}

// The scratch structs are classes, not object literals: V8 gives literals with the same number of properties one
// hidden-class chain, so the first write into a literal scratch struct marked the fields of every Backend object
// ({address, port, proto, ...}, five properties like the slot key) as mutable, and threw away the optimized code
// of the planner and normalisation that had assumed them constant, during the first pass (four deopts and their
// recompiles, on a cold start with two cores). Fields that take IDs or IPv4 addresses start as doubles (kube-lb's
// backend IDs are above 2^31, and so are addresses from 128.0.0.0): a field that starts as a small integer and then
// gets a double changes representation, and the code that wrote it is thrown away once more.
const DOUBLE = 2 ** 31;
class SlotKeyScratch {
  address = DOUBLE;
  port = 0;
  proto = 0;
  scope: number = LB_LOOKUP_SCOPE.EXT;
  slot = 0;
}
class SlotValueScratch {
  union = DOUBLE;
  count = 0;
  revNat = 0;
  flags = 0;
  flags2 = 0;
  qcount = 0;
}
class BackendValueScratch {
  address = DOUBLE;
  port = 0;
  proto = 0;
  state = 0;
  clusterId = 0;
  zone = 0;
}
class MatchKeyScratch {
  backendId = DOUBLE;
  revNat = 0;
}
class RevNatValueScratch {
  address = DOUBLE;
  port = 0;
}

/** Memo of maglev tables by their inputs, so a periodic re-plan does not recompute unchanged tables. */
export type MaglevMemo = Map<string, MaglevWant>;

/** How many entries each table of an image holds: where a chunk of frontends starts and ends. */
export type ImageMarks = Readonly<
  Record<'idTable' | 'backendIdTable' | 'backends' | 'services' | 'revNat' | 'sourceRange' | 'affinityMatch', number>
>;

/**
 * Builds a desired image frontend by frontend, in chunks: each chunk's entries are final once endChunk()
 * returns (its masters follow its slots), so the planner can diff and hand them to the writer while the next
 * chunk is built.
 */
export class ImageBuilder {
  readonly image: DesiredImage;
  readonly #options: ImageOptions;
  readonly #memo: MaglevMemo;
  readonly #usedMemo = new Set<string>();
  readonly #serviceCodec: StructCodec<Lb4Service>;
  readonly #backendCodec: StructCodec<Lb4Backend>;
  /** The node's own algorithm, never 0: 1.17's datapath selects no backend for 0 under per-service selection. */
  readonly #algorithm: number;
  /** This chunk's masters, written by endChunk() after its slots: their keys (slot 0) and values, in order. */
  #masterKeys: Array<{ address: number; port: number; proto: number; scope: number; slot: number }> = [];
  #masterValues: Lb4Service[] = [];
  // Scratch structs, rewritten for every entry (hundreds of thousands of entries, no garbage).
  readonly #slotKey = new SlotKeyScratch();
  readonly #slotValue = new SlotValueScratch();
  readonly #backendValue = new BackendValueScratch();
  readonly #matchKey = new MatchKeyScratch();
  readonly #revNatValue = new RevNatValueScratch();

  /** `capacity`: how many frontends and slots are coming, so the tables are allocated once. */
  constructor(options: ImageOptions, memo: MaglevMemo, capacity: { frontends: number; slots: number }) {
    const { profile } = options;
    this.#options = options;
    this.#memo = memo;
    this.#algorithm = profile.affinityUnion === 'timeout24-algorithm8' ? algorithmCode(options.algorithm) : 0;
    this.#serviceCodec = lb4ServiceCodec(profile);
    this.#backendCodec = lb4BackendCodec(profile);
    const { frontends, slots } = capacity;
    this.image = {
      idTable: new EntryTable(ID_TABLE_KEY_SIZE, ID_TABLE_VALUE_SIZE, frontends),
      backendIdTable: new EntryTable(BACKEND_ID_TABLE_SHAPE.keySize, BACKEND_ID_TABLE_SHAPE.valueSize),
      backends: new EntryTable(BACKEND_ID_SIZE, LB4_BACKEND_SIZE, slots),
      services: new EntryTable(LB4_KEY_SIZE, LB4_SERVICE_SIZE, slots + frontends),
      revNat: new EntryTable(REV_NAT_KEY_SIZE, LB4_REVERSE_NAT_SIZE, frontends),
      sourceRange: new EntryTable(SRC_RANGE_KEY_SIZE, SRC_RANGE_VALUE_SIZE),
      affinityMatch: new EntryTable(AFFINITY_MATCH_KEY_SIZE, AFFINITY_MATCH_VALUE_SIZE),
      maglev: new Map(),
    };
  }

  marks(): ImageMarks {
    const i = this.image;
    return {
      idTable: i.idTable.count,
      backendIdTable: i.backendIdTable.count,
      backends: i.backends.count,
      services: i.services.count,
      revNat: i.revNat.count,
      sourceRange: i.sourceRange.count,
      affinityMatch: i.affinityMatch.count,
    };
  }

  add(a: AssignedFrontend): void {
    const { profile } = this.#options;
    const image = this.image;
    const slotKey = this.#slotKey;
    const slotValue = this.#slotValue;
    const backendValue = this.#backendValue;
    const matchKey = this.#matchKey;
    const f = a.frontend;
    // The master's key, and the ID table's (which reads all but the slot).
    const masterKey = { address: f.address, port: f.port, proto: f.keyProto, scope: LB_LOOKUP_SCOPE.EXT, slot: 0 };
    put(image.idTable, idTableKeyCodec, masterKey, idTableValueCodec, a.serviceId);

    const master: Lb4Service = {
      union: packAffinity(profile, {
        timeoutSeconds: a.affinity ? (f.affinityTimeout ?? 0) : 0,
        algorithm: this.#algorithm,
      }),
      count: f.activeCount,
      revNat: a.serviceId,
      flags: masterFlags(a, profile),
      flags2: 0,
      qcount: profile.serviceTail === 'qcount' ? f.backendCount - f.activeCount : 0,
    };
    slotKey.address = f.address;
    slotKey.port = f.port;
    slotKey.proto = f.keyProto;
    slotValue.revNat = a.serviceId;
    matchKey.revNat = a.serviceId;
    const backends = image.backends;
    const services = image.services;
    let firstSlot = -1;
    const fb = f.backends;
    for (let i = 0; i < fb.length; i++) {
      const b = fb[i]!;
      const id = a.backendIds[i]!;
      // A backend shared by several frontends is one entry: the first frontend's view of its state wins.
      if (a.firstUse[i] === 1) {
        backendValue.address = b.address;
        backendValue.port = b.port;
        backendValue.proto = profile.backendProto === 'l4' ? b.proto : 0;
        backendValue.state = b.state;
        const e = backends.push();
        backendIdCodec.write(backends.keyView, e * backends.keySize, id);
        this.#backendCodec.write(backends.valueView, e * backends.valueSize, backendValue);
        // Only a backend that could not take its hashed ID needs a record to get the same ID next time.
        if (id !== backendHashedId(b, profile))
          put(image.backendIdTable, backendIdTableKeyCodec, backendValue, backendIdTableValueCodec, id);
      }
      const flags = slotFlagsOf(profile, b.state === 0, master, 0);
      const flags2 = slotFlagsOf(profile, b.state === 0, master, 1);
      const e = services.push();
      if (firstSlot < 0) {
        slotKey.slot = i + 1;
        slotValue.union = id;
        slotValue.flags = flags;
        slotValue.flags2 = flags2;
        lb4KeyCodec.write(services.keyView, e * LB4_KEY_SIZE, slotKey);
        this.#serviceCodec.write(services.valueView, e * LB4_SERVICE_SIZE, slotValue);
        firstSlot = e;
      } else {
        // The frontend's other slots differ from its first only in slot number, backend ID and flags.
        copyEntry(services, firstSlot, e);
        putHost16(services.keyView, e * LB4_KEY_SIZE + LB4_KEY_OFFSETS.backendSlot, i + 1);
        const v = e * LB4_SERVICE_SIZE;
        putHost32(services.valueView, v + LB4_SERVICE_OFFSETS.union, id);
        services.valueView.setUint8(v + LB4_SERVICE_OFFSETS.flags, flags);
        services.valueView.setUint8(v + LB4_SERVICE_OFFSETS.flags2, flags2);
      }
      // As Cilium writes them: the datapath follows an affinity entry without looking at the backend's state,
      // so a match entry for a draining backend would keep sending new flows of that client to it.
      if (a.affinity && b.state === 0) {
        matchKey.backendId = id;
        put(image.affinityMatch, affinityMatchKeyCodec, matchKey, zeroByte, 0);
      }
    }
    this.#masterKeys.push(masterKey);
    this.#masterValues.push(master);
    const revNatValue = this.#revNatValue;
    revNatValue.address = f.address;
    revNatValue.port = f.port;
    put(image.revNat, revNatKeyCodec, a.serviceId, lb4ReverseNatCodec, revNatValue);
    for (const cidr of f.sourceRanges) {
      put(
        image.sourceRange,
        sourceRangeKeyCodec,
        { revNat: a.serviceId, address: cidr.address, bits: cidr.bits },
        zeroByte,
        0,
      );
    }

    const { maglev } = this.#options;
    if (maglev && f.activeCount > 0) {
      const { tableSize, seed } = maglev;
      const active = f.backends
        .slice(0, f.activeCount)
        .map((b, i) => ({ name: backendMaglevName(b, profile), id: a.backendIds[i]!, weight: b.weight }));
      const memoKey = `${tableSize}/${seed}/${active.map((b) => `${b.name}=${b.id}*${b.weight}`).join(',')}`;
      let want = this.#memo.get(memoKey);
      if (!want) {
        const bytes = encodeMaglevTable(maglevTable(active, tableSize, seed));
        want = { bytes, digest: tableDigest(bytes) };
        this.#memo.set(memoKey, want);
      }
      this.#usedMemo.add(memoKey);
      image.maglev.set(a.serviceId, want);
    }
  }

  /** Ends a chunk: its masters go after its slots, so each group is one run of the table, written without copying. */
  endChunk(): void {
    const keys = this.#masterKeys;
    const values = this.#masterValues;
    for (let i = 0; i < keys.length; i++)
      put(this.image.services, lb4KeyCodec, keys[i]!, this.#serviceCodec, values[i]!);
    this.#masterKeys = [];
    this.#masterValues = [];
  }

  /** The whole image; the maglev memo keeps only the tables it uses. */
  finish(): DesiredImage {
    this.endChunk();
    for (const k of this.#memo.keys()) if (!this.#usedMemo.has(k)) this.#memo.delete(k);
    return this.image;
  }
}
