// The test plumbing tells the truth: scripts/tap-count.ts counts tests (files and subtests) apart from
// assertions, and a failing test, a crashing file, a file without TAP, an empty suite or a run without tap each end
// `.ci/run` with a non-zero status and a summary that counts the failure and says why. The end-to-end cases run the
// real .ci/run, scripts/test.sh and scripts/tap-count.ts (copied into a temporary project with a tiny suite, so the
// repository's own `npm test` never runs itself) through npm and tap, as CI does.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formatSummary, TapCounter, type RunFacts } from '../../../scripts/tap-count.ts';

const root = join(import.meta.dirname, '../../..');

function summarise(tap: string, facts?: RunFacts): string[] {
  const counter = new TapCounter();
  for (const line of tap.split('\n')) counter.line(line);
  return formatSummary(counter.finish(facts));
}

// What tap 21 writes for a passing file with one subtest of two assertions and one assertion of its own.
const PASSING = `TAP version 14
1..1
# Subtest: test/unit/a.test.ts
    # Subtest: group
        ok 1 - a
        ok 2 - b
        1..2
    ok 1 - group # time=5.3ms

    ok 2 - top assertion
    1..2
    # time=16.5ms
ok 1 - test/unit/a.test.ts # time=16.5ms
`;

t.test('tap-count: tests are files and subtests, assertions are counted on their own line', async (t) => {
  t.same(summarise(PASSING), ['assertions: 3 passed, 0 failed', '2 passed, 0 failed']);
});

t.test('tap-count: a failing assertion fails its subtest and its file, and the file is named', async (t) => {
  const tap = `TAP version 14
1..1
# Subtest: test/unit/b.test.ts
    # Subtest: fails
        not ok 1 - one is two
          ---
          found: 1
          wanted: 2
          source: |
            ok 1 - not a point: this is YAML
          ...
        1..1
    not ok 1 - fails # time=1ms
    1..1
not ok 1 - test/unit/b.test.ts # time=2ms
  ---
  exitCode: 1
  signal: null
  ...
`;
  t.same(summarise(tap, { status: 1 }), [
    'assertions: 0 passed, 1 failed',
    'failed: test/unit/b.test.ts: fails',
    '0 passed, 2 failed',
  ]);
});

t.test('tap-count: a file that crashed, or printed no TAP, counts as a failed test', async (t) => {
  const tap = `TAP version 14
1..3
# Subtest: test/unit/throws.test.ts
    1..0 # no tests found
not ok 1 - test/unit/throws.test.ts # time=600ms
  ---
  exitCode: 1
  signal: null
  ...
# Subtest: test/unit/silent.test.ts
    1..0 # no tests found
ok 2 - test/unit/silent.test.ts # SKIP no tests found
# Subtest: test/unit/late.test.ts
    ok 1 - fine
    1..1
not ok 3 - test/unit/late.test.ts # time=900ms
  ---
  exitCode: null
  signal: SIGTERM
  ...
`;
  t.same(summarise(tap, { status: 1 }), [
    'assertions: 1 passed, 0 failed',
    'failed: test/unit/throws.test.ts crashed before its first test (exit code 1)',
    'failed: test/unit/silent.test.ts printed no TAP (it exited without running a test)',
    'failed: test/unit/late.test.ts: its tests passed but the process failed (signal SIGTERM)',
    '0 passed, 3 failed',
  ]);
});

t.test('tap-count: skips and todos are not failures; a deliberate plan of 0 is a skip', async (t) => {
  const tap = `TAP version 14
1..2
# Subtest: test/unit/c.test.ts
    ok 1 - later # SKIP not on this kernel
    not ok 2 - known gap # TODO issue 99
    ok 3 - real
    1..3
ok 1 - test/unit/c.test.ts # time=1ms
# Subtest: test/unit/d.test.ts
    1..0 # needs a bridge
ok 2 - test/unit/d.test.ts # SKIP needs a bridge
`;
  t.same(summarise(tap), ['assertions: 1 passed, 0 failed', 'skipped: 3', '1 passed, 0 failed']);
});

