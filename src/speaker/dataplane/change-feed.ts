// The reconciler's MapChangeFeed on a real node: the addon's map watch (src/native/map-watch.ts) pointed at the
// kernel IDs of the maps the reconciler holds, its events translated to the reconciler's map names; and the
// kernel write-back, whose mirrors of kube-lb's services, backends and revNAT entries it keeps equal to the
// reconciler's image.
import { bytesEqual, pickEntries, type EntryTable } from '../../core/bpf/packed.ts';
import type { DesiredImage } from '../../core/dataplane/image.ts';
import { BPF_ANY } from '../../core/bpf/uapi.ts';
import { settleQueuedWrites, type BpfMap } from '../../native/bpf.ts';
import {
  MapWatch,
  WRITE_BACK_ROLES,
  type AddonWriteBacks,
  type ConsumerPriority,
  type MapChangeEvent,
  type WriteBackRole,
} from '../../native/map-watch.ts';
import type { Lb4Maps, MapChange, MapChangeFeed, WatchedMap } from './maps.ts';
import { invariant } from '../../shared/errors.ts';

/**
 * Brings a mirror from holding `before` (undefined: nothing) to holding `after` (undefined: nothing). The deletes are
 * done on return, the upserts queued: settle after.
 */
function syncMirror(own: BpfMap, before: EntryTable | undefined, after: EntryTable | undefined): void {
  if (before === after) return;
  const gone: number[] = [];
  if (before) {
    const keep = after?.index;
    for (let i = 0; i < before.count; i++) {
      if (!keep?.has(before.keys, i * before.keySize)) gone.push(i);
    }
  }
  if (gone.length > 0) {
    const keys = pickEntries(before!, gone, true);
    own.deleteMany(keys.keys, keys.count);
  }
  if (!after) return;
  const changed: number[] = [];
  const had = before?.index;
  for (let i = 0; i < after.count; i++) {
    const j = had?.get(after.keys, i * after.keySize);
    if (
      j === undefined ||
      !bytesEqual(before!.values, j * before!.valueSize, after.values, i * after.valueSize, after.valueSize)
    )
      changed.push(i);
  }
  if (changed.length === 0) return;
  const e = changed.length === after.count ? after : pickEntries(after, changed);
  // Queued in slices of one level, so the writer thread and this one (in settle) fill the mirror side by side:
  // after a re-follow the whole image goes in (220,000 entries at 10k services).
  for (let i = 0; i < e.count; i += MIRROR_SLICE) {
    const n = Math.min(MIRROR_SLICE, e.count - i);
    own.queueUpdateMany(
      e.keys.subarray(i * e.keySize, (i + n) * e.keySize),
      e.values.subarray(i * e.valueSize, (i + n) * e.valueSize),
      n,
      BPF_ANY,
      0,
    );
  }
}

const MIRROR_SLICE = 8192;

/** Each map of Lb4Maps the events are followed for, by its kernel ID. */
function followedNames(maps: Lb4Maps): Map<number, WatchedMap> {
  const names = new Map<number, WatchedMap>();
  const add = (name: WatchedMap, id: number | undefined): void => {
    if (id !== undefined) names.set(id, name);
  };
  add('services', maps.services.kernelId);
  add('backends', maps.backends.kernelId);
  add('revNat', maps.revNat.kernelId);
  add('idTable', maps.idTable.kernelId);
  add('backendIdTable', maps.backendIdTable.kernelId);
  add('sourceRange', maps.sourceRange?.kernelId);
  add('affinityMatch', maps.affinityMatch?.kernelId);
  add('maglev', maps.maglev?.kernelId);
  return names;
}

function sameWriteBack(a: Partial<Record<WriteBackRole, number>>, b: Partial<Record<WriteBackRole, number>>): boolean {
  return WRITE_BACK_ROLES.every((role) => a[role] === b[role]);
}

export interface ChangeFeedOptions {
  /** The BPF object; by default the one built next to the addon. */
  readonly objectPath?: string;
  /** The kernel write-back of kube-lb's deleted services, backends and revNAT entries (default on). */
  readonly writeBack?: boolean;
}

export class NativeMapChangeFeed implements MapChangeFeed {
  readonly #objectPath: string | undefined;
  readonly #writeBack: boolean;
  /** Loaded by follow(): the maps a program writes are fixed when it loads. */
  #watch: MapWatch | undefined;
  #names = new Map<number, WatchedMap>();
  readonly #listeners = new Set<(changes: readonly MapChange[], lost: boolean) => void>();
  /** The write-back's mirrors of the maps followed now, and the image each holds. */
  #own: Partial<Record<WriteBackRole, BpfMap>> = {};
  #mirrored: Partial<Record<WriteBackRole, EntryTable>> = {};
  /** The addon's write-backs of the programs closed before the one loaded now. */
  #pastWriteBacks: AddonWriteBacks = { count: 0, over1ms: 0, maxMs: 0 };
  /** The IDs of the maps the loaded program writes back into (undefined for a role it does not). */
  #writeBackIds: Partial<Record<WriteBackRole, number>> = {};

