// npm run test:cilium: kube-lb proven on every real Cilium line of test/cilium/lines.json, in random and in
// maglev mode (test/cilium/story.ts). KUBE_LB_CILIUM_LINES=1.19,1.20 narrows the run. A line whose agent is not
// built fails, naming what to build: this suite never falls back to the mimic.
import t from 'tap';
import { CILIUM_LINES } from '../../lab/cilium-agent.ts';
import { provesLine, tapChecks } from './story.ts';

const lines = (process.env.KUBE_LB_CILIUM_LINES ?? CILIUM_LINES.join(',')).split(',').filter(Boolean);
for (const line of lines) {
  for (const maglev of [false, true]) {
    await t.test(`Cilium ${line}, ${maglev ? 'maglev' : 'random'}`, (t) =>
      provesLine(tapChecks(t), { line, maglev, refusals: !maglev }).then(() => undefined),
    );
  }
}
