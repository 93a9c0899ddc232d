// The planner's map of backend IDs (u32 keys, a typed array, open addressing): the same answers as a Map, across
// growth, for keys above 2^31 (kube-lb's hashed IDs) and keys that collide in the table.
import t from 'tap';
import { U32Map } from '../../../src/core/dataplane/u32-map.ts';

t.test(
  'claim agrees with a Map holding the first value of each key, through growth, for IDs in the upper half and colliding slots',
  async (t) => {
    const m = new U32Map(4);
    const ref = new Map<number, number>();
    const claim = (key: number, value: number): void => {
      const had = ref.get(key);
      if (had === undefined) ref.set(key, value);
      if (m.claim(key, value) !== had) wrong++;
    };
    let wrong = 0;
    let x = 0x9e3779b9;
    for (let i = 0; i < 5000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      claim((x | 0x80000000) >>> 0, i);
      // Sequential IDs, as a backend moved below its hashed ID takes: neighbours in the table.
      claim(0xfffffff0 - (i % 16), -i);
    }
    t.equal(wrong, 0, 'every claim answered what the Map holds: undefined for a new key, else its first value');
    t.equal(m.size, ref.size);
    let missing = 0;
    for (const [k, v] of ref) if (!m.has(k) || m.claim(k, v + 1) !== v) missing++;
    t.equal(missing, 0, `every one of ${ref.size} keys is held with its first value`);
    t.notOk(m.has(5), 'a key never claimed is absent');
    t.throws(() => m.claim(0, 1), RangeError, 'key 0 marks an empty slot');
  },
);
