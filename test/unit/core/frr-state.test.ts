// FRR's JSON (captured from FRR 8.4.4 in the BGP interop lab: test/dataplane/bgp/interop.test.ts) read into
// kube-lb's neighbor and BFD states, with a reason in words for every way a session was seen failing.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  bfdStatus,
  bgpSessionState,
  neighborError,
  parseBfdPeers,
  parseNeighbors,
} from '../../../src/core/bgp/frr-state.ts';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures/frr', name), 'utf8');

t.test('an Established iBGP session', async (t) => {
  t.same(parseNeighbors(fixture('neighbors-established.json')), [
    {
      peer: '10.77.0.1',
      remoteAs: 64512,
      state: 'Established',
      lastError: undefined,
      uptimeMs: 2000,
      prefixesSent: 1,
      prefixesReceived: 1,
      establishedTransitions: 1,
    },
  ]);
});

t.test('why a session is down, in words', async (t) => {
  const [password] = parseNeighbors(fixture('neighbors-wrong-password.json'));
  t.equal(password?.state, 'Connect');
  t.match(password?.lastError, /no TCP connection.*TCP-MD5/, 'a password mismatch is silent: say what it looks like');
  t.notMatch(password?.lastError, /Waiting for peer OPEN/, "FRR's initial reset reason is not reported");

  const [badAs] = parseNeighbors(fixture('neighbors-bad-peer-as.json'));
  t.equal(badAs?.state, 'Idle');
  t.equal(badAs?.lastError, 'NOTIFICATION received: OPEN Message Error/Bad Peer AS');

  const [bfd] = parseNeighbors(fixture('neighbors-bfd-down.json'));
  t.equal(bfd?.state, 'Idle');
  t.equal(bfd?.lastError, 'NOTIFICATION sent: Cease/BFD Down');
  t.equal(bfd?.uptimeMs, 0, 'no uptime while down');
  t.equal(bfd?.establishedTransitions, 1, 'it was up once');
});

t.test('BFD peers', async (t) => {
  t.same(parseBfdPeers(fixture('bfd-peers-up.json')), [
    { peer: '10.77.0.1', local: '10.77.0.11', interface: 'eth0', status: 'Up', diagnostic: undefined, sinceMs: 1000 },
  ]);
  t.same(parseBfdPeers(fixture('bfd-peers-down.json')), [
    {
      peer: '10.77.0.1',
      local: '10.77.0.11',
      interface: 'eth0',
      status: 'Down',
      diagnostic: 'control detection time expired',
      sinceMs: 1000,
    },
  ]);
  t.same(parseBfdPeers('[\n]\n'), [], 'no sessions');
});

t.test('states FRR may print, and answers that are not JSON', async (t) => {
  t.equal(bgpSessionState('Idle (Admin)'), 'Idle');
  t.equal(bgpSessionState('Clearing'), 'Idle');
  t.equal(bgpSessionState('OpenConfirm'), 'OpenConfirm');
  t.equal(bgpSessionState('Sideways'), 'Unknown');
  t.equal(bfdStatus('shutdown'), 'AdminDown');
  t.equal(bfdStatus('init'), 'Init');
  t.equal(bfdStatus(undefined), 'Unknown');
  t.same(parseNeighbors('{}\n'), [], 'no BGP instance: no neighbors');
  t.same(parseNeighbors(''), []);
  t.throws(() => parseNeighbors('% Unknown command'), { name: 'KubeLbError', code: 'BGP_FRR_OUTPUT' });
  t.throws(() => parseBfdPeers('{}'), { name: 'KubeLbError', code: 'BGP_FRR_OUTPUT' });
});

t.test(
  'OPENs refused without a NOTIFICATION kept as the last reset: the message counters say which side refused',
  async (t) => {
    const stale = { lastResetDueTo: 'BFD down received', connectionsDropped: 0 };
    t.match(
      neighborError({ ...stale, messageStats: { opensRecv: 3, notificationsSent: 3 } }, 'Active'),
      /this node refuses its OPEN.*peerASN/,
    );
    t.match(
      neighborError({ ...stale, messageStats: { opensRecv: 1, notificationsRecv: 1 } }, 'Idle'),
      /the peer refuses this node's OPEN.*myASN/,
    );
    t.equal(neighborError({ messageStats: { opensRecv: 3, notificationsSent: 3 } }, 'Established'), undefined);
  },
);
