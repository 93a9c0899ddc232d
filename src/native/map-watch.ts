// Typed facade over the addon's map watch (native/src/map_watch.c, native/bpf/map-watch.bpf.c): a BPF program on
// syscall exit reports every bpf(2) update or delete another process makes to the maps named by ID, and counts
// all of them. The addon consumes the ring buffer on a thread of its own (where it also does the write-back of
// maps programs may not write) and hands the events to the event loop through a uv_async wake-up. Opening needs
// root (CAP_BPF + CAP_PERFMON) and a kernel with BTF: callers treat a MapWatchError as "no events here" and poll.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeLbError } from '../shared/errors.ts';
import { BpfMap } from './bpf.ts';
import { loadAddon } from './load.ts';

/** Map IDs one watch can follow (MAX_WATCHED in the BPF program). */
export const MAP_WATCH_SLOTS = 16;
const EVENT_SIZE = 40;
const MAX_KEY = 16;
const COUNTS_SIZE = 24;

/** 'batch': a batch update or delete, reported without its keys. */
export type MapChangeOp = 'update' | 'delete' | 'batch';

export interface MapChangeEvent {
  readonly mapId: number;
  readonly op: MapChangeOp;
  /** The key's bytes (the first 16 for longer keys); empty for a batch. */
  readonly key: Uint8Array;
  /** For a batch: how many elements the kernel handled. */
  readonly count: number;
  /** Process that made the change. */
  readonly tgid: number;
  /** When the kernel completed it: CLOCK_MONOTONIC, as process.hrtime.bigint() in any process on the node. */
  readonly ns: bigint;
  /** A delete the write-back already undid (the entry was kube-lb's, mirrored in its own map), and by whom. */
  readonly writtenBack: WrittenBackBy | undefined;
}

export interface MapChangeCounts {
  /** Successful updates and deletes, kube-lb's own included. */
  readonly changes: number;
  /** Of those, made by another process. */
  readonly foreign: number;
  /** Foreign changes that could not be reported (ring buffer full): the maps must be re-read. */
  readonly dropped: number;
}

interface NativeMapWatch {
  mapWatchOpen(
    objectPath: string,
    selfTgid: number,
    onEvents: (events: Buffer & { lost?: boolean }) => void,
    writeBackFds?: Int32Array,
  ): unknown;
  mapWatchOwnFd(handle: unknown, role: number): number;
  mapWatchWriteBackIds(handle: unknown): Uint32Array;
  mapWatchSet(handle: unknown, ids: Uint32Array): void;
  mapWatchCounters(handle: unknown, out: Buffer): void;
  mapWatchConsumerNice(handle: unknown): { nice: number; errno?: number; code?: string };
  mapWatchAddonWriteBacks(handle: unknown): { count: number; over1ms: number; maxNs: number };
  mapWatchDrain(handle: unknown): (Buffer & { lost?: boolean }) | undefined;
  mapWatchClose(handle: unknown): void;
}

/** The map watch could not start here; `message` says why in libbpf's and the kernel's words. */
export class MapWatchError extends KubeLbError {
  constructor(message: string, cause?: unknown) {
    super('MAP_WATCH_UNAVAILABLE', message, { cause });
  }
}

const here = dirname(fileURLToPath(import.meta.url));
const OBJECT_CANDIDATES = [
  process.env.KUBE_LB_MAP_WATCH_OBJECT,
  join(here, '../../native/build/Release/map-watch.bpf.o'),
  join(here, '../../../native/build/Release/map-watch.bpf.o'), // from dist/src/native
].filter((p): p is string => typeof p === 'string');

function native(): NativeMapWatch {
  const addon = loadAddon() as Partial<NativeMapWatch>;
  if (typeof addon.mapWatchOpen !== 'function') {
    throw new MapWatchError('the native addon has no map watch; rebuild it (npm run setup)');
  }
  return addon as NativeMapWatch;
}

const OPS: Record<number, MapChangeOp> = { 1: 'update', 2: 'delete', 3: 'batch' };
/** event.flags: who already undid a delete (map-watch.bpf.c, map_watch.c). */
const FLAG_WRITTEN_BACK_KERNEL = 1;
const FLAG_WRITTEN_BACK_ADDON = 2;

function writtenBackBy(flags: number): WrittenBackBy | undefined {
  if (flags & FLAG_WRITTEN_BACK_KERNEL) return 'kernel';
  if (flags & FLAG_WRITTEN_BACK_ADDON) return 'addon';
  return undefined;
}

/**
 * Who put a deleted entry back before JavaScript saw its event: the program itself, in the deleting process's
 * syscall exit, or the addon as it consumed the event (for maps programs may not write).
 */
export type WrittenBackBy = 'kernel' | 'addon';

/** The maps the kernel write-back covers, in the order of the program's `writeback` map. */
export const WRITE_BACK_ROLES = ['services', 'backends', 'revNat'] as const;
export type WriteBackRole = (typeof WRITE_BACK_ROLES)[number];

/** Reads the packed events (layout: struct event in map-watch.bpf.c). */
export function decodeMapChangeEvents(buf: Uint8Array): MapChangeEvent[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: MapChangeEvent[] = [];
  for (let o = 0; o + EVENT_SIZE <= buf.byteLength; o += EVENT_SIZE) {
    const keySize = Math.min(view.getUint8(o + 9), MAX_KEY);
    out.push({
      mapId: view.getUint32(o, true),
      tgid: view.getUint32(o + 4, true),
      op: OPS[view.getUint8(o + 8)] ?? 'batch',
      count: view.getUint32(o + 12, true),
      ns: view.getBigUint64(o + 16, true),
      writtenBack: writtenBackBy(view.getUint16(o + 10, true)),
      key: buf.slice(o + 24, o + 24 + keySize),
    });
  }
  return out;
}

