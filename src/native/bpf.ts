// Typed facade over the addon's bpf(2) calls: the only module that touches BPF file descriptors. Errors become
// BpfError (errno name, operation, map path); a BpfMap owns exactly one descriptor and closes it once.
import type { PackedEntries } from '../core/bpf/packed.ts';
import { BPF_ANY, BPF_F_RDONLY, mapTypeName } from '../core/bpf/uapi.ts';
import { KubeLbError } from '../shared/errors.ts';
import { loadAddon } from './load.ts';

// ------------------------------------------------------------------------------------------ addon surface

interface NativeMapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

interface NativeBatchResult {
  count: number;
  done: boolean;
}

/** What native/src/bpf.c registers. Arguments are primitives and Uint8Arrays only. */
interface NativeBpf {
  bpfObjGet(path: string, fileFlags: number): number;
  bpfObjPin(fd: number, path: string): void;
  bpfMapCreate(
    type: number,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    flags: number,
    name: string,
    innerMapFd: number,
  ): number;
  bpfMapGetFdById(id: number): number;
  bpfMapInfo(fd: number): NativeMapInfo;
  bpfClose(fd: number): void;
  bpfMapLookup(fd: number, key: Uint8Array, valueOut: Uint8Array): boolean;
  bpfMapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void;
  bpfMapDelete(fd: number, key: Uint8Array): boolean;
  bpfMapNextKey(fd: number, key: Uint8Array | null, nextOut: Uint8Array): boolean;
  bpfMapLookupBatch(
    fd: number,
    inToken: Uint8Array | null,
    outToken: Uint8Array,
    keysOut: Uint8Array,
    valuesOut: Uint8Array,
    maxCount: number,
  ): NativeBatchResult;
  bpfMapUpdateBatch(fd: number, keys: Uint8Array, values: Uint8Array, count: number, elemFlags: number): number;
  bpfMapDeleteBatch(fd: number, keys: Uint8Array, count: number): number;
  bpfQueueUpdate(
    fd: number,
    keys: Uint8Array,
    values: Uint8Array,
    count: number,
    elemFlags: number,
    level?: number,
  ): number;
  bpfQueueSettle(): { seq: number; code: string; processed: number } | undefined;
}

interface NativeErrorShape {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  processed?: unknown;
}

function native(): NativeBpf {
  const addon = loadAddon() as Partial<NativeBpf>;
  if (typeof addon.bpfObjGet !== 'function') {
    throw new KubeLbError('NATIVE_ADDON_STALE', 'the native addon has no BPF functions; rebuild it (npm run setup)');
  }
  return addon as NativeBpf;
}

// errno values that mean "this map type has no batch operations" (ENOTSUPP is kernel-internal 524).
const NO_BATCH = new Set(['EINVAL', 'EOPNOTSUPP', 'ENOTSUPP', 'E524']);

// ------------------------------------------------------------------------------------------ errors

/** A failed bpf(2) call. `errno` is the errno name ("ENOENT"), `op` the bpf command, `path` the map. */
export class BpfError extends KubeLbError {
  readonly errno: string;
  readonly op: string;
  readonly path: string;
  /** For batch operations: how many elements the kernel handled before failing. */
  readonly processed: number | undefined;

  constructor(op: string, path: string, errno: string, processed: number | undefined, cause: unknown) {
    super('BPF_SYSCALL_FAILED', `${op} on ${path}: ${errno}`, {
      cause,
      object: { kind: 'BPFMap', name: path },
      transient: errno === 'EAGAIN' || errno === 'EBUSY' || errno === 'ENOMEM' || errno === 'EINTR',
    });
    this.errno = errno;
    this.op = op;
    this.path = path;
    this.processed = processed;
  }
}

