// Summarises the TAP stream of scripts/test.sh (tap's output, one or more runs concatenated) into the lines CI reads:
//   assertions: N passed, N failed          test points with no body of their own (t.ok, t.equal, ...)
//   skipped: N                              SKIP and TODO points (a skipped subtest has no body to tell it apart)
//   failed: WHY                             one line per failed file, run or suite, saying why
//   N passed, N failed                      tests: test files and subtests; always the last line (.ci/run greps it)
// A run that cannot be trusted counts as failed, so the summary never says "0 failed" for it: a file that crashed
// or printed no TAP, a run that stopped before every file reported (its plan says how many), a bail-out, tap
// exiting non-zero without a failing point (--status), no test results at all, and what test.sh found wrong
// before running anything (--failed, e.g. a suite without test files). Exits 1 when anything failed.
//
//   node scripts/tap-count.ts [--status N] [--failed WHY ...] < tap-output
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

export interface TapSummary {
  /** Test files and subtests (points with a body: tap puts `# Subtest: name` before each). */
  tests: { passed: number; failed: number };
  /** Points without a body. */
  assertions: { passed: number; failed: number };
  skipped: number;
  /** Why tests failed, one line each, without the "failed: " prefix. */
  reasons: string[];
}

/** What test.sh knows besides the TAP: tap's exit status, and failures found before anything ran. */
export interface RunFacts {
  status?: number;
  failed?: readonly string[];
}

interface FileResult {
  name: string;
  ok: boolean;
  /** tap's "no tests found": the file printed no TAP. */
  noTap: boolean;
  /** Points anywhere inside the file's stream. */
  points: number;
  /** Failed subtests and assertions directly under the file. */
  failedChildren: string[];
  exitCode?: string;
  signal?: string;
}

const POINT = /^(not ok|ok)\b\s*(?:\d+)?\s*(?:-\s*)?(.*)$/;
const DIRECTIVE = /\s#\s*(SKIP|TODO)\b\S*\s*(.*)$/i;
// What tap writes for a file that printed no TAP at all (it crashed, or exited before its first test).
const NO_TESTS = 'no tests found';

