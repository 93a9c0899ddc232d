// The reconciler's MapChangeFeed on a real node: the addon's map watch (src/native/map-watch.ts) pointed at the
// kernel IDs of the maps the reconciler holds, its events translated to the reconciler's map names.
import { MapWatch, type MapChangeEvent } from '../../native/map-watch.ts';
import type { Lb4Maps, MapChange, MapChangeFeed, WatchedMap } from './maps.ts';

export class NativeMapChangeFeed implements MapChangeFeed {
  readonly #watch: MapWatch;
  #names = new Map<number, WatchedMap>();
  readonly #listeners = new Set<(changes: readonly MapChange[], lost: boolean) => void>();

  private constructor(watch: MapWatch) {
    this.#watch = watch;
    watch.onEvents((events, lost) => this.#deliver(events, lost));
  }

  /** Loads the watch program; throws MapWatchError where the kernel or the privileges do not allow it. */
  static open(objectPath?: string): NativeMapChangeFeed {
    return new NativeMapChangeFeed(MapWatch.open(objectPath));
  }

  follow(maps: Lb4Maps): void {
    const names = new Map<number, WatchedMap>();
    const add = (name: WatchedMap, id: number | undefined): void => {
      if (id !== undefined) names.set(id, name);
    };
    add('services', maps.services.kernelId);
    add('backends', maps.backends.kernelId);
    add('revNat', maps.revNat.kernelId);
    add('idTable', maps.idTable.kernelId);
    add('sourceRange', maps.sourceRange?.kernelId);
    add('affinityMatch', maps.affinityMatch?.kernelId);
    add('maglev', maps.maglev?.kernelId);
    this.#watch.watch([...names.keys()]);
    this.#names = names;
  }

  foreignChanges(): number {
    // Events already in the ring buffer (its wake-up still queued behind this pass) go to the listeners first,
    // so that what they handled can be compared with the count. Counted after: a change another CPU makes in
    // between is counted and not yet delivered, never the other way round.
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
    this.#watch.close();
    this.#listeners.clear();
  }

  #deliver(events: readonly MapChangeEvent[], lost: boolean): void {
    const changes: MapChange[] = [];
    for (const e of events) {
      const map = this.#names.get(e.mapId);
      // An event for a map followed before the last follow(): that map is no longer the one written.
      if (map !== undefined) changes.push({ map, op: e.op, key: e.key, ns: e.ns });
    }
    if (changes.length === 0 && !lost) return;
    for (const l of this.#listeners) l(changes, lost);
  }
}

/** A feed that could not start: follow() fails with the reason, so the reconciler reports it and polls. */
class UnavailableChangeFeed implements MapChangeFeed {
  readonly #reason: Error;
  constructor(reason: Error) {
    this.#reason = reason;
  }
  follow(): void {
    throw this.#reason;
  }
  foreignChanges(): number {
    throw this.#reason;
  }
  onChanges(): () => void {
    return () => undefined;
  }
  close(): void {}
}

/**
 * The node's change feed, or one that says why there is none (no privilege, no BTF, no BPF object). The program
 * is the one built next to the addon unless `objectPath` names another.
 */
export function openChangeFeed(objectPath?: string): MapChangeFeed {
  try {
    return NativeMapChangeFeed.open(objectPath);
  } catch (err) {
    return new UnavailableChangeFeed(err instanceof Error ? err : new Error(String(err)));
  }
}