t.test(
  'tap-count: a run that stopped early, bailed out, had no TAP or failed silently never says 0 failed',
  async (t) => {
    const cut = PASSING.replace('1..1', '1..3');
    t.same(
      summarise(cut).at(-2),
      'failed: 2 of 3 test files reported no result (the run stopped before they finished)',
    );
    t.same(summarise(cut).at(-1), '2 passed, 2 failed');
    // Each run of the compatibility matrix has its own plan.
    t.same(summarise(PASSING + PASSING).at(-1), '4 passed, 0 failed');
    t.same(summarise(cut + PASSING).at(-1), '4 passed, 2 failed');

    const bail = `TAP version 14\n1..1\n# Subtest: test/unit/e.test.ts\n    ok 1 - first\n    Bail out! database is gone\nBail out! database is gone\n`;
    t.same(summarise(bail), [
      'assertions: 1 passed, 0 failed',
      'failed: bailed out: database is gone',
      'failed: 1 of 1 test files reported no result (the run stopped before they finished)',
      '0 passed, 2 failed',
    ]);

    t.same(summarise(''), [
      'assertions: 0 passed, 0 failed',
      'failed: no test results: the TAP output has no test point',
      '0 passed, 1 failed',
    ]);
    t.same(summarise('bash: line 1: tap: command not found\n', { status: 127 }).slice(1), [
      'failed: no test results: the TAP output has no test point (tap exited with status 127)',
      '0 passed, 1 failed',
    ]);
    t.same(summarise(PASSING, { status: 1 }).slice(1), [
      'failed: tap exited with status 1, yet no test in its TAP failed',
      '2 passed, 1 failed',
    ]);
    t.same(summarise('', { failed: ['suite test/e2e has no *.test.ts files'] }).slice(1), [
      'failed: suite test/e2e has no *.test.ts files',
      '0 passed, 1 failed',
    ]);
  },
);

// ------------------------------------------------------------------------------------------ end to end

// The plumbing under test, as committed, and what it needs to run: cleanup-stale.ts (test.sh runs it) and its ledger.
const PLUMBING = ['.ci/run', 'scripts/test.sh', 'scripts/tap-count.ts', 'lab/cleanup-stale.ts', 'lab/ledger.ts'];
const TAP_CONFIG = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { tap: unknown }).tap;

const PASS_FILE = `import t, { type Test } from 'tap';\nt.test('group', async (t) => { t.ok(true, 'a'); t.equal(1, 1, 'b'); });\n`;

interface CiRun {
  status: number | null;
  output: string;
  /** From the last assertions line on: what .ci/run ends with. */
  summary: string[];
}

/**
 * Runs .ci/run in a temporary project whose unit suite is `files` (path under test/unit → source). `npmTest`
 * replaces the project's test script (test.sh on the unit suite), to give .ci/run what test.sh never prints.
 */
async function ciRun(
  t: Test,
  files: Record<string, string>,
  opts: { withTap?: boolean; npmTest?: string } = {},
): Promise<CiRun> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-lb-ci-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of PLUMBING) cpSync(join(root, f), join(dir, f));
  mkdirSync(join(dir, 'test/unit'), { recursive: true });
  for (const [name, source] of Object.entries(files)) writeFileSync(join(dir, 'test/unit', name), source);
  const pkg = {
    name: 'ci-plumbing',
    private: true,
    type: 'module',
    scripts: { test: opts.npmTest ?? 'bash scripts/test.sh unit' },
    tap: TAP_CONFIG,
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
  if (opts.withTap === false) mkdirSync(join(dir, 'node_modules'));
  else symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  // Nothing of the tap run around this test leaks in (a nested tap would report into it), and nothing of the
  // repository's test environment: the ledger is the project's own.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(TAP|_TAPJS|NODE_OPTIONS$|NODE_V8_COVERAGE$|npm_)/i.test(k)),
  );
  env.PATH = `${dirname(process.execPath)}:${opts.withTap === false ? '' : `${join(dir, 'node_modules/.bin')}:`}/usr/bin:/bin`;
  env.KUBE_LB_LEDGER_ROOT = join(dir, 'ledger');
  const child = spawn('bash', [join(dir, '.ci/run')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const lines = output.trimEnd().split('\n');
  const from = lines.findLastIndex((l) => l.startsWith('assertions: '));
  return { status, output, summary: from < 0 ? lines.slice(-2) : lines.slice(from) };
}

// One line of the summary, with the whole output as the message when it is missing.
function says(t: Test, run: CiRun, pattern: RegExp, what: string): void {
  t.ok(
    run.summary.some((l) => pattern.test(l)),
    what,
    { summary: run.summary, output: run.output.slice(-4000) },
  );
}

function failedRun(t: Test, run: CiRun, failedAtLeast = 1): void {
  t.not(run.status, 0, '.ci/run exits non-zero', { output: run.output.slice(-4000) });
  const last = /^(\d+) passed, (\d+) failed$/.exec(run.summary.at(-1) ?? '');
  t.ok(last, 'the last line is the count CI reads', { summary: run.summary });
  t.ok(Number(last?.[2]) >= failedAtLeast, `it counts at least ${failedAtLeast} failed`, { summary: run.summary });
}

// Two at a time from the start (each is a few seconds of npm, tap and node startup); each test awaits its own.
let running: Promise<unknown> = Promise.resolve();
let queued: Promise<unknown> = Promise.resolve();
function twoAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const started = running.then(fn, fn);
  [running, queued] = [queued, started.catch(() => undefined)];
  return started;
}
const cases = {
  passing: (t: Test) => ciRun(t, { 'pass.test.ts': PASS_FILE }),
  failing: (t: Test) =>
    ciRun(t, {
      'pass.test.ts': PASS_FILE,
      'fail.test.ts': `import t, { type Test } from 'tap';\nt.test('arithmetic', async (t) => { t.equal(1, 2, 'one is two'); });\n`,
    }),
  // Three ways to crash in one suite: each is counted and named on its own line, so none can hide another.
  crashing: (t: Test) =>
    ciRun(t, {
      'pass.test.ts': PASS_FILE,
      'throws.test.ts': `throw new Error('broken at import');\n`,
      'exits.test.ts': `process.exit(1);\n`,
      'silent.test.ts': `process.exit(0);\n`,
    }),
  empty: (t: Test) => ciRun(t, { 'helper.ts': `export const notATest = true;\n` }),
  noTap: (t: Test) => ciRun(t, { 'pass.test.ts': PASS_FILE }, { withTap: false }),
  noSummary: (t: Test) => ciRun(t, {}, { npmTest: 'echo tests ran, trust me' }),
  falseSummary: (t: Test) =>
    ciRun(t, {}, { npmTest: `printf 'assertions: 1 passed, 0 failed\\n1 passed, 0 failed\\n'; exit 3` }),
};
const runs = Object.fromEntries(Object.entries(cases).map(([k, run]) => [k, twoAtATime(() => run(t))])) as {
  [K in keyof typeof cases]: Promise<CiRun>;
};