function wrap(err: unknown, path: string, fallbackOp: string): BpfError {
  if (err instanceof BpfError) return err;
  const shape = (typeof err === 'object' && err !== null ? err : {}) as NativeErrorShape;
  const errno = typeof shape.code === 'string' ? shape.code : 'EUNKNOWN';
  const op = typeof shape.syscall === 'string' ? shape.syscall : fallbackOp;
  const processed = typeof shape.processed === 'number' ? shape.processed : undefined;
  return new BpfError(op, path, errno, processed, err);
}

// ------------------------------------------------------------------------------------------ maps

export interface MapInfo {
  readonly type: number;
  readonly typeName: string;
  readonly id: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly name: string;
}

export interface MapSpec {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** Kernel object name (the kernel keeps 15 characters). */
  name: string;
  /** For map-of-maps types: a template inner map. */
  innerMap?: BpfMap;
}

/** Every entry of a map at one moment: `count` keys and values packed back to back. */
export type MapDump = PackedEntries;

const DUMP_CHUNK = 4096;

/** The map of each queued write not yet settled, by the writer thread's sequence number (for its error). */
const queuedPaths = new Map<number, string>();

/**
 * Waits until the writer thread has written everything queued (BpfMap.queueUpdateMany), and throws the first
 * write that failed since the last settle; the writes queued after it were dropped unwritten.
 */
export function settleQueuedWrites(): void {
  if (queuedPaths.size === 0) return;
  const failure = native().bpfQueueSettle();
  const paths = new Map(queuedPaths);
  queuedPaths.clear();
  if (failure) {
    throw new BpfError(
      'BPF_MAP_UPDATE_BATCH',
      paths.get(failure.seq) ?? 'a queued map write',
      failure.code,
      failure.processed,
      undefined,
    );
  }
}

export class BpfMap {
  readonly path: string;
  readonly info: MapInfo;
  #fd: number;
  #batch: boolean | undefined;
  #api: NativeBpf;

  private constructor(api: NativeBpf, fd: number, path: string) {
    this.#api = api;
    this.#fd = fd;
    this.path = path;
    try {
      const raw = api.bpfMapInfo(fd);
      this.info = { ...raw, typeName: mapTypeName(raw.type) };
    } catch (err) {
      api.bpfClose(fd);
      throw wrap(err, path, 'BPF_OBJ_GET_INFO_BY_FD');
    }
  }

  /** Opens a pinned map. */
  static open(path: string, options: { readOnly?: boolean } = {}): BpfMap {
    const api = native();
    let fd: number;
    try {
      fd = api.bpfObjGet(path, options.readOnly ? BPF_F_RDONLY : 0);
    } catch (err) {
      throw wrap(err, path, 'BPF_OBJ_GET');
    }
    return new BpfMap(api, fd, path);
  }

  /** Creates an unpinned map (pin it with `pin`). */
  static create(spec: MapSpec): BpfMap {
    const api = native();
    let fd: number;
    try {
      fd = api.bpfMapCreate(
        spec.type,
        spec.keySize,
        spec.valueSize,
        spec.maxEntries,
        spec.flags,
        spec.name,
        spec.innerMap ? spec.innerMap.fd : -1,
      );
    } catch (err) {
      throw wrap(err, `new map ${spec.name}`, 'BPF_MAP_CREATE');
    }
    return new BpfMap(api, fd, `map ${spec.name}`);
  }

  /** Takes over a map file descriptor someone handed over (it is closed with this object). */
  static fromOwnedFd(fd: number, label: string): BpfMap {
    return new BpfMap(native(), fd, label);
  }

  /** Opens a map by kernel ID (the inner maps of a map-of-maps are only reachable this way). */
  static fromId(id: number, label = `map id ${id}`): BpfMap {
    const api = native();
    let fd: number;
    try {
      fd = api.bpfMapGetFdById(id);
    } catch (err) {
      throw wrap(err, label, 'BPF_MAP_GET_FD_BY_ID');
    }
    return new BpfMap(api, fd, label);
  }

