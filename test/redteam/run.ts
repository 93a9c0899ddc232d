// Runs the attacks one by one against a live red-team world, each between two snapshots: what it achieved
// (blocked or leaked, with the evidence) and what it changed that it must not have (collateral).
import type { Attack, Snapshot } from './context.ts';
import type { RedTeam } from './context.ts';

export interface AttackResult {
  readonly name: string;
  readonly credential: string;
  readonly covers: string;
  readonly blocked: boolean;
  readonly evidence: string;
  /** What differed from the snapshot before the attack once it was over and cleaned up; empty: nothing. */
  readonly collateral: readonly string[];
  readonly ms: number;
}

export interface Summary {
  readonly attacks: number;
  readonly blocked: number;
  readonly leaked: number;
  readonly collateral: number;
}

export async function runAttacks(
  rt: RedTeam,
  attacks: readonly Attack[],
  onResult: (r: AttackResult) => void = () => undefined,
): Promise<AttackResult[]> {
  const results: AttackResult[] = [];
  for (const attack of attacks) {
    const before: Snapshot = await rt.snapshot();
    const t0 = performance.now();
    let blocked = false;
    let evidence: string;
    try {
      ({ blocked, evidence } = await attack.run(rt));
    } catch (err) {
      // An attack that could not be judged is not counted as blocked.
      evidence = `the attack itself failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    try {
      await attack.cleanup?.(rt);
    } catch (err) {
      evidence += `; cleanup failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    const collateral = await rt.collateral(before);
    const r: AttackResult = {
      name: attack.name,
      credential: attack.credential,
      covers: attack.covers,
      blocked,
      evidence,
      collateral,
      ms: Math.round(performance.now() - t0),
    };
    results.push(r);
    onResult(r);
  }
  return results;
}

export function summarize(results: readonly AttackResult[]): Summary {
  return {
    attacks: results.length,
    blocked: results.filter((r) => r.blocked).length,
    leaked: results.filter((r) => !r.blocked).length,
    collateral: results.filter((r) => r.collateral.length > 0).length,
  };
}

/** One report line per attack. */
export function formatResult(r: AttackResult): string {
  const verdict = r.blocked ? 'blocked' : 'LEAKED ';
  const extra = r.collateral.length > 0 ? `\n    COLLATERAL: ${r.collateral.join('\n    COLLATERAL: ')}` : '';
  return `${verdict} ${r.name} [${r.credential}: ${r.covers}] (${(r.ms / 1000).toFixed(1)} s): ${r.evidence}${extra}`;
}
