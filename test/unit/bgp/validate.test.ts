// BGP mode's rules across objects (src/core/bgp/validate.ts), below the webhook: when two node selectors are
// taken as disjoint, and which communities are in range. test/unit/allocation/admission.test.ts has the verdicts.
import t from 'tap';
import { communityProblem, largeCommunityProblem, selectorsMayOverlap } from '../../../src/core/bgp/validate.ts';

t.test('node selectors are disjoint only by conflicting matchLabels', async (t) => {
  const rows: Array<[string, Parameters<typeof selectorsMayOverlap>, boolean]> = [
    ['both unset', [undefined, undefined], true],
    ['one unset', [{ matchLabels: { rack: 'r1' } }, undefined], true],
    ['same value', [{ matchLabels: { rack: 'r1' } }, { matchLabels: { rack: 'r1' } }], true],
    ['other keys', [{ matchLabels: { rack: 'r1' } }, { matchLabels: { zone: 'z1' } }], true],
    [
      'one key conflicts',
      [{ matchLabels: { rack: 'r1', zone: 'z' } }, { matchLabels: { rack: 'r2', zone: 'z' } }],
      false,
    ],
    [
      'expressions that exclude each other still count as overlapping',
      [
        { matchExpressions: [{ key: 'rack', operator: 'Exists' }] },
        { matchExpressions: [{ key: 'rack', operator: 'DoesNotExist' }] },
      ],
      true,
    ],
    ['an empty selector selects every node', [{}, { matchLabels: { rack: 'r1' } }], true],
  ];
  for (const [what, [a, b], want] of rows) {
    t.equal(selectorsMayOverlap(a, b), want, what);
    t.equal(selectorsMayOverlap(b, a), want, `${what} (the other way round)`);
  }
});

t.test('communities', async (t) => {
  for (const ok of [
    '0:0',
    '65535:65535',
    '64512:100',
    'no-export',
    'no-advertise',
    'local-AS',
    'blackhole',
    'graceful-shutdown',
  ])
    t.equal(communityProblem(ok), undefined, ok);
  t.match(communityProblem('65536:0'), /out of range/);
  t.match(communityProblem('1:99999'), /out of range/);
  t.match(communityProblem('1:2:3'), /not ASN:VALUE/);
  t.match(communityProblem('NO-EXPORT'), /not ASN:VALUE/, 'names are case-sensitive, as in the CRD');
  t.match(communityProblem('-1:5'), /not ASN:VALUE/);
  for (const ok of ['0:0:0', '4294967295:4294967295:4294967295', '64512:1:2'])
    t.equal(largeCommunityProblem(ok), undefined, ok);
  t.match(largeCommunityProblem('4294967296:0:0'), /out of range/);
  t.match(largeCommunityProblem('1:2'), /not A:B:C/);
  t.match(largeCommunityProblem('1:2:x'), /not A:B:C/);
});
