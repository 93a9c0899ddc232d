// The planner's map of backend IDs (u32 keys, a typed array, open addressing): the same answers as a Map, across
// growth, for keys above 2^31 (kube-lb's hashed IDs) and keys that collide in the table; claim takes or tells.
import t from 'tap';
import { U32Map } from '../../../src/core/dataplane/u32-map.ts';

t.test('agrees with a Map through growth, for IDs in the upper half and for colliding slots', async (t) => {
  const m = new U32Map(4);
  const ref = new Map<number, number>();
  let x = 0x9e3779b9;
  for (let i = 0; i < 5000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const key = (x | 0x80000000) >>> 0;
    m.set(key, i);
    ref.set(key, i);
    // Sequential IDs, as a backend moved below its hashed ID takes: neighbours in the table.
    m.set(0xfffffff0 - (i % 16), -i);
    ref.set(0xfffffff0 - (i % 16), -i);
  }
  t.equal(m.size, ref.size);
  let wrong = 0;
  for (const [k, v] of ref) if (m.get(k) !== v || !m.has(k)) wrong++;
  t.equal(wrong, 0, `every one of ${ref.size} keys reads back its last value`);
  t.equal(m.get(12345), undefined);
  t.notOk(m.has(0x80000000 + 7) && !ref.has(0x80000000 + 7), 'an absent key is absent');
  t.throws(() => m.set(0, 1), RangeError, 'key 0 marks an empty slot');
  t.equal(m.claim(0x80000001, 5), undefined, 'claim of a new key takes it');
  t.equal(m.claim(0x80000001, 6), 5, 'claim of a held key says who holds it');
  t.equal(m.get(0x80000001), 5, 'and leaves it as it was');
});
