// The house style is checked, not discussed: Biome formats and lints every TypeScript file (biome.json), and class
// members are private one way (ECMAScript `#`, which the runtime enforces; `private` stays only on constructors,
// which have no `#` form), as are metrics (metricsOn in src/shared/metrics.ts). `npm test` fails on a misformatted
// file, proven here on a scratch copy of the config.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { typescriptFiles } from '../../support/source-files.ts';

const root = join(import.meta.dirname, '../../..');
const biome = join(root, 'node_modules/@biomejs/biome/bin/biome');

/** `biome ci` (format + lint, read-only) in `dir`: its exit status and what it printed. */
function biomeCi(dir: string, ...paths: string[]): { ok: boolean; output: string } {
  try {
    const out = execFileSync(
      process.execPath,
      [biome, 'ci', '--error-on-warnings', '--colors=off', '--max-diagnostics=50', ...paths],
      {
        cwd: dir,
        encoding: 'utf8',
        stdio: 'pipe',
      },
    );
    return { ok: true, output: out };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

t.test('the formatter and the linter report nothing', async (t) => {
  const r = biomeCi(root);
  t.ok(
    r.ok,
    r.ok
      ? 'biome ci: clean'
      : `biome ci found problems (fix with \`npm run format\`, then \`npm run lint\`):\n${r.output}`,
  );
});

t.test('a misformatted file fails the check', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-lb-style-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The repository's own config, less what only a git checkout has (the VCS ignore file) and the schema path.
  const config = readFileSync(join(root, 'biome.json'), 'utf8')
    .split('\n')
    .filter((line) => !/"\$schema"|"vcs"/.test(line))
    .join('\n');
  writeFileSync(join(dir, 'biome.json'), config);
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src/well.ts'), 'export const answer = { value: 42 };\n');
  t.ok(biomeCi(dir).ok, 'a well-formatted file passes');
  writeFileSync(join(dir, 'src/bad.ts'), 'export const answer = {value:42}\n');
  const r = biomeCi(dir);
  t.notOk(r.ok, 'a misformatted file fails');
  t.match(r.output, /bad\.ts/, 'and the report names the file');
});

t.test('class members are private one way', async (t) => {
  const offenders: string[] = [];
  for (const top of ['src', 'lab', 'test', 'scripts']) {
    for (const file of typescriptFiles(join(root, top))) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/^\s+(?:static\s+)?private\s+(?!constructor\b)/.test(line))
            offenders.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
        });
    }
  }
  t.same(offenders, [], 'members use #name, not the private keyword');
});

t.test('metrics are declared one way', async (t) => {
  const helper = join(root, 'src/shared/metrics.ts');
  const offenders: string[] = [];
  for (const file of typescriptFiles(join(root, 'src'))) {
    if (file === helper) continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/\bnew (?:Counter|Gauge|Histogram|Summary)\b/.test(line))
          offenders.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
      });
  }
  t.same(offenders, [], 'prom-client metrics are made with metricsOn (src/shared/metrics.ts)');
});
