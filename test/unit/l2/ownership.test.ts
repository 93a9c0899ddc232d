// Ownership decisions with their reasons, as a story over one set of announcements and nodes.
import t from 'tap';
import {
  decideOwnership,
  diffAnnouncements,
  localAnnouncements,
  publishableInterfaces,
  type AnnouncementRule,
  type Member,
} from '../../../src/core/l2/ownership.ts';
import { parseInterfaceSelection } from '../../../src/core/l2/interfaces.ts';
import { rendezvousOwner } from '../../../src/core/l2/rendezvous.ts';

const rules: AnnouncementRule[] = [
  {
    name: 'public',
    poolSelector: { matchLabels: { exposure: 'public' } },
    interfaces: parseInterfaceSelection(['eth0']),
  },
  {
    name: 'dmz',
    poolSelector: { matchLabels: { exposure: 'dmz' } },
    nodeSelector: { matchLabels: { dmz: 'yes' } },
    interfaces: parseInterfaceSelection(['/^vlan/']),
  },
  { name: 'mgmt', poolSelector: { matchLabels: { exposure: 'mgmt' } }, interfaces: [] },
];
const members: Member[] = [
  { name: 'lb-1', labels: {}, interfaces: ['eth0'], defaultInterface: 'eth0' },
  { name: 'lb-2', labels: { dmz: 'yes' }, interfaces: ['eth0', 'vlan20'], defaultInterface: 'eth0' },
  { name: 'lb-3', labels: { dmz: 'yes' }, interfaces: ['vlan20'], defaultInterface: 'eth9' },
];
const pub = { vip: '192.0.2.10', pool: 'public', poolLabels: { exposure: 'public' } };
const dmz = { vip: '198.51.100.7', pool: 'dmz', poolLabels: { exposure: 'dmz' } };

t.test('public VIP: only nodes with eth0 up are eligible; everyone agrees on the owner', async (t) => {
  const expected = rendezvousOwner(pub.vip, ['lb-1', 'lb-2'])!;
  for (const self of ['lb-1', 'lb-2', 'lb-3']) {
    const d = decideOwnership(self, pub, rules, members);
    t.equal(d.owner, expected);
    t.equal(d.reason, self === expected ? 'owner' : 'notOwner');
    t.equal(d.eligible, 2);
    t.same(d.interfaces, ['eth0']);
  }
});

t.test('DMZ VIP: node selector and regex pick vlan interfaces on lb-2 and lb-3', async (t) => {
  const d = decideOwnership('lb-1', dmz, rules, members);
  t.equal(d.owner, rendezvousOwner(dmz.vip, ['lb-2', 'lb-3']));
  t.equal(d.reason, 'notOwner');
  t.same(d.interfaces, ['vlan20']);
});

t.test('a pool no announcement selects is not announced', async (t) => {
  const d = decideOwnership(
    'lb-1',
    { vip: '203.0.113.1', pool: 'x', poolLabels: { exposure: 'private' } },
    rules,
    members,
  );
  t.equal(d.reason, 'noMatchingAnnouncement');
  t.equal(d.owner, undefined);
});

t.test('no live node with a usable interface: noEligibleNode', async (t) => {
  const d = decideOwnership('lb-1', dmz, rules, members.slice(0, 1));
  t.equal(d.reason, 'noEligibleNode');
});

t.test('no interface list: the default-route interface, when the node published it', async (t) => {
  const mgmt = { vip: '10.0.0.5', pool: 'mgmt', poolLabels: { exposure: 'mgmt' } };
  const d = decideOwnership('lb-1', mgmt, rules, members);
  t.equal(d.eligible, 2, 'lb-3 did not publish its default interface eth9 as usable');
  t.same(d.interfaces, ['eth0']);
});

t.test('a node publishes the usable links some rule could pick for it', async (t) => {
  t.same(publishableInterfaces(rules, { dmz: 'yes' }, ['eth0', 'vlan20', 'vlan30', 'eth1'], 'eth1'), [
    'eth0',
    'eth1',
    'vlan20',
    'vlan30',
  ]);
  t.same(publishableInterfaces(rules, {}, ['eth0', 'vlan20'], 'eth0'), ['eth0'], 'dmz rule does not select this node');
});

t.test('local announcements and their diff', async (t) => {
  const owner = rendezvousOwner(pub.vip, ['lb-1', 'lb-2'])!;
  const mine = localAnnouncements([
    decideOwnership(owner, pub, rules, members),
    decideOwnership(owner, dmz, rules, members),
  ]);
  t.ok(mine.has(pub.vip));
  const diff = diffAnnouncements(
    new Map([
      ['192.0.2.99', ['eth0']],
      [pub.vip, ['eth1']],
    ]),
    mine,
  );
  t.same(
    diff.add.filter((c) => c.vip === pub.vip),
    [{ vip: pub.vip, ifname: 'eth0' }],
  );
  t.same(diff.remove, [
    { vip: '192.0.2.99', ifname: 'eth0' },
    { vip: pub.vip, ifname: 'eth1' },
  ]);
  t.same(diffAnnouncements(mine, mine), { add: [], remove: [] });
});