  constructor(options: ChangeFeedOptions = {}) {
    this.#objectPath = options.objectPath;
    this.#writeBack = options.writeBack ?? true;
  }

  /**
   * Follows these maps from now on: the program is loaded, pointed at the services, backends and revNAT maps for
   * the write-back, with empty mirrors until mirror() fills them. Throws MapWatchError where the kernel or the
   * privileges do not allow it (the reconciler then polls, and says why).
   */
  follow(maps: Lb4Maps): void {
    const writeBack: Partial<Record<WriteBackRole, { fd: number }>> = {};
    const writeBackIds: Partial<Record<WriteBackRole, number>> = {};
    for (const role of WRITE_BACK_ROLES) {
      const fd = maps[role].kernelFd;
      const id = maps[role].kernelId;
      if (fd !== undefined && id !== undefined && this.#writeBack) {
        writeBack[role] = { fd };
        writeBackIds[role] = id;
      }
    }
    const names = followedNames(maps);
    // The maps written back are the ones the loaded program writes into (a re-open for another map: the maglev
    // map Cilium re-creates in random mode, an optional map that appeared): the program, its mirrors and what they
    // hold stay, and only the IDs followed change. Loading a new program would leave Cilium's deletes unanswered
    // by the kernel until its mirrors were filled again, after the pass, and an agent that has just restarted
    // prunes right then.
    if (this.#watch && sameWriteBack(this.#writeBackIds, writeBackIds)) {
      this.#watch.watch([...names.keys()]);
      this.#names = names;
      return;
    }
    const watch = MapWatch.open({
      ...(this.#objectPath === undefined ? {} : { objectPath: this.#objectPath }),
      writeBack,
    });
    const own: Partial<Record<WriteBackRole, BpfMap>> = {};
    try {
      for (const role of watch.writeBackRoles()) own[role] = watch.ownMap(role);
    } catch (err) {
      for (const m of Object.values(own)) m.close();
      watch.close();
      throw err;
    }
    watch.watch([...names.keys()]);
    watch.onEvents((events, lost) => this.#deliver(events, lost));
    this.#closeWatch();
    this.#watch = watch;
    this.#own = own;
    this.#mirrored = {};
    this.#writeBackIds = writeBackIds;
    this.#names = names;
  }

  /**
   * Makes the write-back's mirrors hold exactly kube-lb's entries of `image` (undefined: none), writing only the
   * difference from what they held.
   */
  mirror(image: DesiredImage | undefined): void {
    for (const role of WRITE_BACK_ROLES) {
      const own = this.#own[role];
      if (!own) continue;
      const next = image?.[role];
      syncMirror(own, this.#mirrored[role], next);
      settleQueuedWrites();
      if (next) this.#mirrored[role] = next;
      else delete this.#mirrored[role];
    }
  }

  addonWriteBacks(): AddonWriteBacks {
    const now = this.#watch?.addonWriteBacks();
    const past = this.#pastWriteBacks;
    if (!now) return past;
    return {
      count: past.count + now.count,
      over1ms: past.over1ms + now.over1ms,
      maxMs: Math.max(past.maxMs, now.maxMs),
    };
  }

  consumerPriority(): ConsumerPriority | undefined {
    return this.#watch?.consumerPriority();
  }

  foreignChanges(): number {
    invariant(this.#watch, 'change events: foreignChanges() before any map was followed');
    // Events the consumer thread has queued (their wake-up still waits behind this pass) go to the listeners
    // first, so that what they handled can be compared with the count. Counted after: a change made in between
    // is counted and not yet delivered, never the other way round (the reconciler waits for those to settle).
    this.#watch.drain();
    let n = 0;
    for (const c of this.#watch.counts().values()) n += c.foreign + c.dropped;
    return n;
  }

  onChanges(listener: (changes: readonly MapChange[], lost: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#closeWatch();
    this.#listeners.clear();
  }

  #closeWatch(): void {
    this.#pastWriteBacks = this.addonWriteBacks();
    for (const m of Object.values(this.#own)) m.close();
    this.#own = {};
    this.#watch?.close();
    this.#watch = undefined;
  }

  #deliver(events: readonly MapChangeEvent[], lost: boolean): void {
    const changes: MapChange[] = [];
    for (const e of events) {
      const map = this.#names.get(e.mapId);
      // An event for a map followed before the last follow(): that map is no longer the one written.
      if (map !== undefined)
        changes.push({ map, op: e.op, key: e.key, ns: e.ns, ...(e.writtenBack ? { writtenBack: e.writtenBack } : {}) });
    }
    if (changes.length === 0 && !lost) return;
    for (const l of this.#listeners) l(changes, lost);
  }
}

/**
 * The node's change feed. Nothing is loaded until the reconciler follows its maps; where the program cannot load
 * (no privilege, no BTF, no BPF object) follow() throws the reason. The program is the one built next to the
 * addon unless `objectPath` names another.
 */
export function openChangeFeed(options: ChangeFeedOptions = {}): MapChangeFeed {
  return new NativeMapChangeFeed(options);
}
