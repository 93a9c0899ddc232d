// A BGPPeer's summary counts the live nodes' sessions and names the rest.
import t from 'tap';
import { summarizePeer } from '../../../src/core/bgp/peer-summary.ts';

const live = new Set(['lb-1', 'lb-2', 'lb-3']);

t.test('all live nodes Established: True, N/N', async (t) => {
  const s = summarizePeer(
    [
      { node: 'lb-2', session: 'Established' },
      { node: 'lb-1', session: 'Established' },
    ],
    live,
  );
  t.equal(s.established, '2/2');
  t.match(s.condition, { type: 'Established', status: 'True', reason: 'Established' });
  t.match(s.condition.message, /all 2 live LB nodes that peer: lb-1, lb-2$/);
});

t.test('a node down: False, and why, per node', async (t) => {
  const s = summarizePeer(
    [
      { node: 'lb-1', session: 'Established' },
      { node: 'lb-2', session: 'Active', message: 'NOTIFICATION sent: OPEN Message Error/Bad Peer AS' },
      { node: 'lb-3', session: 'Idle' },
    ],
    live,
  );
  t.equal(s.established, '1/3');
  t.match(s.condition, { status: 'False', reason: 'NotEstablished' });
  t.equal(
    s.condition.message,
    'Established on 1 of 3 live LB nodes that peer; lb-2: Active (NOTIFICATION sent: OPEN Message Error/Bad Peer AS); lb-3: Idle',
  );
});

t.test("a dead node's stale Established entry is not counted, and is named", async (t) => {
  const s = summarizePeer(
    [
      { node: 'lb-1', session: 'Established' },
      { node: 'lb-2', session: 'Established' },
      { node: 'lb-3', session: 'Established' },
    ],
    new Set(['lb-1', 'lb-2']),
  );
  t.equal(s.established, '2/2');
  t.equal(s.condition.status, 'True');
  t.match(s.condition.message, /not counted, their speaker is not alive: lb-3$/);
});

t.test('no live node peers: False, NoSessions', async (t) => {
  t.match(summarizePeer([], live), { established: '0/0', condition: { status: 'False', reason: 'NoSessions' } });
  t.match(summarizePeer([{ node: 'lb-9', session: 'Established' }], live).condition.message, /not alive: lb-9/);
});
