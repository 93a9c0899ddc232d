// A map from non-zero u32 keys (backend IDs) to numbers, in two typed arrays with open addressing: a plan
// records a hundred thousand backend IDs, and a JavaScript Map of that size costs more in hashing, growth and
// garbage than the kernel takes to write the entries.

export class U32Map {
  // Keys are held as int32 (`key | 0`): a u32 above 2^31 read from a Uint32Array is a double, and every probe
  // would leave the integer fast path.
  #keys: Int32Array;
  #values: Float64Array;
  #mask: number;
  #size = 0;

  constructor(expected = 16) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.#keys = new Int32Array(capacity);
    this.#values = new Float64Array(capacity);
    this.#mask = capacity - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  /** The slot holding `k` (a key as int32), or the empty slot where it would go. */
  #slot(k: number): number {
    const keys = this.#keys;
    let i = Math.imul(k, 0x9e3779b1) & this.#mask;
    while (keys[i] !== 0 && keys[i] !== k) i = (i + 1) & this.#mask;
    return i;
  }

  has(key: number): boolean {
    const k = key | 0;
    return this.#keys[this.#slot(k)] === k;
  }

  get(key: number): number | undefined {
    const k = key | 0;
    const i = this.#slot(k);
    return this.#keys[i] === k ? this.#values[i] : undefined;
  }

  /** `key` must not be 0 (the empty slot's mark; kube-lb never hands out ID 0). */
  set(key: number, value: number): void {
    const k = key | 0;
    if (k === 0) throw new RangeError('U32Map: key 0 marks an empty slot');
    let i = this.#slot(k);
    if (this.#keys[i] !== k) {
      if ((this.#size + 1) * 2 > this.#keys.length) {
        this.#grow();
        i = this.#slot(k);
      }
      this.#keys[i] = k;
      this.#size++;
    }
    this.#values[i] = value;
  }

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#keys = new Int32Array(keys.length * 2);
    this.#values = new Float64Array(keys.length * 2);
    this.#mask = this.#keys.length - 1;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === 0) continue;
      const j = this.#slot(keys[i]!);
      this.#keys[j] = keys[i]!;
      this.#values[j] = values[i]!;
    }
  }
}
