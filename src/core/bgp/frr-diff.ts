// The FRR commands that turn one rendered configuration into the next when all that changed is which prefixes are
// announced: `network` lines inside an address family that exists in both. That is nearly every change in a
// running cluster (a VIP programmed, withdrawn, its last backend gone), and one vtysh call applies it in
// milliseconds where frr-reload.py takes seconds (it starts Python, reads and marks up both configurations).
// Anything else (a peer, a timer, a new group of attributes) returns undefined: the caller reloads in full.
// Pure; the text is the one frr-config.ts renders (contexts by indentation, closed by `exit…` and `!`).

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
const sameSet = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean =>
  a.size === b.size && [...a].every((x) => b.has(x));

/** `configure terminal` commands from `before` to `after`, or undefined when only a full reload will do. */
export function incrementalCommands(before: string, after: string): string[] | undefined {
  const a = leaves(before);
  const b = leaves(after);
  if (!sameSet(a.headers, b.headers)) return undefined;
  const had = new Map(a.leaves.map((x) => [key(x), x]));
  const has = new Map(b.leaves.map((x) => [key(x), x]));
  const removed = [...had].filter(([k]) => !has.has(k)).map(([, x]) => x);
  const added = [...has].filter(([k]) => !had.has(k)).map(([, x]) => x);
  const changed = [...removed, ...added];
  if (changed.length === 0) return [];
  const announcing = (x: Leaf): boolean =>
    x.path.length === 2 &&
    x.path[0]!.startsWith('router bgp ') &&
    x.path[1]!.startsWith('address-family ') &&
    x.line.startsWith('network ');
  if (!changed.every(announcing)) return undefined;
  const out: string[] = [];
  let at = '';
  const enter = (x: Leaf): void => {
    const here = x.path.join('\n');
    if (here === at) return;
    out.push('end', 'configure terminal', ...x.path);
    at = here;
  };
  // Additions first: a VIP that moves between groups is announced with its new tag before the old line goes.
  for (const x of added) {
    enter(x);
    out.push(x.line);
  }
  for (const x of removed) {
    // The same prefix re-added with another route-map replaced the line already; `no network P` would withdraw it.
    const prefix = x.line.split(' ')[1];
    if (added.some((y) => y.line.split(' ')[1] === prefix && y.path.join('\n') === x.path.join('\n'))) continue;
    enter(x);
    out.push(`no ${x.line}`);
  }
  return out.slice(out[0] === 'end' ? 1 : 0);
}
