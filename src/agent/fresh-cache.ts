// An informer cache that also knows about the agent's own writes until the watch catches up with them. Without it,
// the reconcile that follows a write (often triggered by that very write) would see the old object and write
// again: a second create (409), a second finalizer patch (conflict), a status computed from stale data.
// Like client-go's mutation cache: an object we wrote wins until the informer holds one at least as new
// (resourceVersions are compared as integers, as etcd issues them); a deletion hides the object until the
// informer drops it, or for at most `tombstoneMs`.

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export class FreshCache<T extends Meta> {
  readonly #read: (name: string, namespace: string) => T | undefined;
  readonly #written = new Map<string, T>();
  readonly #deleted = new Map<string, number>();
  readonly #tombstoneMs: number;
  readonly #clock: () => number;

  constructor(
    read: (name: string, namespace: string) => T | undefined,
    tombstoneMs = 60_000,
    clock: () => number = Date.now,
  ) {
    this.#read = read;
    this.#tombstoneMs = tombstoneMs;
    this.#clock = clock;
  }

  get(name: string, namespace: string): T | undefined {
    const key = `${namespace}/${name}`;
    const cached = this.#read(name, namespace);
    const gone = this.#deleted.get(key);
    if (gone !== undefined) {
      if (!cached || this.#clock() - gone > this.#tombstoneMs) this.#deleted.delete(key);
      else return undefined;
    }
    const mine = this.#written.get(key);
    if (!mine) return cached;
    if (cached && !olderThan(cached, mine)) {
      this.#written.delete(key);
      return cached;
    }
    return mine;
  }

  /** Records an object as returned by a create, update or patch. */
  wrote(obj: T): void {
    const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    this.#deleted.delete(key);
    this.#written.set(key, obj);
  }

  /** Records a successful delete (or a 404: it is gone either way). */
  gone(name: string, namespace: string): void {
    const key = `${namespace}/${name}`;
    this.#written.delete(key);
    if (this.#read(name, namespace)) this.#deleted.set(key, this.#clock());
  }
}

function olderThan(a: Meta, b: Meta): boolean {
  const x = rv(a);
  const y = rv(b);
  return x !== undefined && y !== undefined ? x < y : false;
}

function rv(o: Meta): bigint | undefined {
  const v = o.metadata?.resourceVersion;
  if (!v || !/^\d+$/.test(v)) return undefined;
  return BigInt(v);
}