t.test('.ci/run: a passing suite exits 0 and counts its file and subtest, with its assertions apart', async (t) => {
  const run = await runs.passing;
  t.equal(run.status, 0, '.ci/run exits 0', { output: run.output.slice(-4000) });
  t.same(run.summary, ['assertions: 2 passed, 0 failed', '2 passed, 0 failed']);
});

t.test('.ci/run: a deliberately failing test', async (t) => {
  const run = await runs.failing;
  failedRun(t, run, 2);
  says(t, run, /^failed: test\/unit\/fail\.test\.ts: arithmetic$/, 'names the file and its failed subtest');
  says(t, run, /^assertions: 2 passed, 1 failed$/, 'counts the failed assertion apart');
});

t.test('.ci/run: test files that crash: a throw at import, exit 1 and exit 0 without TAP', async (t) => {
  const run = await runs.crashing;
  failedRun(t, run, 3);
  t.equal(run.summary.at(-1), '2 passed, 3 failed', 'the passing file and its subtest pass; each crashed file fails');
  says(
    t,
    run,
    /^failed: test\/unit\/throws\.test\.ts crashed before its first test \(exit code 1\)$/,
    'the throw at import',
  );
  says(t, run, /^failed: test\/unit\/exits\.test\.ts crashed before its first test \(exit code 1\)$/, 'the exit 1');
  // tap itself calls such a file skipped ("no tests found") and exits 0 for it.
  says(t, run, /^failed: test\/unit\/silent\.test\.ts printed no TAP/, 'the exit 0 without a test');
});

t.test('.ci/run: a suite without test files', async (t) => {
  const run = await runs.empty;
  failedRun(t, run);
  says(t, run, /^failed: suite test\/unit has no \*\.test\.ts files$/, 'names the empty suite');
});

t.test('.ci/run: a run without tap, so without TAP', async (t) => {
  const run = await runs.noTap;
  failedRun(t, run);
  says(
    t,
    run,
    /^failed: no test results: the TAP output has no test point \(tap exited with status 127\)$/,
    'says there were no test results, and why',
  );
});

t.test('.ci/run: a test command that prints no summary', async (t) => {
  const run = await runs.noSummary;
  failedRun(t, run);
  says(t, run, /^failed: npm test printed no summary \(exit status 0\)$/, 'says there was no summary');
});

t.test('.ci/run: a test command that fails under a summary counting no failure', async (t) => {
  const run = await runs.falseSummary;
  failedRun(t, run);
  t.equal(run.status, 3, 'exits with the status npm test had');
  says(t, run, /^failed: npm test exited with status 3, yet its summary counted no failure$/, 'says so');
  t.equal(run.summary.at(-1), '1 passed, 1 failed', 'keeps the passed count and counts the failure');
});
