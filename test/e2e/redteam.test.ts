// The red team (test/redteam): every attack against the real topology with its attacker's real credentials must
// be refused or have no effect, and leave every other tenant's traffic, every Cilium entry and every object it
// must not touch as it found them. `npm run redteam` runs the same attacks and prints the summary line.
import t from 'tap';
import { ATTACKS } from '../redteam/attacks.ts';
import { RedTeam } from '../redteam/context.ts';
import { formatResult, runAttacks, summarize } from '../redteam/run.ts';
import { Ledger } from '../../lab/ledger.ts';

const ledger = Ledger.open('e2e-redteam');
const rt = await RedTeam.up(ledger, (line) => t.comment(line));
t.teardown(() => rt.down());

t.test('every attack is refused or without effect, and touches nothing else', async (t) => {
  t.ok(ATTACKS.length >= 25, `${ATTACKS.length} attacks (at least 25)`);
  const results = await runAttacks(rt, ATTACKS, (r) => {
    t.ok(r.blocked, `${r.name} blocked: ${r.evidence}`);
    t.same(r.collateral, [], `${r.name}: no collateral`);
  });
  t.comment(results.map(formatResult).join('\n'));
  const summary = summarize(results);
  t.same(
    summary,
    { attacks: ATTACKS.length, blocked: ATTACKS.length, leaked: 0, collateral: 0 },
    // The names in the message too: a CI report that shows only the failing test's name then says which.
    [JSON.stringify(summary), ...results.filter((r) => !r.blocked || r.collateral.length > 0).map(formatResult)].join(
      '; ',
    ),
  );
});
