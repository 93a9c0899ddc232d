// The addon's writer thread (native/src/write_behind.c) on real maps: queued batches land in order, the bytes
// are copied at queue time, and a failed write stops the queue: what was queued after it is never written, and
// settling throws the failure with the map it was for. Then the reconciler on top of it: a pass whose backends
// do not fit fails naming the map, and leaves nothing that points at a backend it did not write.
import t from 'tap';
import { mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BPF_MAP_TYPE } from '../../../src/core/bpf/uapi.ts';
import { LB4_MAPS } from '../../../src/core/lb4/maps.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { decode } from '../../../src/core/lb4/codec.ts';
import { lb4KeyCodec } from '../../../src/core/lb4/service-key.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { BpfError, BpfMap, settleQueuedWrites } from '../../../src/native/bpf.ts';
import { openLb4Maps } from '../../../src/speaker/dataplane/native-maps.ts';
import { DataplaneReconciler } from '../../../src/speaker/dataplane/reconciler.ts';
import { mountBpffs } from '../../support/bpffs.ts';
import { createCiliumMaps } from '../../support/cilium-maps.ts';
import { Ledger } from '../../support/ledger.ts';

const ledger = Ledger.open('lb4-write-behind');
const bpffs = mountBpffs(ledger, 'writebehind');
t.teardown(() => bpffs.dispose());

/** A u32 → u32 hash map holding at most `max` entries. */
function u32Map(name: string, max: number): BpfMap {
  return BpfMap.create({ type: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 4, maxEntries: max, flags: 0, name });
}

/** `count` entries key = first + i, value = (first + i) * 10, packed. */
function entries(first: number, count: number): { keys: Uint8Array; values: Uint8Array } {
  const keys = new Uint8Array(count * 4);
  const values = new Uint8Array(count * 4);
  const k = new DataView(keys.buffer);
  const v = new DataView(values.buffer);
  for (let i = 0; i < count; i++) {
    k.setUint32(i * 4, first + i, true);
    v.setUint32(i * 4, (first + i) * 10, true);
  }
  return { keys, values };
}

function contents(m: BpfMap): Map<number, number> {
  const d = m.dump();
  const k = new DataView(d.keys.buffer, d.keys.byteOffset);
  const v = new DataView(d.values.buffer, d.values.byteOffset);
  return new Map(Array.from({ length: d.count }, (_, i) => [k.getUint32(i * 4, true), v.getUint32(i * 4, true)]));
}

t.test('queued batches land in order, from copies of the buffers', async (t) => {
  using a = u32Map('klb_wb_a', 1024);
  using b = u32Map('klb_wb_b', 1024);
  const first = entries(1, 300);
  a.queueUpdateMany(first.keys, first.values, 300);
  first.values.fill(0xff); // the caller may reuse its buffer at once
  const second = entries(1, 2);
  second.values.fill(7);
  a.queueUpdateMany(second.keys, second.values, 2); // overwrites keys 1 and 2 after the first batch
  const third = entries(1000, 5);
  b.queueUpdateMany(third.keys, third.values, 5);
  settleQueuedWrites();
  const got = contents(a);
  t.equal(got.size, 300);
  t.equal(got.get(3), 30, 'the first batch as queued, not as the buffer was later');
  t.equal(got.get(1), 0x07070707, 'the later batch after the earlier one');
  t.same([...contents(b).keys()].sort((x, y) => x - y), [1000, 1001, 1002, 1003, 1004]);
});

t.test('a failed write stops the queue; settling throws it with its map; the next queue starts clean', async (t) => {
  using a = u32Map('klb_wb_ok', 64);
  using small = u32Map('klb_wb_small', 4);
  using after = u32Map('klb_wb_after', 64);
  const one = entries(1, 3);
  a.queueUpdateMany(one.keys, one.values, 3);
  const tooMany = entries(100, 10);
  small.queueUpdateMany(tooMany.keys, tooMany.values, 10);
  const later = entries(500, 3);
  after.queueUpdateMany(later.keys, later.values, 3);
  const err = t.throws(() => settleQueuedWrites()) as unknown as BpfError;
  t.ok(err instanceof BpfError, 'a BpfError');
  t.equal(err.path, small.path, `naming the map that did not take it (${err.message})`);
  t.equal(err.errno, 'E2BIG', 'a full hash map');
  t.equal(err.processed, 4, 'the kernel wrote 4 of the 10 before it was full');
  t.equal(contents(a).size, 3, 'what was queued before it is written');
  t.equal(contents(after).size, 0, 'what was queued after it is not');
  t.doesNotThrow(() => settleQueuedWrites(), 'the failure is reported once');
  after.queueUpdateMany(later.keys, later.values, 3);
  settleQueuedWrites();
  t.equal(contents(after).size, 3, 'and the queue works again');
});

t.test('a pass whose backends do not fit fails naming the map, and writes nothing that points at them', async (t) => {
  const dir = join(bpffs.dir, 'small');
  mkdirSync(dir);
  const profile = PROFILES['1.18'];
  createCiliumMaps(dir, { profile, maxEntries: 4096 });
  // Room for 100 backends only: kube-lb's backends of 200 frontends x 2 do not fit.
  const pin = join(dir, LB4_MAPS.backends.name);
  const shape = ((): BpfMap['info'] => {
    using m = BpfMap.open(pin);
    return m.info;
  })();
  unlinkSync(pin);
  const tiny = BpfMap.create({ type: shape.type, keySize: shape.keySize, valueSize: shape.valueSize, maxEntries: 100, flags: shape.flags, name: 'klb_wb_be' });
  tiny.pin(pin);
  tiny.close();

  const opened = openLb4Maps({ dir, ciliumVersion: '1.18' });
  t.teardown(() => opened.maps.close());
  const reconciler = new DataplaneReconciler({ maps: opened.maps, profile, logger: createLogger({ program: 'test', level: 'silent' }) });
  reconciler.setDesired(
    Array.from({ length: 200 }, (_, i) => ({
      vip: `10.20.${i >> 8}.${i & 255}`,
      port: 80,
      protocol: 'TCP' as const,
      backends: [
        { address: `10.30.${i >> 8}.${i & 255}`, port: 30080 },
        { address: `10.31.${i >> 8}.${i & 255}`, port: 30080 },
      ],
    })),
  );
  const pass = reconciler.reconcileOnce();
  t.ok(pass.error instanceof BpfError, `the pass failed: ${pass.error?.message}`);
  t.match(pass.error?.message ?? '', LB4_MAPS.backends.name);
  const services = opened.maps.services.dump();
  const keys = Array.from({ length: services.count }, (_, i) => decode(lb4KeyCodec, services.keys.subarray(i * 12, (i + 1) * 12)));
  t.equal(keys.filter((k) => k.slot === 0).length, 0, 'no master was written: every prefix of a plan is consistent, and the queue stopped at the failure');
  t.equal(keys.length, 0, 'nor any slot: the first chunk stopped at its backends');
});
