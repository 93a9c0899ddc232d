// The dataplane suite's proof on real Cilium: the newest line, random and maglev (test/cilium/story.ts). Every
// line is proven by npm run test:cilium.
import t from 'tap';
import { NEWEST_CILIUM_LINE } from '../../../lab/cilium-agent.ts';
import { provesLine, tapChecks } from '../../cilium/story.ts';

for (const maglev of [false, true]) {
  await t.test(`Cilium ${NEWEST_CILIUM_LINE}, ${maglev ? 'maglev' : 'random'}`, (t) =>
    provesLine(tapChecks(t), { line: NEWEST_CILIUM_LINE, maglev, refusals: !maglev }).then(() => undefined),
  );
}
