// One story of three LB nodes seen from lb-1: Leases are the ground truth, heartbeats only speed up noticing a
// death, and a stale API view never empties the live set.
import t from 'tap';
import { evaluateLiveness, type LivenessInput, type PeerObservation } from '../../../src/core/l2/liveness.ts';

const lease = { durationMs: 3000, leaving: false };
const peer = (name: string, over: Partial<PeerObservation> = {}): PeerObservation => ({
  name,
  lease,
  leaseSeenRenewedAt: 10_000,
  ...over,
});
const base: LivenessInput = {
  self: 'lb-1',
  selfLeaving: false,
  now: 11_000,
  apiFresh: true,
  apiFreshSince: 0,
  lastFreshLive: [],
  probeTimeoutMs: undefined,
  peers: [peer('lb-2'), peer('lb-3')],
};
const run = (over: Partial<LivenessInput>) => evaluateLiveness({ ...base, ...over });
const reason = (over: Partial<LivenessInput>, name: string) => run(over).verdicts.get(name)?.reason;

t.test('renewed Leases make peers live; self is always live', async (t) => {
  const r = run({});
  t.same(r.live, ['lb-1', 'lb-2', 'lb-3']);
  t.equal(r.verdicts.get('lb-1')?.reason, 'self');
  t.equal(r.verdicts.get('lb-2')?.reason, 'leaseValid');
});

t.test('a Lease not seen renewed for its duration expires; a missing or leaving Lease is dead', async (t) => {
  t.equal(reason({ now: 13_000 }, 'lb-2'), 'leaseExpired');
  t.equal(reason({ peers: [peer('lb-2', { lease: undefined })] }, 'lb-2'), 'noLease');
  t.equal(reason({ peers: [peer('lb-2', { lease: { ...lease, leaving: true } })] }, 'lb-2'), 'leaving');
});

t.test('after an API outage every Lease gets a full duration from the moment the view is fresh again', async (t) => {
  t.equal(reason({ now: 20_000, apiFreshSince: 19_000 }, 'lb-2'), 'leaseValid');
  t.equal(reason({ now: 22_000, apiFreshSince: 19_000 }, 'lb-2'), 'leaseExpired');
});

t.test('probes: silence beyond the timeout kills a peer before its Lease expires', async (t) => {
  const probes = { probeTimeoutMs: 300 };
  t.equal(reason({ ...probes, now: 10_250, peers: [peer('lb-2', { lastHeardAt: 10_000 })] }, 'lb-2'), 'leaseValid');
  t.equal(reason({ ...probes, now: 10_350, peers: [peer('lb-2', { lastHeardAt: 10_000 })] }, 'lb-2'), 'probeSilent');
});

t.test(
  'probes: a Lease renewed after the heartbeats stopped wins (the probe path is broken, not the node)',
  async (t) => {
    const probes = { probeTimeoutMs: 300 };
    const p = peer('lb-2', { lastHeardAt: 9_000, leaseSeenRenewedAt: 10_000 });
    t.equal(reason({ ...probes, now: 11_000, peers: [p] }, 'lb-2'), 'leaseValid');
  },
);

t.test('probes: a peer never heard from is judged by its Lease alone', async (t) => {
  t.equal(reason({ probeTimeoutMs: 300, now: 12_000 }, 'lb-2'), 'leaseValid');
});

t.test('a bye counts only from a peer whose Lease says leaving; a later renewal (restart) revives it', async (t) => {
  t.equal(
    reason({ peers: [peer('lb-2', { byeAt: 10_500 })] }, 'lb-2'),
    'leaseValid',
    'a bye alone (forged, replayed) moves nothing',
  );
  t.equal(reason({ peers: [peer('lb-2', { byeAt: 10_500, leaseSeenRenewedAt: 10_800 })] }, 'lb-2'), 'leaseValid');
  const leaving = { apiFresh: false, now: 11_000, lastFreshLive: ['lb-1', 'lb-2', 'lb-3'] };
  const lease = { durationMs: 3000, leaving: true };
  t.equal(
    reason({ ...leaving, peers: [peer('lb-2', { byeAt: 10_500, lease })] }, 'lb-2'),
    'bye',
    'API stale: a bye with the Lease seen leaving',
  );
  t.equal(
    reason({ ...leaving, peers: [peer('lb-2', { byeAt: 10_500 })] }, 'lb-2'),
    'lastKnown',
    'API stale: a bye alone does not',
  );
});

t.test('stale API view: keep the last fresh set, expire nothing by Lease, still honour probe evidence', async (t) => {
  const stale = { apiFresh: false, now: 60_000, lastFreshLive: ['lb-1', 'lb-2', 'lb-3'] };
  t.same(run(stale).live, ['lb-1', 'lb-2', 'lb-3'], 'nothing withdrawn because the API is gone');
  t.equal(reason(stale, 'lb-2'), 'lastKnown');
  t.equal(
    reason({ ...stale, lastFreshLive: ['lb-1', 'lb-3'] }, 'lb-2'),
    'notLastKnown',
    'no resurrection without a Lease',
  );
  const silent = run({
    ...stale,
    probeTimeoutMs: 300,
    peers: [peer('lb-2', { lastHeardAt: 59_000 }), peer('lb-3', { lastHeardAt: 59_900 })],
  });
  t.same(silent.live, ['lb-1', 'lb-3'], 'lb-2 stopped heartbeating');
});

t.test('a leaving node stops counting itself', async (t) => {
  const r = run({ selfLeaving: true });
  t.same(r.live, ['lb-2', 'lb-3']);
  t.equal(r.verdicts.get('lb-1')?.reason, 'selfLeaving');
});
