// The addon's writer thread (native/src/write_behind.c) on real maps: queued batches land in order (or, with
// levels, never before an earlier batch of a lower level), the bytes are copied at queue time, and a failed write
// stops the queue: what was queued after it is never written, and settling throws the failure with the map it was
// for. Then the reconciler on top of it: frontends that do not
// fit in kube-lb's share of a map are refused one by one, the first listed kept, and no write ever fails for room.
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
import { mountBpffs } from '../../../lab/bpffs.ts';
import { createCiliumMaps } from '../../../lab/cilium-maps.ts';
import { Ledger } from '../../../lab/ledger.ts';
import { foreignServiceEntries } from '../../support/lb4-fixtures.ts';

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
  t.same(
    [...contents(b).keys()].sort((x, y) => x - y),
    [1000, 1001, 1002, 1003, 1004],
  );
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

t.test('levelled jobs: all are written, a failed job keeps every later job of a higher level out', async (t) => {
  // 40 jobs over four maps at levels 0..3, as a pass queues them chunk by chunk; the JavaScript thread is far
  // enough ahead that it writes some of them itself.
  const maps = [0, 1, 2, 3].map((level) => u32Map(`klb_wb_l${level}`, 4096));
  t.teardown(() => {
    for (const m of maps) m.close();
  });
  for (let chunk = 0; chunk < 10; chunk++) {
    for (let level = 0; level < 4; level++) {
      const e = entries(chunk * 100 + level * 1000, 100);
      maps[level]!.queueUpdateMany(e.keys, e.values, 100, 0, level);
    }
  }
  settleQueuedWrites();
  t.same(
    maps.map((m) => contents(m).size),
    [1000, 1000, 1000, 1000],
    'every entry of every job is written',
  );

  using low = u32Map('klb_wb_low', 4);
  using high = u32Map('klb_wb_high', 64);
  using ordered = u32Map('klb_wb_ord', 64);
  const tooMany = entries(1, 10);
  low.queueUpdateMany(tooMany.keys, tooMany.values, 10, 0, 1);
  const after = entries(100, 3);
  high.queueUpdateMany(after.keys, after.values, 3, 0, 2);
  ordered.queueUpdateMany(after.keys, after.values, 3);
  const err = t.throws(() => settleQueuedWrites()) as unknown as BpfError;
  t.equal(err.path, low.path, 'the failure names its map');
  t.equal(contents(high).size, 0, 'a later job of a higher level never starts before the failed one ends');
  t.equal(contents(ordered).size, 0, 'nor does a later ordered job');
  t.throws(() => high.queueUpdateMany(after.keys, after.values, 3, 0, 256), /level/, 'a level out of range is refused');
});

/** Kernel maps shaped as Cilium 1.18's, the backends map holding at most `backendsMax` entries. */
function smallMaps(name: string, backendsMax: number): string {
  const dir = join(bpffs.dir, name);
  mkdirSync(dir);
  createCiliumMaps(dir, { profile: PROFILES['1.18'], maxEntries: 4096 });
  const pin = join(dir, LB4_MAPS.backends.name);
  const shape = ((): BpfMap['info'] => {
    using m = BpfMap.open(pin);
    return m.info;
  })();
  unlinkSync(pin);
  const small = BpfMap.create({
    type: shape.type,
    keySize: shape.keySize,
    valueSize: shape.valueSize,
    maxEntries: backendsMax,
    flags: shape.flags,
    name: 'klb_wb_be',
  });
  small.pin(pin);
  small.close();
  return dir;
}

/** 200 frontends of 2 backends each, listed highest address first: the list's order, not the address, decides who fits. */
const TWO_HUNDRED = Array.from({ length: 200 }, (_, k) => {
  const i = 199 - k;
  return {
    vip: `10.20.${i >> 8}.${i & 255}`,
    port: 80,
    protocol: 'TCP' as const,
    backends: [
      { address: `10.30.${i >> 8}.${i & 255}`, port: 30080 },
      { address: `10.31.${i >> 8}.${i & 255}`, port: 30080 },
    ],
  };
});

function mastersOf(maps: ReturnType<typeof openLb4Maps>['maps']): string[] {
  const services = maps.services.dump();
  return Array.from({ length: services.count }, (_, i) =>
    decode(lb4KeyCodec, services.keys.subarray(i * 12, (i + 1) * 12)),
  )
    .filter((k) => k.slot === 0)
    .map((k) => `${k.address >>> 24}.${(k.address >>> 16) & 255}.${(k.address >>> 8) & 255}.${k.address & 255}`)
    .sort();
}

