import t from 'tap';
import {
  garpRequest,
  garpReply,
  decodeArp,
  encodeArp,
  isGratuitous,
  macToBytes,
  ipv4ToBytes,
  AddressFormatError,
  ARP_REQUEST,
  ARP_REPLY,
} from '../../../src/core/l2/arp-frame.ts';

const mac = '02:00:5e:10:00:01';
const vip = '192.0.2.10';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('gratuitous ARP request, byte by byte', async (t) => {
  const f = garpRequest(mac, vip);
  t.equal(f.length, 60, 'padded to the Ethernet minimum');
  t.equal(hex(f.subarray(0, 6)), 'ffffffffffff', 'eth dst broadcast');
  t.equal(hex(f.subarray(6, 12)), '02005e100001', 'eth src = announcing MAC');
  t.equal(hex(f.subarray(12, 14)), '0806', 'EtherType ARP');
  t.equal(hex(f.subarray(14, 22)), '0001080006040001', 'htype 1, ptype IPv4, hlen 6, plen 4, op request');
  t.equal(hex(f.subarray(22, 28)), '02005e100001', 'SHA');
  t.equal(hex(f.subarray(28, 32)), 'c000020a', 'SPA = VIP');
  t.equal(hex(f.subarray(32, 38)), '000000000000', 'THA zero');
  t.equal(hex(f.subarray(38, 42)), 'c000020a', 'TPA = VIP');
  t.equal(hex(f.subarray(42)), '00'.repeat(18), 'padding');
});

t.test('gratuitous ARP reply has op 2 and THA = SHA', async (t) => {
  const f = garpReply(mac, vip);
  t.equal(hex(f.subarray(20, 22)), '0002');
  t.equal(hex(f.subarray(32, 38)), '02005e100001');
  t.equal(hex(f.subarray(0, 6)), 'ffffffffffff');
});

t.test('decode inverts encode; both forms count as gratuitous', async (t) => {
  const req = decodeArp(garpRequest(mac, vip))!;
  t.same(req, {
    ethDst: 'ff:ff:ff:ff:ff:ff',
    ethSrc: mac,
    op: ARP_REQUEST,
    senderMac: mac,
    senderIp: vip,
    targetMac: '00:00:00:00:00:00',
    targetIp: vip,
  });
  t.ok(isGratuitous(req));
  t.ok(isGratuitous(decodeArp(garpReply(mac, vip))!));
  const ordinary = {
    ethDst: 'ff:ff:ff:ff:ff:ff',
    ethSrc: mac,
    op: ARP_REQUEST,
    senderMac: mac,
    senderIp: '192.0.2.1',
    targetMac: '00:00:00:00:00:00',
    targetIp: vip,
  };
  t.same(decodeArp(encodeArp(ordinary)), ordinary);
  t.notOk(isGratuitous(ordinary), 'SPA != TPA');
  t.notOk(
    isGratuitous({ ...ordinary, op: ARP_REPLY, senderIp: vip, targetMac: '02:00:00:00:00:09' }),
    'reply with THA != SHA',
  );
});

t.test('a 42-byte unpadded frame decodes; other frames do not', async (t) => {
  t.ok(decodeArp(garpRequest(mac, vip).subarray(0, 42)));
  t.equal(decodeArp(garpRequest(mac, vip).subarray(0, 41)), undefined, 'too short');
  const ipv4 = garpRequest(mac, vip).slice();
  ipv4[13] = 0x00;
  t.equal(decodeArp(ipv4), undefined, 'EtherType 0x0800');
});

t.test('addresses are validated', async (t) => {
  t.throws(() => macToBytes('02:00:5e:10:00'), AddressFormatError);
  t.throws(() => macToBytes('02:00:5e:10:00:zz'), AddressFormatError);
  t.throws(() => ipv4ToBytes('192.0.2.256'), AddressFormatError);
  t.throws(() => ipv4ToBytes('192.0.2.01'), AddressFormatError);
  t.throws(() => ipv4ToBytes('192.0.2'), AddressFormatError);
  t.same([...ipv4ToBytes('0.0.0.0')], [0, 0, 0, 0]);
});
