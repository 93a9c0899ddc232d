// agent-outage against the oldest consumer line (test/compat/lines.json), in `npm test`; `npm run test:compat`
// runs it against every line with the LB cluster on its minimum line.
import { OLDEST_LINE } from '../../../lab/kubernetes-line.ts';

process.env.KUBE_LB_CONSUMER_K8S = OLDEST_LINE.line;
await import('../../controlplane/agent-outage.test.ts');
