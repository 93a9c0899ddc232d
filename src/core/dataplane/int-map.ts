// A map from non-zero integer keys below 2^53 (backend IDs; backend identities, which take 50 bits) to numbers, in
// one typed array with open addressing: a plan records a hundred thousand backend IDs, and a JavaScript Map of
// that size costs more in hashing, growth and garbage than the kernel takes to write the entries (keys above 2^31
// are doubles to V8, off its integer paths). Each key sits beside its value, so a lookup touches one cache line
// (the table outgrows the CPU caches, and the keys are hashes: every lookup is a miss).

/** What a reader of an IntMap may do. */
export interface ReadonlyIntMap {
  readonly size: number;
  get(key: number): number | undefined;
  has(key: number): boolean;
}

export class IntMap implements ReadonlyIntMap {
  /** Slot i: [2i] the key (0: empty), [2i + 1] its value. */
  #slots: Float64Array;
  #mask: number;
  #size = 0;

  constructor(expected = 16) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.#slots = zeroedTable(capacity * 2);
    this.#mask = capacity - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  #slot(key: number): number {
    const slots = this.#slots;
    // Both words of the key, mixed so that every bit reaches the slot bits (murmur3's finalizer): a backend
    // identity's low 18 bits are its port and protocol, the same for most backends, and its address sits above.
    let h = ((key | 0) + Math.imul((key / 0x100000000) | 0, 0x9e3779b1)) | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    let i = (h ^ (h >>> 16)) & this.#mask;
    for (;;) {
      const k = slots[2 * i];
      if (k === key || k === 0) return i;
      i = (i + 1) & this.#mask;
    }
  }

  has(key: number): boolean {
    return this.#slots[2 * this.#slot(key)] === key;
  }

  get(key: number): number | undefined {
    const i = this.#slot(key);
    return this.#slots[2 * i] === key ? this.#slots[2 * i + 1] : undefined;
  }

  /** Gives `key` the value `value`, whether it had one or not. `key` must not be 0. */
  set(key: number, value: number): void {
    if (this.claim(key, value) !== undefined) this.#slots[2 * this.#slot(key) + 1] = value;
  }

  /**
   * The value `key` has; when it has none, it gets `value` (undefined is returned). One lookup either way.
   * `key` must not be 0 (the empty slot's mark; kube-lb never hands out ID 0).
   */
  claim(key: number, value: number): number | undefined {
    if (key === 0) throw new RangeError('IntMap: key 0 marks an empty slot');
    let i = this.#slot(key);
    if (this.#slots[2 * i] === key) return this.#slots[2 * i + 1];
    if ((this.#size + 1) * 2 > this.#mask + 1) {
      this.#grow();
      i = this.#slot(key);
    }
    this.#slots[2 * i] = key;
    this.#slots[2 * i + 1] = value;
    this.#size++;
    return undefined;
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = zeroedTable(old.length * 2);
    this.#mask = this.#slots.length / 2 - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] === 0) continue;
      const j = this.#slot(old[i]!);
      this.#slots[2 * j] = old[i]!;
      this.#slots[2 * j + 1] = old[i + 1]!;
    }
  }
}

/**
 * A zeroed table whose pages are written once, in order. A new typed array is untouched memory: a lookup's read
 * maps the kernel's shared zero page, and the write that follows faults again to copy it, flushing the TLB of
 * every CPU this process runs on (the map writer's too): two faults and an interrupt per page, at random.
 */
function zeroedTable(length: number): Float64Array {
  const table = new Float64Array(length);
  table.fill(0);
  return table;
}
