// The FRR commands that turn one rendered configuration into the next when all that changed is which prefixes are
// announced: `network` lines inside an address family that exists in both. That is nearly every change in a
// running cluster (a VIP programmed, withdrawn, its last backend gone), and one vtysh call applies it in
// milliseconds where frr-reload.py takes seconds (it starts Python, reads and marks up both configurations).
// Whole route-map entries of kube-lb's own may come and go with them (a group of prefixes appears or empties).
// Anything else (a peer, a timer, BFD) returns undefined: the caller reloads in full.
// Pure; the text is the one frr-config.ts renders (contexts by indentation, closed by `exit…` and `!`).

import { GRACEFUL_RESTART_OFF } from './frr-config.ts';

interface Leaf {
  /** The context headers above the line, outermost first. */
  readonly path: readonly string[];
  readonly line: string;
}

const CLOSERS = /^(exit|exit-address-family|!)$/;

function leaves(text: string): { leaves: Leaf[]; headers: Set<string> } {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !CLOSERS.test(l.trim()));
  const depth = (l: string): number => l.length - l.trimStart().length;
  const out: Leaf[] = [];
  const headers = new Set<string>();
  const stack: { depth: number; line: string }[] = [];
  lines.forEach((l, i) => {
    while (stack.length > 0 && stack.at(-1)!.depth >= depth(l)) stack.pop();
    const next = lines[i + 1];
    if (next !== undefined && depth(next) > depth(l)) {
      stack.push({ depth: depth(l), line: l.trim() });
      headers.add(stack.map((s) => s.line).join('\n'));
    } else {
      out.push({ path: stack.map((s) => s.line), line: l.trim() });
    }
  });
  return { leaves: out, headers };
}

const key = (x: Leaf): string => [...x.path, x.line].join('\n');

/** Top-level contexts kube-lb owns whole and may add or remove without a reload: origin and outbound route-map entries. */
const OWN_ENTRY = /^route-map kube-lb-(net|out)-\S+ permit \d+$/;

/** `configure terminal` commands from `before` to `after`, or undefined when only a full reload will do. */
export function incrementalCommands(before: string, after: string): string[] | undefined {
  const a = leaves(before);
  const b = leaves(after);
  const addedContexts = [...b.headers].filter((h) => !a.headers.has(h));
  const removedContexts = [...a.headers].filter((h) => !b.headers.has(h));
  if (![...addedContexts, ...removedContexts].every((h) => OWN_ENTRY.test(h))) return undefined;
  const inContext = (x: Leaf, contexts: readonly string[]): boolean =>
    x.path.length === 1 && contexts.includes(x.path[0]!);
  const had = new Map(a.leaves.map((x) => [key(x), x]));
  const has = new Map(b.leaves.map((x) => [key(x), x]));
  const removed = [...had].filter(([k]) => !has.has(k)).map(([, x]) => x);
  const added = [...has].filter(([k]) => !had.has(k)).map(([, x]) => x);
  const announcing = (x: Leaf): boolean =>
    x.path.length === 2 &&
    x.path[0]!.startsWith('router bgp ') &&
    x.path[1]!.startsWith('address-family ') &&
    x.line.startsWith('network ');
  // Inside contexts both have, only network lines may change; whole entries come and go only with their leaves.
  if (!added.every((x) => announcing(x) || inContext(x, addedContexts))) return undefined;
  if (!removed.every((x) => announcing(x) || inContext(x, removedContexts))) return undefined;
  if (added.length === 0 && removed.length === 0 && addedContexts.length === 0) return [];
  const out: string[] = [];
  let at: string | undefined;
  const enter = (path: readonly string[]): void => {
    const here = path.join('\n');
    if (here === at) return;
    out.push('end', 'configure terminal', ...path);
    at = here;
  };
  // New route-map entries first, so the network lines that name them find them complete.
  for (const h of addedContexts) {
    enter([h]);
    for (const x of added) if (x.path[0] === h && x.path.length === 1) out.push(x.line);
  }
  // Additions before removals: a VIP that moves between groups is announced with its new tag before the old line
  // goes.
  const networksAdded = added.filter(announcing);
  for (const x of networksAdded) {
    enter(x.path);
    out.push(x.line);
  }
  for (const x of removed.filter(announcing)) {
    // The same prefix re-added with another route-map replaced the line already; `no network P` would withdraw it.
    const prefix = x.line.split(' ')[1];
    const path = x.path.join('\n');
    if (networksAdded.some((y) => y.line.split(' ')[1] === prefix && y.path.join('\n') === path)) continue;
    enter(x.path);
    out.push(`no ${x.line}`);
  }
  // Entries no network line names any more go last.
  if (removedContexts.length > 0) {
    out.push('end', 'configure terminal');
    for (const h of removedContexts) out.push(`no ${h}`);
  }
  return out.slice(out[0] === 'end' ? 1 : 0);
}

const DEFAULT_INSTANCE = /^router bgp (\d+)$/;

/**
 * The commands that create the BGP instance `rendered` wants, with the graceful-restart capability off, before
 * frr-reload.py runs; undefined when `running` has it already (or `rendered` has no instance). FRR 8.4 answers
 * `bgp graceful-restart-disable` with a warning status, and frr-reload.py takes that for a failed load, so the
 * line must already be in the running configuration when the reload compares the two. An instance of another AS
 * goes first: FRR keeps one default instance, and frr-reload.py would replace it anyway. On an instance that
 * exists without the line (a speaker from before it), the capability goes at the next session reset.
 */
export function instancePreamble(running: string, rendered: string): string[] | undefined {
  const asnsOf = (headers: ReadonlySet<string>): string[] =>
    [...headers].flatMap((h) => DEFAULT_INSTANCE.exec(h)?.[1] ?? []);
  const asn = asnsOf(leaves(rendered).headers)[0];
  if (asn === undefined) return undefined;
  const now = leaves(running);
  const has = now.leaves.some(
    (x) => x.path.length === 1 && x.path[0] === `router bgp ${asn}` && x.line === GRACEFUL_RESTART_OFF,
  );
  if (has) return undefined;
  const other = asnsOf(now.headers).find((x) => x !== asn);
  return [
    'configure terminal',
    ...(other ? [`no router bgp ${other}`] : []),
    `router bgp ${asn}`,
    GRACEFUL_RESTART_OFF,
  ];
}