export class TapCounter {
  readonly #summary: TapSummary = {
    tests: { passed: 0, failed: 0 },
    assertions: { passed: 0, failed: 0 },
    skipped: 0,
    reasons: [],
  };
  // The files of the current run, for their "failed:" lines when it ends.
  readonly #files: FileResult[] = [];
  // Indents whose next point closes a subtest: tap writes `# Subtest: name` at the point's own indent, TAP 14
  // at the child's; marking both is right for either, since a header inside a child also means its parent has one.
  readonly #hasBody = new Set<number>();
  #points = 0;
  // The file whose stream is being read: its name from the `# Subtest:` header (tap has named the point after
  // something else, e.g. "timeout!"), its points and failed children.
  #current: { header: string | undefined; points: number; failedChildren: string[] } = {
    header: undefined,
    points: 0,
    failedChildren: [],
  };
  #lastPointIndent: number | undefined;
  #yaml: { indent: number; file: FileResult | undefined } | undefined;
  // The top-level stream of one tap run: its plan (how many files) and how many reported.
  #plan: number | undefined;
  #reported = 0;
  // tap repeats a bail-out at every level; one counts.
  readonly #bailOuts = new Set<string>();

  line(raw: string): void {
    const text = raw.replace(/\r$/, '');
    const indent = /^ */.exec(text)![0].length;
    const body = text.slice(indent);
    if (this.#yaml) {
      if (indent === this.#yaml.indent && body.trimEnd() === '...') this.#yaml = undefined;
      else this.#diagnostic(indent, body);
      return;
    }
    if (body.trimEnd() === '---' && this.#lastPointIndent !== undefined && indent === this.#lastPointIndent + 2) {
      this.#yaml = { indent, file: this.#lastPointIndent === 0 ? this.#files.at(-1) : undefined };
      return;
    }
    if (indent === 0 && body.startsWith('TAP version')) {
      this.#endRun();
      return;
    }
    if (body.startsWith('Bail out!')) {
      const why = `bailed out: ${body.slice('Bail out!'.length).trim() || '(no reason given)'}`;
      if (!this.#bailOuts.has(why)) this.#fail(why);
      this.#bailOuts.add(why);
      return;
    }
    if (body.startsWith('# Subtest')) {
      this.#hasBody.add(indent);
      if (indent >= 4) this.#hasBody.add(indent - 4);
      if (indent === 0)
        this.#current = {
          header: /^# Subtest:?\s*(.*)$/.exec(body)![1]!.trim() || undefined,
          points: 0,
          failedChildren: [],
        };
      return;
    }
    const plan = /^1\.\.(\d+)/.exec(body);
    if (plan && indent === 0) {
      this.#plan = Number(plan[1]);
      return;
    }
    const m = POINT.exec(body);
    if (m) this.#point(indent, m[1] === 'ok', m[2]!);
  }

  /** The summary of everything read, with what test.sh adds. */
  finish(facts: RunFacts = {}): TapSummary {
    this.#endRun();
    const s = this.#summary;
    for (const why of facts.failed ?? []) this.#fail(why);
    const exited = facts.status !== undefined && facts.status !== 0 ? ` (tap exited with status ${facts.status})` : '';
    if (this.#points === 0 && (facts.failed ?? []).length === 0)
      this.#fail(`no test results: the TAP output has no test point${exited}`);
    if (exited && s.tests.failed === 0) {
      this.#fail(`tap exited with status ${facts.status}, yet no test in its TAP failed`);
    }
    return s;
  }

  #point(indent: number, ok: boolean, rest: string): void {
    this.#points++;
    this.#lastPointIndent = indent;
    const directive = DIRECTIVE.exec(rest);
    const name = (directive ? rest.slice(0, directive.index) : rest.replace(/\s#\s*time=.*$/, '')).trim();
    const isTest = indent === 0 || this.#hasBody.has(indent) || name.endsWith('{');
    for (const i of [...this.#hasBody]) if (i >= indent) this.#hasBody.delete(i);
    const kind = isTest ? this.#summary.tests : this.#summary.assertions;
    if (indent > 0) this.#current.points++;
    if (indent === 0) {
      this.#reported++;
      const { header, points, failedChildren } = this.#current;
      this.#current = { header: undefined, points: 0, failedChildren: [] };
      // tap passes such a file as skipped; a file that runs no test proves nothing, so it fails here.
      const noTap = directive !== null && directive[1]!.toUpperCase() === 'SKIP' && directive[2]!.trim() === NO_TESTS;
      this.#files.push({ name: header ?? name, ok: ok && !noTap, noTap, points, failedChildren });
      if (noTap) {
        this.#summary.tests.failed++;
        return;
      }
    }
    if (directive) {
      this.#summary.skipped++;
      return;
    }
    if (ok) {
      kind.passed++;
      return;
    }
    kind.failed++;
    if (indent === 4) this.#current.failedChildren.push(name);
  }

  // The YAML block after a point: for a file, tap records how its process ended.
  #diagnostic(indent: number, body: string): void {
    const file = this.#yaml?.file;
    if (!file || indent !== this.#yaml!.indent) return;
    const m = /^(exitCode|signal):\s*(.*)$/.exec(body.trimEnd());
    if (m) file[m[1] as 'exitCode' | 'signal'] = m[2]!;
  }

  // One tap run ends where the next begins (test.sh appends each run of the compatibility matrix) or at the end.
  #endRun(): void {
    for (const f of this.#files) if (!f.ok) this.#summary.reasons.push(fileFailure(f));
    this.#files.length = 0;
    if (this.#plan !== undefined && this.#reported < this.#plan) {
      const missing = this.#plan - this.#reported;
      this.#summary.tests.failed += missing;
      this.#summary.reasons.push(
        `${missing} of ${this.#plan} test files reported no result (the run stopped before they finished)`,
      );
    }
    this.#plan = undefined;
    this.#reported = 0;
    this.#bailOuts.clear();
    this.#yaml = undefined;
    this.#lastPointIndent = undefined;
    this.#hasBody.clear();
  }

  #fail(why: string): void {
    this.#summary.tests.failed++;
    this.#summary.reasons.push(why);
  }
}

// Why a file failed: its failed subtests and assertions by name, else how its process ended.
function fileFailure(f: FileResult): string {
  if (f.noTap) return `${f.name} printed no TAP (it exited without running a test)`;
  const shown = f.failedChildren.slice(0, 3).join('; ');
  if (f.failedChildren.length > 3) return `${f.name}: ${shown}; and ${f.failedChildren.length - 3} more`;
  if (f.failedChildren.length > 0) return `${f.name}: ${shown}`;
  const how =
    f.signal && f.signal !== 'null'
      ? `signal ${f.signal}`
      : f.exitCode !== undefined
        ? `exit code ${f.exitCode}`
        : 'no exit status';
  if (f.points === 0) return `${f.name} crashed before its first test (${how})`;
  return `${f.name}: its tests passed but the process failed (${how})`;
}

/** The lines to print; the last is the one CI reads. */
export function formatSummary(s: TapSummary): string[] {
  return [
    `assertions: ${s.assertions.passed} passed, ${s.assertions.failed} failed`,
    ...(s.skipped > 0 ? [`skipped: ${s.skipped}`] : []),
    ...s.reasons.map((why) => `failed: ${why}`),
    `${s.tests.passed} passed, ${s.tests.failed} failed`,
  ];
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { status: { type: 'string' }, failed: { type: 'string', multiple: true } } });
  const counter = new TapCounter();
  for await (const line of createInterface({ input: process.stdin })) counter.line(line);
  const summary = counter.finish({
    status: values.status === undefined ? undefined : Number(values.status),
    failed: values.failed ?? [],
  });
  for (const line of formatSummary(summary)) console.log(line);
  process.exitCode = summary.tests.failed > 0 ? 1 : 0;
}
