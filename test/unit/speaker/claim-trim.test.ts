// What a speaker keeps of a claim: everything but the spec's ports and backends, which it never programs (it
// programs status.approved).
import t from 'tap';
import { trimClaimSpec } from '../../../src/speaker/claim-trim.ts';
import { claim } from './fixtures.ts';

t.test("the spec's ports and backends go; the approval, identity and the rest of the spec stay", async (t) => {
  const c = claim({ generation: 4 });
  const before = structuredClone(c);
  const trimmed = trimClaimSpec(c);
  t.same(trimmed.spec.ports, []);
  t.same(trimmed.spec.backends, []);
  t.same(
    { ...trimmed.spec, ports: before.spec.ports, backends: before.spec.backends },
    before.spec,
    'service, policy and the rest untouched',
  );
  t.same(trimmed.status, before.status, 'status.approved, which is programmed, untouched');
  t.same(trimmed.metadata, before.metadata);
  const empty = claim({ ports: [], backends: [] });
  t.equal(trimClaimSpec(empty).spec, empty.spec, 'nothing to trim: the same spec object');
});
