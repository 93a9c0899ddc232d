// One BGPPeer's sessions summed up across the LB nodes that peer with it: the `Established` condition and the
// "N/M" a `kubectl get bgppeers` column shows. Each node writes its own entry of status.nodes and nothing removes
// the entry of a node that died, so a summary counts only the nodes that are alive (the L2 membership's view)
// and names the others. Pure.
import type { BgpSessionState } from './frr-state.ts';
import type { ConditionInput } from '../conditions.ts';

export const ESTABLISHED_CONDITION = 'Established';

export interface NodeSession {
  readonly node: string;
  readonly session: BgpSessionState;
  readonly message?: string | undefined;
}

export interface PeerSummary {
  /** Live nodes with an Established session, of the live nodes that peer: "2/3". */
  readonly established: string;
  readonly condition: ConditionInput;
}

export function summarizePeer(entries: readonly NodeSession[], live: ReadonlySet<string>): PeerSummary {
  const byName = [...entries].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const counted = byName.filter((e) => live.has(e.node));
  const gone = byName.filter((e) => !live.has(e.node)).map((e) => e.node);
  const up = counted.filter((e) => e.session === 'Established');
  const down = counted.filter((e) => e.session !== 'Established');
  const goneNote = gone.length > 0 ? `; not counted, their speaker is not alive: ${gone.join(', ')}` : '';
  const established = `${up.length}/${counted.length}`;
  const summary = (status: 'True' | 'False', reason: string, message: string): PeerSummary => ({
    established,
    condition: { type: ESTABLISHED_CONDITION, status, reason, message: `${message}${goneNote}` },
  });
  if (counted.length === 0)
    return summary(
      'False',
      'NoSessions',
      'no live LB node peers with this router (no speaker runs, or spec.nodeSelector matches none)',
    );
  if (down.length === 0)
    return summary(
      'True',
      'Established',
      `Established on all ${counted.length} live LB nodes that peer: ${up.map((e) => e.node).join(', ')}`,
    );
  const why = down.map((e) => `${e.node}: ${e.session}${e.message ? ` (${e.message})` : ''}`).join('; ');
  return summary(
    'False',
    'NotEstablished',
    `Established on ${up.length} of ${counted.length} live LB nodes that peer; ${why}`,
  );
}
