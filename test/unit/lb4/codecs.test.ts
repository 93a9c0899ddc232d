// Byte-exact tests: every lb4 struct against hand-written bytes, for every profile where its layout differs.
import t from 'tap';
import { affinityMatchKeyCodec } from '../../../src/core/lb4/affinity-match.ts';
import { backendIdCodec, lb4BackendCodec } from '../../../src/core/lb4/backend.ts';
import { HOST_LITTLE_ENDIAN, hex } from '../../../src/core/lb4/bytes.ts';
import { decode, encode } from '../../../src/core/lb4/codec.ts';
import { Lb4CodecError } from '../../../src/core/lb4/errors.ts';
import { parseIPv4 } from '../../../src/core/lb4/ipv4.ts';
import { decodeMaglevTable, encodeMaglevTable, maglevOuterKeyCodec } from '../../../src/core/lb4/maglev.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { lb4ReverseNatCodec, revNatKeyCodec } from '../../../src/core/lb4/reverse-nat.ts';
import { lb4KeyCodec } from '../../../src/core/lb4/service-key.ts';
import { lb4ServiceCodec, packAffinity, unpackAffinity } from '../../../src/core/lb4/service-value.ts';
import { sourceRangeKeyCodec } from '../../../src/core/lb4/source-range.ts';
import { idTableKeyCodec, idTableValueCodec } from '../../../src/core/dataplane/id-table.ts';

const bytes = (s: string): string => s.replace(/\s+/g, ' ').trim();
const VIP = parseIPv4('10.0.0.1');
const NODE = parseIPv4('10.1.0.5');

t.ok(HOST_LITTLE_ENDIAN, 'these vectors are written for a little-endian host (x86-64, arm64)');

t.test('lb4_key: NBO address and port, host-order slot, proto, scope, zero pad', async (t) => {
  const master = { address: VIP, port: 80, slot: 0, proto: 6, scope: 0 };
  t.equal(hex(encode(lb4KeyCodec, master)), bytes('0a 00 00 01  00 50  00 00  06  00  00 00'));
  const slot = { address: VIP, port: 8443, slot: 3, proto: 0, scope: 1 };
  t.equal(hex(encode(lb4KeyCodec, slot)), bytes('0a 00 00 01  20 fb  03 00  00  01  00 00'));
  t.same(decode(lb4KeyCodec, encode(lb4KeyCodec, slot)), slot);
  t.throws(() => encode(lb4KeyCodec, { ...master, port: 70000 }), Lb4CodecError);
});

t.test('lb4_service: union host u32, count host, rev_nat NBO, flags, tail per version', async (t) => {
  const master = { union: 10800, count: 2, revNat: 0xfffe, flags: 0x70, flags2: 0, qcount: 0 };
  for (const v of ['1.14', '1.15', '1.16'] as const) {
    t.equal(hex(encode(lb4ServiceCodec(PROFILES[v]), master)), bytes('30 2a 00 00  02 00  ff fe  70  00  00 00'), v);
    t.throws(() => encode(lb4ServiceCodec(PROFILES[v]), { ...master, qcount: 1 }), Lb4CodecError, `${v} has pad`);
  }
  for (const v of ['1.17', '1.18', '1.19'] as const) {
    const c = lb4ServiceCodec(PROFILES[v]);
    t.equal(hex(encode(c, { ...master, qcount: 1 })), bytes('30 2a 00 00  02 00  ff fe  70  00  01 00'), v);
    t.same(decode(c, encode(c, { ...master, qcount: 1 })), { ...master, qcount: 1 });
  }
  const slot = { union: 0xfffffff0, count: 0, revNat: 0x0102, flags: 0, flags2: 0x40, qcount: 0 };
  t.equal(hex(encode(lb4ServiceCodec(PROFILES['1.17']), slot)), bytes('f0 ff ff ff  00 00  01 02  00  40  00 00'));
});

t.test('master union: 32-bit timeout before 1.17, 24-bit timeout + 8-bit algorithm after', async (t) => {
  t.equal(packAffinity(PROFILES['1.16'], { timeoutSeconds: 0x1000000, algorithm: 0 }), 0x1000000);
  t.throws(() => packAffinity(PROFILES['1.16'], { timeoutSeconds: 10, algorithm: 2 }), Lb4CodecError);
  const p = PROFILES['1.18'];
  const packed = packAffinity(p, { timeoutSeconds: 10800, algorithm: 2 });
  t.equal(packed, 0x02002a30);
  t.same(unpackAffinity(p, packed), { timeoutSeconds: 10800, algorithm: 2 }, 'neither field clobbers the other');
  t.same(unpackAffinity(p, packAffinity(p, { timeoutSeconds: 0xffffff, algorithm: 0 })), {
    timeoutSeconds: 0xffffff,
    algorithm: 0,
  });
  t.throws(
    () => packAffinity(p, { timeoutSeconds: 0x1000000, algorithm: 0 }),
    Lb4CodecError,
    'no spill into algorithm',
  );
  t.throws(() => packAffinity(p, { timeoutSeconds: 1, algorithm: 256 }), Lb4CodecError);
});