  /**
   * The kernel ID of the map pinned at `path` now, or undefined when nothing is pinned there. Cheap (open,
   * BPF_OBJ_GET_INFO_BY_FD, close: no dump); compared with `info.id` of a map held open, it tells whether the pin
   * still names that map or someone re-created or re-pinned it.
   */
  static pinnedId(path: string): number | undefined {
    const api = native();
    let fd: number;
    try {
      fd = api.bpfObjGet(path, BPF_F_RDONLY);
    } catch (err) {
      const e = wrap(err, path, 'BPF_OBJ_GET');
      if (e.errno === 'ENOENT') return undefined;
      throw e;
    }
    try {
      return api.bpfMapInfo(fd).id;
    } catch (err) {
      throw wrap(err, path, 'BPF_OBJ_GET_INFO_BY_FD');
    } finally {
      api.bpfClose(fd);
    }
  }

  /** The raw descriptor, for writing this map as the value of a map-of-maps. */
  get fd(): number {
    if (this.#fd < 0) throw new BpfError('use', this.path, 'EBADF', undefined, undefined);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  pin(path: string): void {
    try {
      this.#api.bpfObjPin(this.fd, path);
    } catch (err) {
      throw wrap(err, path, 'BPF_OBJ_PIN');
    }
  }

  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.#api.bpfClose(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    const out = new Uint8Array(this.info.valueSize);
    return this.lookupInto(key, out) ? out : undefined;
  }

  lookupInto(key: Uint8Array, out: Uint8Array): boolean {
    try {
      return this.#api.bpfMapLookup(this.fd, key, out);
    } catch (err) {
      throw wrap(err, this.path, 'BPF_MAP_LOOKUP_ELEM');
    }
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = BPF_ANY): void {
    try {
      this.#api.bpfMapUpdate(this.fd, key, value, flags);
    } catch (err) {
      throw wrap(err, this.path, 'BPF_MAP_UPDATE_ELEM');
    }
  }

  /** Deletes one key; false if it was not there (which is not an error). */
  delete(key: Uint8Array): boolean {
    try {
      return this.#api.bpfMapDelete(this.fd, key);
    } catch (err) {
      throw wrap(err, this.path, 'BPF_MAP_DELETE_ELEM');
    }
  }

  /** Iterates keys with GET_NEXT_KEY (the fallback when batches are missing). */
  *keys(): Generator<Uint8Array> {
    let prev: Uint8Array | null = null;
    for (;;) {
      const next = new Uint8Array(this.info.keySize);
      let more: boolean;
      try {
        more = this.#api.bpfMapNextKey(this.fd, prev, next);
      } catch (err) {
        throw wrap(err, this.path, 'BPF_MAP_GET_NEXT_KEY');
      }
      if (!more) return;
      yield next;
      prev = next;
    }
  }

  /** Reads every entry, with BPF_MAP_LOOKUP_BATCH where the kernel has it and key iteration otherwise. */
  dump(): MapDump {
    if (this.#batch !== false) {
      const viaBatch = this.#dumpBatch();
      if (viaBatch) return viaBatch;
    }
    return this.#dumpIterate();
  }

