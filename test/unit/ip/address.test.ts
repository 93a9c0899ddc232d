import t from 'tap';
import {
  parseIP,
  formatIP,
  canonicalIP,
  compareIP,
  ipAdd,
  isBuggyIP,
  ipv4ToUint32,
  uint32ToIPv4,
} from '../../../src/core/ip/index.ts';

t.test('parse and print: canonical text round-trips', async (t) => {
  const rows: Array<[input: string, canonical: string | undefined]> = [
    ['192.0.2.1', '192.0.2.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['192.0.2.01', undefined], // leading zero: ambiguous (octal in some parsers)
    ['192.0.2.256', undefined],
    ['192.0.2', undefined],
    ['192.0.2.1.5', undefined],
    ['', undefined],
    [' 192.0.2.1', undefined],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
    ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1'], // a single zero group is not compressed
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1::2::3', undefined],
    ['12345::', undefined],
    ['fe80::1%eth0', undefined],
    ['1.2.3.4::', undefined],
  ];
  for (const [input, canonical] of rows) t.equal(canonicalIP(input), canonical, JSON.stringify(input));
});

t.test('order, arithmetic and the uint32 bridge', async (t) => {
  const a = parseIP('192.0.2.255')!;
  const b = ipAdd(a, 1n)!;
  t.equal(formatIP(b), '192.0.3.0');
  t.ok(compareIP(a, b) < 0);
  t.ok(compareIP(parseIP('255.255.255.255')!, parseIP('::')!) < 0, 'IPv4 sorts before IPv6');
  t.equal(ipAdd(parseIP('255.255.255.255')!, 1n), undefined);
  t.equal(ipv4ToUint32(parseIP('192.0.2.1')!), 0xc0000201);
  t.equal(formatIP(uint32ToIPv4(0xc0000201)), '192.0.2.1');
  t.throws(() => ipv4ToUint32(parseIP('::1')!));
  t.throws(() => uint32ToIPv4(-1));
});

t.test('buggy addresses are .0 and .255 of IPv4 only', async (t) => {
  const rows: Array<[string, boolean]> = [
    ['10.0.0.0', true],
    ['10.0.0.255', true],
    ['10.0.1.0', true],
    ['10.0.0.1', false],
    ['10.0.0.254', false],
    ['2001:db8::', false],
    ['2001:db8::ff', false],
  ];
  for (const [ip, buggy] of rows) t.equal(isBuggyIP(parseIP(ip)!), buggy, ip);
});