t.test(
  "frontends beyond kube-lb's share of a map are refused (MapFull), the first listed kept, and Cilium's part stays free",
  async (t) => {
    // 100 backend entries: half is kept for Cilium (a map under 2,048 keeps half), so 25 frontends of 2 backends fit.
    const opened = openLb4Maps({ dir: smallMaps('share', 100), ciliumVersion: '1.18' });
    t.teardown(() => opened.maps.close());
    const reconciler = new DataplaneReconciler({
      maps: opened.maps,
      profile: PROFILES['1.18'],
      logger: createLogger({ program: 'test', level: 'silent' }),
    });
    reconciler.setDesired(TWO_HUNDRED);
    const pass = reconciler.reconcileOnce();
    t.equal(pass.error, undefined, 'the pass succeeds: nothing was written past the budget');
    const statuses = reconciler.statuses();
    const programmed = statuses.filter((s) => s.state === 'programmed');
    const full = statuses.filter((s) => s.code === 'MapFull');
    t.equal(programmed.length, 25, '25 frontends programmed');
    t.equal(full.length, 175, 'the other 175 refused');
    t.same(
      programmed.map((s) => s.name).sort(),
      TWO_HUNDRED.slice(0, 25)
        .map((d) => `${d.vip}:80/TCP`)
        .sort(),
      'the first 25 of the list (the highest addresses)',
    );
    t.match(
      full[0]!.reason,
      /cilium_lb4_backends_v3 is full for kube-lb: 50 of its 50 entries taken by earlier frontends, 2 more needed \(the rest of the map's 100 is kept/,
    );
    t.equal(opened.maps.backends.dump().count, 50, 'the backends map holds 50: Cilium still has 50 entries of room');
    t.equal(mastersOf(opened.maps).length, 25);

    // Cilium writes 40 backends of its own, most of its part: kube-lb gives up the last listed, so a quarter of the
    // part (13) stays free for Cilium.
    const profile = PROFILES['1.18'];
    for (const e of foreignServiceEntries(profile, {
      vip: '10.96.0.10',
      port: 53,
      proto: 17,
      revNat: 7,
      backends: Array.from({ length: 40 }, (_, j) => ({ id: j + 1, address: `10.0.1.${j + 1}`, port: 53 })),
    })) {
      using m = BpfMap.open(join(opened.dir, LB4_MAPS[e.map].name));
      m.update(e.key, e.value);
    }
    const again = reconciler.reconcileOnce();
    t.equal(again.error, undefined);
    const kept = reconciler.statuses().filter((s) => s.state === 'programmed');
    t.equal(kept.length, 23, '23 of the 25 stay');
    t.same(
      kept.map((s) => s.name).sort(),
      TWO_HUNDRED.slice(0, 23)
        .map((d) => `${d.vip}:80/TCP`)
        .sort(),
      'the first 23 of the list',
    );
    t.equal(opened.maps.backends.dump().count, 86, '46 + 40: 14 entries of room left');
  },
);

t.test(
  "Cilium holding more than its part shrinks kube-lb's budget; nothing is overwritten, no write fails",
  async (t) => {
    const opened = openLb4Maps({ dir: smallMaps('crowded', 100), ciliumVersion: '1.18' });
    t.teardown(() => opened.maps.close());
    const profile = PROFILES['1.18'];
    for (const e of foreignServiceEntries(profile, {
      vip: '10.96.0.10',
      port: 53,
      proto: 17,
      revNat: 7,
      backends: Array.from({ length: 70 }, (_, j) => ({ id: j + 1, address: `10.0.1.${j + 1}`, port: 53 })),
    })) {
      using m = BpfMap.open(join(opened.dir, LB4_MAPS[e.map].name));
      m.update(e.key, e.value);
    }
    const reconciler = new DataplaneReconciler({
      maps: opened.maps,
      profile,
      logger: createLogger({ program: 'test', level: 'silent' }),
    });
    reconciler.setDesired(TWO_HUNDRED);
    const pass = reconciler.reconcileOnce();
    t.equal(pass.error, undefined);
    t.equal(
      reconciler.statuses().filter((s) => s.state === 'programmed').length,
      8,
      '100 - (70 + 13 kept free) = 17 entries: 8 frontends',
    );
    t.equal(opened.maps.backends.dump().count, 86, '16 + 70: the map is never filled by kube-lb, and no write failed');
    t.ok(mastersOf(opened.maps).includes('10.96.0.10'), "Cilium's service is untouched");
  },
);
