import t from 'tap';
import { rankCandidates, rendezvousOwner, rendezvousScore, RendezvousScores } from '../../../src/core/l2/rendezvous.ts';

const nodes = ['lb-1', 'lb-2', 'lb-3'];
const vips = Array.from({ length: 30 }, (_, i) => `192.0.2.${10 + i}`);

function owners(candidates: string[]): Map<string, string> {
  return new Map(vips.map((v) => [v, rendezvousOwner(v, candidates)!]));
}

t.test('the score is SHA-256 of "node\\0vip", first 8 bytes big-endian (reproducible with sha256sum)', async (t) => {
  t.equal(rendezvousScore('lb-1', '192.0.2.10'), 0x5990f2ca6c9ae51an);
});

t.test('every caller agrees, whatever the order of candidates', async (t) => {
  for (const vip of vips) {
    t.equal(rendezvousOwner(vip, nodes), rendezvousOwner(vip, [...nodes].reverse()));
    t.equal(rankCandidates(vip, nodes)[0], rendezvousOwner(vip, nodes));
  }
});

t.test('30 VIPs over 3 nodes: every node gets some, none more than half', async (t) => {
  const counts = new Map<string, number>();
  for (const owner of owners(nodes).values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  t.same([...counts.keys()].sort(), nodes);
  for (const [node, n] of counts) t.ok(n <= 15, `${node} owns ${n}`);
});

t.test('a node leaving moves only its own VIPs; coming back takes back only those', async (t) => {
  const before = owners(nodes);
  const after = owners(['lb-1', 'lb-3']);
  for (const vip of vips) {
    if (before.get(vip) !== 'lb-2') t.equal(after.get(vip), before.get(vip), `${vip} stays`);
    else t.not(after.get(vip), 'lb-2', `${vip} moves`);
  }
  t.same(owners(nodes), before, 'rejoining restores the same assignment');
});

t.test('a joining node takes VIPs only for itself', async (t) => {
  const before = owners(nodes);
  const after = owners([...nodes, 'lb-4']);
  for (const vip of vips) t.ok(after.get(vip) === before.get(vip) || after.get(vip) === 'lb-4', vip);
});

t.test('no candidates: no owner; duplicates do not count twice', async (t) => {
  t.equal(rendezvousOwner('192.0.2.1', []), undefined);
  t.same(rankCandidates('192.0.2.1', ['a', 'a', 'b']).sort(), ['a', 'b']);
});

t.test('the memoizing picker agrees with the plain one, also after it forgets', async (t) => {
  const scores = new RendezvousScores(10);
  for (const vip of vips) {
    t.equal(scores.owner(vip, nodes), rendezvousOwner(vip, nodes));
    t.equal(scores.score('lb-2', vip), rendezvousScore('lb-2', vip));
  }
});
