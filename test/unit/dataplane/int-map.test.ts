// The planner's map of backend IDs and identities (integer keys, a typed array, open addressing): the same answers
// as a Map, across growth, for keys above 2^31 (kube-lb's hashed IDs), 50-bit keys (backend identities) and keys
// that collide in the table.
import t from 'tap';
import { IntMap } from '../../../src/core/dataplane/int-map.ts';

t.test(
  'claim agrees with a Map holding the first value of each key, through growth, for IDs in the upper half and colliding slots',
  async (t) => {
    const m = new IntMap(4);
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

t.test('get and set agree with a Map for 50-bit backend identities that differ only above bit 32', async (t) => {
  const m = new IntMap();
  const ref = new Map<number, number>();
  // 10.(64+j).(i>>8).(i&255):30080/TCP, as backendEntryKey builds them: the low 32 bits repeat every 2^14 addresses.
  for (let i = 0; i < 3000; i++) {
    for (let j = 0; j < 10; j++) {
      const address = ((10 << 24) | ((64 + j) << 16) | i) >>> 0;
      const key = (address * 65536 + 30080) * 4 + 1;
      m.set(key, i * 10 + j);
      ref.set(key, i * 10 + j);
      if (j % 3 === 0) {
        m.set(key, -(i * 10 + j)); // a second set replaces the value
        ref.set(key, -(i * 10 + j));
      }
    }
  }
  t.equal(m.size, ref.size, '30,000 keys');
  let wrong = 0;
  for (const [k, v] of ref) if (m.get(k) !== v) wrong++;
  t.equal(wrong, 0, 'every key reads back its last value');
  t.equal(m.get(((10 << 24) >>> 0) * 65536 * 4), undefined, 'a key never set reads undefined');
});