export interface MapWatchOptions {
  /** The BPF object; by default the one built next to the addon. */
  readonly objectPath?: string;
  /** The maps whose deleted entries are put back from the mirror (ownMap); none by default. */
  readonly writeBack?: Partial<Record<WriteBackRole, { readonly fd: number }>>;
}

/** The consumer thread's priority: its nice value, and why a higher one was refused. */
export interface ConsumerPriority {
  readonly nice: number;
  readonly refused?: string;
}

/**
 * The entries the addon wrote back (maps programs may not write: Cilium's services map), and how long after the
 * deleting syscall returned: the time a packet could find the entry missing.
 */
export interface AddonWriteBacks {
  readonly count: number;
  /** Write-backs that came more than 1 ms after the delete. */
  readonly over1ms: number;
  /** The longest gap, ms. */
  readonly maxMs: number;
}

export type MapChangeListener = (events: readonly MapChangeEvent[], lost: boolean) => void;

export class MapWatch {
  #handle: unknown;
  readonly #api: NativeMapWatch;
  readonly #counts = Buffer.alloc(MAP_WATCH_SLOTS * COUNTS_SIZE);
  #ids: readonly number[] = [];
  readonly #listeners = new Set<MapChangeListener>();

  private constructor(api: NativeMapWatch, objectPath: string, selfTgid: number, writeBack: Int32Array | undefined) {
    this.#api = api;
    try {
      this.#handle = api.mapWatchOpen(objectPath, selfTgid, (buf) => this.#deliver(buf), writeBack);
    } catch (err) {
      throw new MapWatchError(`cannot load the map watch (${objectPath}): ${(err as Error).message}`, err);
    }
  }

  /**
   * Loads and attaches the programs; throws MapWatchError where that cannot be done. Changes this process makes
   * are counted but not reported.
   */
  static open(options: MapWatchOptions = {}): MapWatch {
    const path = options.objectPath ?? OBJECT_CANDIDATES.find((p) => existsSync(p));
    if (!path)
      throw new MapWatchError(
        `map watch object not found (tried ${OBJECT_CANDIDATES.join(', ')}); run "npm run setup"`,
      );
    const wb = options.writeBack;
    const fds = wb ? Int32Array.from(WRITE_BACK_ROLES, (r) => wb[r]?.fd ?? -1) : undefined;
    return new MapWatch(native(), path, process.pid, fds);
  }

  /**
   * The nice value of the thread that consumes events and writes deleted entries back (-10 when the process may
   * raise it: CAP_SYS_NICE), and why it could not be raised.
   */
  consumerPriority(): ConsumerPriority {
    const r = this.#api.mapWatchConsumerNice(this.#open());
    return r.code === undefined ? { nice: r.nice } : { nice: r.nice, refused: `setpriority: ${r.code}` };
  }

  /** The addon's write-backs since this watch opened. */
  addonWriteBacks(): AddonWriteBacks {
    const r = this.#api.mapWatchAddonWriteBacks(this.#open());
    return { count: r.count, over1ms: r.over1ms, maxMs: r.maxNs / 1e6 };
  }

  /** Follows exactly these map IDs from now on; counters start again from zero. */
  watch(ids: readonly number[]): void {
    if (ids.length > MAP_WATCH_SLOTS)
      throw new MapWatchError(`at most ${MAP_WATCH_SLOTS} maps can be watched, asked for ${ids.length}`);
    this.#api.mapWatchSet(this.#open(), Uint32Array.from(ids));
    this.#ids = [...ids];
  }

  /** Counts per watched map ID since watch(). */
  counts(): Map<number, MapChangeCounts> {
    this.#api.mapWatchCounters(this.#open(), this.#counts);
    const out = new Map<number, MapChangeCounts>();
    this.#ids.forEach((id, slot) => {
      const o = slot * COUNTS_SIZE;
      out.set(id, {
        changes: Number(this.#counts.readBigUInt64LE(o)),
        foreign: Number(this.#counts.readBigUInt64LE(o + 8)),
        dropped: Number(this.#counts.readBigUInt64LE(o + 16)),
      });
    });
    return out;
  }

  /** The roles the write-back covers (by the program, or by the addon where programs may not write the map). */
  writeBackRoles(): WriteBackRole[] {
    const ids = this.#api.mapWatchWriteBackIds(this.#open());
    return WRITE_BACK_ROLES.filter((_, i) => ids[i] !== 0);
  }

  /**
   * The program's mirror of kube-lb's own entries of one map of the write-back (a new descriptor: close it). What
   * it holds goes back into the real map as soon as another process deletes it there.
   */
  ownMap(role: WriteBackRole): BpfMap {
    const fd = this.#api.mapWatchOwnFd(this.#open(), WRITE_BACK_ROLES.indexOf(role));
    return BpfMap.fromOwnedFd(fd, `map watch own_${role}`);
  }

  /** Delivers what the consumer thread has queued now, without waiting for the event loop's wake-up. */
  drain(): void {
    const buf = this.#api.mapWatchDrain(this.#open());
    if (buf) this.#deliver(buf);
  }

  onEvents(listener: MapChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    if (this.#handle === undefined) return;
    this.#api.mapWatchClose(this.#handle);
    this.#handle = undefined;
    this.#listeners.clear();
  }

  #open(): unknown {
    if (this.#handle === undefined) throw new MapWatchError('map watch is closed');
    return this.#handle;
  }

  #deliver(buf: Buffer & { lost?: boolean }): void {
    const events = decodeMapChangeEvents(buf);
    const lost = buf.lost === true;
    for (const l of this.#listeners) l(events, lost);
  }
}
