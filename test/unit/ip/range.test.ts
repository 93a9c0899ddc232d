import t from 'tap';
import {
  parsePoolEntry,
  parseCIDR,
  parseStrictCIDR,
  rangeSize,
  rangesOverlap,
  rangeContains,
  rangeWithinAny,
  countBuggy,
  usableCount,
  formatRange,
  reservedOverlap,
  firstAcceptable,
  parseIP,
  formatIP,
  rangeIntersection,
} from '../../../src/core/ip/index.ts';

t.test('pool entries: CIDRs and ranges, with reasons for the bad ones', async (t) => {
  const rows: Array<[input: string, expect: string]> = [
    ['192.0.2.0/24', '192.0.2.0-192.0.2.255'],
    ['192.0.2.7/32', '192.0.2.7-192.0.2.7'],
    ['0.0.0.0/0', '0.0.0.0-255.255.255.255'],
    ['192.0.2.10-192.0.2.20', '192.0.2.10-192.0.2.20'],
    ['192.0.2.10 - 192.0.2.20', '192.0.2.10-192.0.2.20'],
    ['192.0.2.10-192.0.2.10', '192.0.2.10-192.0.2.10'],
    ['2001:db8::/120', '2001:db8::-2001:db8::ff'],
    ['2001:db8::1-2001:db8::5', '2001:db8::1-2001:db8::5'],
    ['192.0.2.5/24', 'error: host bits set in 192.0.2.5/24: write the network address 192.0.2.0/24'],
    ['192.0.2.0/33', 'error: 192.0.2.0/33 is not a CIDR: prefix length must be 0-32'],
    ['192.0.2.0/-1', 'error: 192.0.2.0/-1 is not a range: 192.0.2.0/ is not an IP address'],
    ['192.0.2.0/', 'error: 192.0.2.0/ is not a CIDR: prefix length must be 0-32'],
    ['192.0.2.0', 'error: 192.0.2.0 is not a CIDR (expected address/prefix)'],
    [
      '192.0.2.20-192.0.2.10',
      'error: range 192.0.2.20-192.0.2.10 is reversed: the first address must not be above the last',
    ],
    ['192.0.2.1-2001:db8::1', 'error: range 192.0.2.1-2001:db8::1 mixes IPv4 and IPv6'],
    ['192.0.2.1-192.0.2.2-192.0.2.3', 'error: 192.0.2.1-192.0.2.2-192.0.2.3 is not a range (expected first-last)'],
    ['a.b.c.d/24', 'error: a.b.c.d/24 is not a CIDR: a.b.c.d is not an IP address'],
    [
      '2001:db8::ff-2001:db8::1',
      'error: range 2001:db8::ff-2001:db8::1 is reversed: the first address must not be above the last',
    ],
  ];
  for (const [input, expect] of rows) {
    const r = parsePoolEntry(input);
    const got = r.ok ? formatRange(r.value) : `error: ${r.reason}`;
    t.equal(got, expect, input);
  }
});

t.test('CIDR parsing keeps the written address', async (t) => {
  const c = parseCIDR('10.1.2.3/16');
  t.ok(c.ok && c.value.hostBitsSet && c.value.prefix === 16 && formatIP(c.value.ip) === '10.1.2.3');
  t.notOk(parseStrictCIDR('10.1.2.3/16').ok);
});

t.test('sizes, overlap, containment', async (t) => {
  const r = (s: string) => {
    const p = parsePoolEntry(s);
    if (!p.ok) throw new Error(p.reason);
    return p.value;
  };
  t.equal(rangeSize(r('192.0.2.0/24')), 256n);
  t.equal(rangeSize(r('2001:db8::/64')), 1n << 64n);
  const overlapRows: Array<[string, string, boolean]> = [
    ['192.0.2.0/24', '192.0.2.128/25', true],
    ['192.0.2.0/25', '192.0.2.128/25', false],
    ['192.0.2.0-192.0.2.10', '192.0.2.10-192.0.2.20', true],
    ['192.0.2.0-192.0.2.9', '192.0.2.10-192.0.2.20', false],
    ['0.0.0.0/0', '::/0', false],
  ];
  for (const [a, b, want] of overlapRows) {
    t.equal(rangesOverlap(r(a), r(b)), want, `${a} ~ ${b}`);
    t.equal(rangesOverlap(r(b), r(a)), want, `${b} ~ ${a}`);
  }
  t.equal(formatRange(rangeIntersection(r('192.0.2.0/24'), r('192.0.2.250-192.0.3.5'))!), '192.0.2.250-192.0.2.255');
  t.ok(rangeContains(r('192.0.2.0/24'), parseIP('192.0.2.77')!));
  t.notOk(rangeContains(r('192.0.2.0/24'), parseIP('::ffff:192.0.2.77')!), 'no cross-family match');
  t.ok(rangeWithinAny(r('10.0.1.0/24'), [r('10.0.0.0/24'), r('10.0.0.0/16')]));
  t.notOk(rangeWithinAny(r('10.0.0.0/23'), [r('10.0.0.0/24'), r('10.0.1.0/24')]), 'ranges are not merged');
});

t.test('buggy-address counting matches enumeration', async (t) => {
  const rows = [
    '10.0.0.0/24',
    '10.0.0.0/22',
    '10.0.0.200-10.0.1.10',
    '10.0.0.1-10.0.0.254',
    '0.0.0.0-0.0.1.0',
    '10.0.0.255/32',
  ];
  for (const text of rows) {
    const p = parsePoolEntry(text);
    if (!p.ok) throw new Error(p.reason);
    let n = 0n;
    for (let v = p.value.first; v <= p.value.last; v++) if ((v & 255n) === 0n || (v & 255n) === 255n) n++;
    t.equal(countBuggy(p.value), n, text);
    t.equal(usableCount(p.value, true), rangeSize(p.value) - n);
  }
  const v6 = parsePoolEntry('2001:db8::/120');
  t.equal(v6.ok && countBuggy(v6.value), 0n);
});

t.test('special-purpose blocks are named', async (t) => {
  const rows: Array<[string, string | undefined]> = [
    ['127.0.0.0/8', 'loopback 127.0.0.0/8'],
    ['126.255.255.250-127.0.0.2', 'loopback 127.0.0.0/8'],
    ['224.0.0.0/24', 'multicast 224.0.0.0/4'],
    ['169.254.1.0/24', 'link-local 169.254.0.0/16'],
    ['192.0.2.0/24', undefined],
    ['fe80::/64', 'link-local fe80::/10'],
    ['2001:db8::/64', undefined],
  ];
  for (const [text, want] of rows) {
    const p = parsePoolEntry(text);
    t.equal(p.ok ? reservedOverlap(p.value) : 'parse error', want, text);
  }
});

t.test('first acceptable address skips buggy ones when asked', async (t) => {
  const p = parsePoolEntry('10.0.0.254-10.0.1.2');
  if (!p.ok) throw new Error(p.reason);
  const taken = new Set(['10.0.0.254']);
  const free = (ip: Parameters<typeof formatIP>[0]) => !taken.has(formatIP(ip));
  t.equal(formatIP(firstAcceptable(p.value, p.value.first, free, false)!), '10.0.0.255');
  t.equal(formatIP(firstAcceptable(p.value, p.value.first, free, true)!), '10.0.1.1');
  t.equal(
    firstAcceptable(p.value, p.value.first, () => false, true),
    undefined,
  );
});
