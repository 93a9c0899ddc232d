// Signed L2 control datagrams (src/speaker/l2/probe-wire.ts): with the peers' key, only datagrams signed under it
// are heard, a changed byte or another key is refused, and a replay is refused for its time.
import t from 'tap';
import {
  decodeProbe,
  encodeProbe,
  MAX_CLOCK_SKEW_MS,
  ProbeClock,
  ProbeReplayGuard,
  type ProbeMessage,
} from '../../../src/speaker/l2/probe-wire.ts';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const other = Buffer.from('fedcba9876543210fedcba9876543210');
const bye: ProbeMessage = { v: 1, t: 'bye', n: 'lb-2', s: 7, at: 1_700_000_000_000 };

t.test('signed under the key: heard; tampered, unsigned or under another key: not', async (t) => {
  const wire = encodeProbe(bye, key);
  t.same(decodeProbe(wire, key), bye);
  t.ok(wire.length < 140, `small (${wire.length} bytes)`);
  t.equal(decodeProbe(wire, other), undefined, 'another key');
  t.equal(decodeProbe(encodeProbe(bye), key), undefined, 'unsigned');
  const tampered = Buffer.from(wire.toString().replace('"n":"lb-2"', '"n":"lb-3"'));
  t.equal(decodeProbe(tampered, key), undefined, 'another sender named');
  const later = Buffer.from(wire.toString().replace(`"at":${bye.at}`, `"at":${bye.at! + 1}`));
  t.equal(decodeProbe(later, key), undefined, 'another time');
  t.same(decodeProbe(wire), { v: 1, t: 'bye', n: 'lb-2', s: 7 }, 'a node without a key reads it, unauthenticated');
});

t.test('replays: only a newer time per sender, within the clock skew', async (t) => {
  const guard = new ProbeReplayGuard();
  const now = bye.at!;
  t.ok(guard.accept(bye, now));
  t.notOk(guard.accept(bye, now + 10), 'the same datagram again');
  t.notOk(guard.accept({ ...bye, at: now - 1 }, now + 10), 'an older one');
  t.ok(guard.accept({ ...bye, at: now + 1 }, now + 10), 'a newer one');
  t.ok(guard.accept({ ...bye, n: 'lb-3', at: now - 5 }, now + 10), 'times are per sender');
  t.notOk(guard.accept({ ...bye, at: now + MAX_CLOCK_SKEW_MS + 100 }, now), 'too far ahead');
  t.notOk(
    new ProbeReplayGuard().accept({ ...bye, at: now - MAX_CLOCK_SKEW_MS - 1 }, now),
    'a capture older than the skew, even by a new receiver',
  );
});

t.test("a sender's times always increase, even within one millisecond or with the clock stepping back", async (t) => {
  const clock = new ProbeClock();
  t.same([clock.next(1000), clock.next(1000), clock.next(999.5), clock.next(1010)], [1000, 1001, 1002, 1010]);
});
