// The pure parts of the speaker's L2 inputs and heartbeat datagrams: claims grouped by VIP, announcements parsed
// (bad ones skipped, not fatal), the datagram codec and peer addresses from Lease annotations.
import t from 'tap';
import { parseRules, vipsFromClaims } from '../../../src/speaker/l2/inputs.ts';
import { decodeProbe, encodeProbe, parsePeerAddress } from '../../../src/speaker/l2/probe-wire.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import type { L2Announcement, VIPClaim, VIPPool } from '../../../src/api/v1alpha1.ts';

const logger = createLogger({ program: 'test', level: 'silent' });

function claim(ns: string, name: string, status: VIPClaim['status'], deleting = false): VIPClaim {
  return {
    metadata: { namespace: ns, name, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: {
      service: { cluster: 'c', namespace: 'd', name, uid: name },
      ports: [],
      backends: [],
      externalTrafficPolicy: 'Cluster',
    },
    ...(status ? { status } : {}),
  };
}

t.test('claims sharing a VIP share one entry; claims without a VIP or being deleted are left out', async (t) => {
  const pools = new Map<string, VIPPool>([
    ['public', { metadata: { name: 'public', labels: { exposure: 'public' } }, spec: { addresses: [] } }],
  ]);
  const vips = vipsFromClaims(
    [
      claim('a', 'web', { vip: '192.0.2.10', pool: 'public' }),
      claim('a', 'dns', { vip: '192.0.2.10', pool: 'public' }),
      claim('b', 'db', { vip: '192.0.2.2', pool: 'gone' }),
      claim('b', 'pending', {}),
      claim('b', 'old', { vip: '192.0.2.99', pool: 'public' }, true),
    ],
    pools,
  );
  t.same(vips, [
    {
      vip: '192.0.2.10',
      pool: 'public',
      poolLabels: { exposure: 'public' },
      claims: [
        { namespace: 'a', name: 'web' },
        { namespace: 'a', name: 'dns' },
      ],
    },
    { vip: '192.0.2.2', pool: 'gone', poolLabels: {}, claims: [{ namespace: 'b', name: 'db' }] },
  ]);
});

t.test('announcements are parsed in name order; one with a bad pattern is skipped', async (t) => {
  const a = (name: string, interfaces?: string[]): L2Announcement => ({
    metadata: { name },
    spec: interfaces ? { interfaces } : {},
  });
  const rules = parseRules([a('z'), a('bad', ['/(/']), a('b', ['eth0', '/^vlan/'])], logger);
  t.same(
    rules.map((r) => r.name),
    ['b', 'z'],
  );
  t.same(
    rules[0]!.interfaces.map((p) => p.kind),
    ['name', 'regex'],
  );
  t.same(rules[1]!.interfaces, [], 'no list: the default-route interface');
});

t.test('heartbeat datagrams round-trip; anything else is ignored', async (t) => {
  const m = { v: 1, t: 'bye', n: 'lb-2', s: 42 } as const;
  t.same(decodeProbe(encodeProbe(m)), m);
  t.ok(encodeProbe(m).length < 100);
  t.equal(decodeProbe(Buffer.from('not json')), undefined);
  t.equal(decodeProbe(Buffer.from(JSON.stringify({ v: 2, t: 'hb', n: 'x', s: 1 }))), undefined);
  t.equal(decodeProbe(Buffer.from(JSON.stringify({ v: 1, t: 'boom', n: 'x', s: 1 }))), undefined);
});

t.test('peer addresses come from the Lease annotation as IPv4:port', async (t) => {
  t.same(parsePeerAddress('lb-1', '10.0.0.11:7473'), { name: 'lb-1', host: '10.0.0.11', port: 7473 });
  t.equal(parsePeerAddress('lb-1', undefined), undefined);
  t.equal(parsePeerAddress('lb-1', '10.0.0.11'), undefined);
  t.equal(parsePeerAddress('lb-1', '10.0.0.11:0'), undefined);
  t.equal(parsePeerAddress('lb-1', '10.0.0.11:70000'), undefined);
});