  #dumpBatch(): MapDump | undefined {
    const { keySize, valueSize } = this.info;
    const tokenSize = Math.max(keySize, 8);
    let inTok: Uint8Array | null = null;
    let outTok: Uint8Array = new Uint8Array(tokenSize);
    let chunk = Math.min(DUMP_CHUNK, Math.max(1, this.info.maxEntries));
    const keyParts: Uint8Array[] = [];
    const valueParts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const keys = new Uint8Array(chunk * keySize);
      const values = new Uint8Array(chunk * valueSize);
      let res: NativeBatchResult;
      try {
        res = this.#api.bpfMapLookupBatch(this.fd, inTok, outTok, keys, values, chunk);
      } catch (err) {
        const e = wrap(err, this.path, 'BPF_MAP_LOOKUP_BATCH');
        // A hash bucket larger than the chunk: retry the same position with room for it.
        if (e.errno === 'ENOSPC') {
          chunk *= 2;
          continue;
        }
        if (NO_BATCH.has(e.errno) && total === 0) {
          this.#batch = false;
          return undefined;
        }
        throw e;
      }
      this.#batch = true;
      if (res.count > 0) {
        keyParts.push(keys.subarray(0, res.count * keySize));
        valueParts.push(values.subarray(0, res.count * valueSize));
        total += res.count;
      }
      if (res.done) break;
      const used: Uint8Array = outTok;
      outTok = inTok ?? new Uint8Array(tokenSize);
      inTok = used;
    }
    return { count: total, keySize, valueSize, keys: concat(keyParts), values: concat(valueParts) };
  }

  #dumpIterate(): MapDump {
    const { keySize, valueSize } = this.info;
    const keyParts: Uint8Array[] = [];
    const valueParts: Uint8Array[] = [];
    for (const key of this.keys()) {
      const value = new Uint8Array(valueSize);
      // A key deleted between GET_NEXT_KEY and the lookup is simply not part of the dump.
      if (this.lookupInto(key, value)) {
        keyParts.push(key);
        valueParts.push(value);
      }
    }
    return { count: keyParts.length, keySize, valueSize, keys: concat(keyParts), values: concat(valueParts) };
  }

  /** Writes `count` packed entries: one BPF_MAP_UPDATE_BATCH where possible, else one update each. */
  updateMany(keys: Uint8Array, values: Uint8Array, count: number, flags: number = BPF_ANY): void {
    if (count === 0) return;
    const { keySize, valueSize } = this.info;
    let done = 0;
    if (this.#batch !== false) {
      try {
        done = this.#api.bpfMapUpdateBatch(this.fd, keys, values, count, flags);
        this.#batch = true;
        return;
      } catch (err) {
        const e = wrap(err, this.path, 'BPF_MAP_UPDATE_BATCH');
        if (!(NO_BATCH.has(e.errno) && (e.processed ?? 0) === 0)) throw e;
        this.#batch = false;
      }
    }
    for (let i = done; i < count; i++) {
      this.update(
        keys.subarray(i * keySize, (i + 1) * keySize),
        values.subarray(i * valueSize, (i + 1) * valueSize),
        flags,
      );
    }
  }

  /**
   * Queues `count` packed entries for the process's writer thread (native/src/write_behind.c), which writes
   * them as updateMany does while the caller goes on: after everything queued before, or with a `level` (0..254)
   * only after what was queued before at a lower level. Nothing that had not started is written after a failed
   * write. settleQueuedWrites() waits for the queue (writing some of it on this thread) and throws that failure.
   */
  queueUpdateMany(keys: Uint8Array, values: Uint8Array, count: number, flags: number = BPF_ANY, level?: number): void {
    if (count === 0) return;
    const seq =
      level === undefined
        ? this.#api.bpfQueueUpdate(this.fd, keys, values, count, flags)
        : this.#api.bpfQueueUpdate(this.fd, keys, values, count, flags, level);
    queuedPaths.set(seq, this.path);
  }

  /** Deletes `count` packed keys; keys already absent are skipped. Returns how many were deleted. */
  deleteMany(keys: Uint8Array, count: number): number {
    const { keySize } = this.info;
    let deleted = 0;
    let i = 0;
    while (i < count && this.#batch !== false) {
      try {
        const n = this.#api.bpfMapDeleteBatch(this.fd, keys.subarray(i * keySize), count - i);
        this.#batch = true;
        return deleted + n;
      } catch (err) {
        const e = wrap(err, this.path, 'BPF_MAP_DELETE_BATCH');
        const processed = e.processed ?? 0;
        if (e.errno === 'ENOENT') {
          // The kernel stops at the first missing key: count what went, skip that key, go on.
          deleted += processed;
          i += processed + 1;
          continue;
        }
        if (NO_BATCH.has(e.errno) && processed === 0) {
          this.#batch = false;
          break;
        }
        throw e;
      }
    }
    for (; i < count; i++) if (this.delete(keys.subarray(i * keySize, (i + 1) * keySize))) deleted++;
    return deleted;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
