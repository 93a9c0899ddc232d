// The Dockerfile cannot be built here (no Docker engine), so its invariants are checked as text: two stages,
// a slim Node 24 runtime, a non-root user, build commands that exist in package.json, COPY sources that exist
// and are not excluded by .dockerignore, and an entrypoint that knows every program the repository has.
import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../../..');

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Instructions with continuation lines joined and comments dropped; ARG defaults substituted in FROM. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') startLine = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = pending + line;
    pending = '';
    const m = /^(\w+)\s+(.*)$/.exec(full);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!, line: startLine });
  });
  return out;
}

const dockerfile = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const args = new Map(dockerfile.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]));
const expand = (s: string): string => s.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');
const stages = dockerfile
  .map((ins, index) => ({ ins, index }))
  .filter(({ ins }) => ins.op === 'FROM')
  .map(({ ins, index }, n, all) => {
    const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(expand(ins.args))!;
    const end = all[n + 1]?.index ?? dockerfile.length;
    return { image: m[1]!, name: m[2] ?? String(n), body: dockerfile.slice(index + 1, end) };
  });
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

t.test('a build stage on full Node 24 and a slim Node 24 runtime', async (t) => {
  t.same(
    stages.map((s) => s.name),
    ['build', 'runtime'],
  );
  t.match(stages[0]!.image, /^node:24-/);
  t.match(stages[1]!.image, /^node:24-.*slim$/);
});

t.test('the runtime runs as a numeric non-root user and chooses the program by argument', async (t) => {
  const runtime = stages[1]!.body;
  const users = runtime.filter((i) => i.op === 'USER').map((i) => i.args);
  t.equal(users.length, 1, 'one USER in the runtime stage');
  const [uid, gid] = users[0]!.split(':').map(Number);
  t.ok(uid !== undefined && uid > 0 && gid !== undefined && gid > 0, `USER ${users[0]} is numeric and not root`);
  t.ok(
    runtime.findIndex((i) => i.op === 'USER') > runtime.findLastIndex((i) => i.op === 'RUN'),
    'USER comes after the last RUN, so nothing runs as root at start',
  );
  const entrypoint = runtime.find((i) => i.op === 'ENTRYPOINT');
  t.same(JSON.parse(entrypoint!.args), ['/usr/local/bin/kube-lb-entrypoint'], 'exec-form ENTRYPOINT');
});

t.test('every npm command of the build stage exists in package.json and is the one CI runs', async (t) => {
  const runs = stages[0]!.body.filter((i) => i.op === 'RUN').map((i) => i.args);
  const npmRuns = runs.flatMap((r) => [...r.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]!));
  t.ok(npmRuns.length > 0, 'the build runs at least one package script');
  for (const script of npmRuns) t.ok(pkg.scripts[script], `package.json has script "${script}"`);
  t.ok(
    runs.some((r) => /\bnpm ci\b/.test(r)),
    'dependencies come from the lock file (npm ci)',
  );
  t.ok(
    runs.some((r) => /npm prune --omit=dev/.test(r)),
    'dev dependencies are pruned before the runtime copy',
  );
  // `npm run build` (what CI runs) is a wrapper around the same build:all the image runs.
  t.match(pkg.scripts.build, /npm run build:all/);
  t.match(pkg.scripts['build:all'], /tsc -p tsconfig\.build\.json/);
  t.match(pkg.scripts['build:all'], /scripts\/setup\/native\.sh/);
});

t.test('COPY sources exist and .dockerignore does not hide them', async (t) => {
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const stage of stages) {
    for (const copy of stage.body.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) {
        const path = source.replace(/\/$/, '');
        t.ok(existsSync(join(root, path)), `${path} exists (Dockerfile line ${copy.line})`);
        const hiddenBy = ignored.find((pattern) => path === pattern || path.startsWith(`${pattern}/`));
        t.equal(hiddenBy, undefined, `${path} is in the build context`);
      }
    }
  }
  // What the runtime copies from the build stage is what `npm run build:all` produces.
  const fromBuild = stages[1]!.body.filter((i) => i.op === 'COPY' && /--from=build/.test(i.args));
  const sources = fromBuild.map((i) => i.args.split(/\s+/).filter((p) => !p.startsWith('--'))[0]!);
  t.ok(sources.includes('/src/dist/'), 'compiled sources');
  t.ok(sources.includes('/src/native/build/Release/kube_lb_native.node'), 'the native addon');
  t.ok(sources.includes('/src/node_modules/'), 'production dependencies');
  const runtimeCopies = stages[1]!.body.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args)).map((i) => i.args);
  t.ok(
    runtimeCopies.some((a) => a.startsWith('deploy/tenant/ deploy/tenant/')),
    'the tenant templates, at the path src/cli/tenant.ts reads them from',
  );
});

t.test('the entrypoint starts every program that the repository has', async (t) => {
  const path = join(root, 'deploy/image/entrypoint.sh');
  t.ok(statSync(path).mode & 0o111, 'entrypoint.sh is executable');
  const text = readFileSync(path, 'utf8');
  const programs = /^\s*([a-z|]+)\)\s*$/m.exec(text)?.[1]?.split('|') ?? [];
  t.same(programs, ['allocator', 'agent', 'speaker']);
  t.match(text, /dist\/\$program\/main\.js/);
  t.match(text, /dist\/cli\/main\.js/);
  for (const program of [...programs, 'cli']) {
    t.ok(existsSync(join(root, 'src', program, 'main.ts')), `src/${program}/main.ts exists`);
  }
});
