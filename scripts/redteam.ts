// npm run redteam: starts the real topology (LB nodes running real Cilium, real control planes) and runs every
// attack of test/redteam/attacks.ts with the credentials its attacker would hold, checking around each one that
// nothing else changed. One line per attack, then one JSON object: {"attacks","blocked","leaked","collateral"}.
// Exits non-zero unless every attack was blocked without collateral.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKS } from '../test/redteam/attacks.ts';
import { RedTeam } from '../test/redteam/context.ts';
import { formatResult, runAttacks, summarize } from '../test/redteam/run.ts';
import { Ledger } from '../lab/ledger.ts';

const only = process.argv.slice(2);
const attacks = only.length > 0 ? ATTACKS.filter((a) => only.includes(a.name)) : ATTACKS;
const ledger = Ledger.open('redteam');
// Every program's log, kept for reading after a run.
const logDir = mkdtempSync(join(tmpdir(), 'kube-lb-redteam-'));
console.error(`[redteam] logs: ${logDir}`);
const rt = await RedTeam.up(ledger, (line) => console.error(`[redteam] ${line}`), logDir);
let code = 1;
// Interrupted: take the topology down rather than leave it to the next run's stale-ledger sweep.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void rt.down().finally(() => process.exit(130)));
try {
  const results = await runAttacks(rt, attacks, (r) => console.log(formatResult(r)));
  const summary = summarize(results);
  console.log(JSON.stringify(summary));
  code = summary.leaked === 0 && summary.collateral === 0 && summary.blocked === summary.attacks ? 0 : 1;
} finally {
  await rt.down();
}
process.exit(code);