t.test('lb4_backend: bytes 8–11 per version', async (t) => {
  const b = { address: NODE, port: 30080, proto: 0, state: 1, clusterId: 7, zone: 0 };
  t.equal(hex(encode(lb4BackendCodec(PROFILES['1.14']), b)), bytes('0a 01 00 05  75 80  00  01  07 00 00 00'));
  t.throws(() => encode(lb4BackendCodec(PROFILES['1.14']), { ...b, clusterId: 256 }), Lb4CodecError, 'u8 cluster_id');
  const wide = { ...b, clusterId: 0x0102 };
  t.equal(hex(encode(lb4BackendCodec(PROFILES['1.15']), wide)), bytes('0a 01 00 05  75 80  00  01  02 01 00 00'));
  t.throws(() => encode(lb4BackendCodec(PROFILES['1.15']), { ...wide, zone: 3 }), Lb4CodecError, 'no zone in 1.15');
  t.equal(
    hex(encode(lb4BackendCodec(PROFILES['1.16']), { ...wide, zone: 3 })),
    bytes('0a 01 00 05  75 80  00  01  02 01 03 00'),
  );
  const l4 = { ...b, proto: 6, clusterId: 0, state: 0 };
  for (const v of ['1.17', '1.18', '1.19'] as const) {
    const c = lb4BackendCodec(PROFILES[v]);
    t.equal(hex(encode(c, l4)), bytes('0a 01 00 05  75 80  06  00  00 00 00 00'), v);
    t.same(decode(c, encode(c, { ...l4, zone: 9 })), { ...l4, zone: 9 });
  }
  t.equal(hex(encode(backendIdCodec, 0xfffffffe)), 'fe ff ff ff', 'backend key is a host-order u32');
});

t.test('reverse NAT: NBO u16 key, packed 6-byte NBO value', async (t) => {
  t.equal(hex(encode(revNatKeyCodec, 0xfffe)), 'ff fe');
  t.equal(hex(encode(revNatKeyCodec, 0x0102)), '01 02');
  t.equal(hex(encode(lb4ReverseNatCodec, { address: VIP, port: 80 })), bytes('0a 00 00 01  00 50'));
  t.same(decode(lb4ReverseNatCodec, encode(lb4ReverseNatCodec, { address: VIP, port: 443 })), {
    address: VIP,
    port: 443,
  });
});

t.test('maglev: NBO outer key, inner table of host-order u32 IDs', async (t) => {
  t.equal(hex(encode(maglevOuterKeyCodec, 0x1234)), '12 34');
  const table = Uint32Array.from([1, 0xfffffffe, 0x01020304]);
  t.equal(hex(encodeMaglevTable(table)), bytes('01 00 00 00  fe ff ff ff  04 03 02 01'));
  t.same([...decodeMaglevTable(encodeMaglevTable(table))], [...table]);
});

t.test('source range key: host prefixlen counting rev_nat and pad, NBO rev_nat and address', async (t) => {
  const k = { revNat: 0xfffe, address: parseIPv4('192.168.0.0'), bits: 16 };
  t.equal(hex(encode(sourceRangeKeyCodec, k)), bytes('30 00 00 00  ff fe  00 00  c0 a8 00 00'));
  t.same(decode(sourceRangeKeyCodec, encode(sourceRangeKeyCodec, k)), k);
  t.equal(
    hex(encode(sourceRangeKeyCodec, { ...k, bits: 0, address: 0 })),
    bytes('20 00 00 00 ff fe 00 00 00 00 00 00'),
  );
  t.throws(() => encode(sourceRangeKeyCodec, { ...k, bits: 33 }), Lb4CodecError);
});

t.test('affinity match key: host backend ID, NBO rev_nat, pad', async (t) => {
  const k = { backendId: 0xfffffff0, revNat: 0x0102 };
  t.equal(hex(encode(affinityMatchKeyCodec, k)), bytes('f0 ff ff ff  01 02  00 00'));
  t.same(decode(affinityMatchKeyCodec, encode(affinityMatchKeyCodec, k)), k);
});

t.test("kube-lb's ID table: frontend key without slot, host-order service ID", async (t) => {
  const k = { address: VIP, port: 80, proto: 6, scope: 0 };
  t.equal(hex(encode(idTableKeyCodec, k)), bytes('0a 00 00 01  00 50  06  00'));
  t.equal(hex(encode(idTableValueCodec, 0xfffe)), 'fe ff 00 00');
  t.throws(() => encode(idTableValueCodec, 0x10000), Lb4CodecError, 'service IDs are u16');
});

t.test('decode refuses short input', async (t) => {
  t.throws(() => decode(lb4KeyCodec, new Uint8Array(11)), Lb4CodecError);
});
