// A map from non-zero u32 keys (backend IDs) to numbers, in two typed arrays with open addressing: a plan
// records a hundred thousand backend IDs, and a JavaScript Map of that size costs more in hashing, growth and
// garbage than the kernel takes to write the entries.

export class U32Map {
  #keys: Uint32Array;
  #values: Float64Array;
  #mask: number;
  #size = 0;

  constructor(expected = 16) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.#keys = new Uint32Array(capacity);
    this.#values = new Float64Array(capacity);
    this.#mask = capacity - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  #slot(key: number): number {
    const keys = this.#keys;
    let i = Math.imul(key, 0x9e3779b1) & this.#mask;
    while (keys[i] !== 0 && keys[i] !== key) i = (i + 1) & this.#mask;
    return i;
  }

  has(key: number): boolean {
    return this.#keys[this.#slot(key)] === key;
  }

  get(key: number): number | undefined {
    const i = this.#slot(key);
    return this.#keys[i] === key ? this.#values[i] : undefined;
  }

  /** `key` must not be 0 (the empty slot's mark; kube-lb never hands out ID 0). */
  set(key: number, value: number): void {
    if (key === 0) throw new RangeError('U32Map: key 0 marks an empty slot');
    let i = this.#slot(key);
    if (this.#keys[i] !== key) {
      if ((this.#size + 1) * 2 > this.#keys.length) {
        this.#grow();
        i = this.#slot(key);
      }
      this.#keys[i] = key;
      this.#size++;
    }
    this.#values[i] = value;
  }

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#keys = new Uint32Array(keys.length * 2);
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
