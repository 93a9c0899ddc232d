// `npm run build:all` is what the image's build stage runs: tsc emits src/ to dist/ with the relative `.ts`
// imports rewritten to `.js`, and the compiled programs start under plain Node through the image's entrypoint.
// The emit goes to a private directory inside node_modules/.cache (so package resolution finds the repository's
// node_modules), never to the shared dist/.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger } from '../../../lab/ledger.ts';

const root = join(import.meta.dirname, '../../..');

function* jsFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* jsFiles(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}

t.test('tsc emits runnable JavaScript that the image entrypoint starts', { timeout: 300_000 }, async (t) => {
  const ledger = Ledger.open('image-build');
  const cache = join(root, 'node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  const app = mkdtempSync(join(cache, 'kube-lb-build-'));
  ledger.record('dir', app);
  t.teardown(() => {
    rmSync(app, { recursive: true, force: true });
    ledger.release('dir', app);
  });

  execFileSync(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(root, 'tsconfig.build.json'),
      '--outDir',
      join(app, 'dist'),
    ],
    { stdio: 'pipe' },
  );
  // The image's layout: /app/package.json, /app/dist, /app/native/build/Release.
  copyFileSync(join(root, 'package.json'), join(app, 'package.json'));
  mkdirSync(join(app, 'native/build'), { recursive: true });
  symlinkSync(join(root, 'native/build/Release'), join(app, 'native/build/Release'));

  const files = [...jsFiles(join(app, 'dist'))];
  for (const program of ['allocator', 'agent', 'speaker', 'cli']) {
    t.ok(files.includes(join(app, 'dist', program, 'main.js')), `dist/${program}/main.js emitted`);
  }
  const unrewritten = files.filter((f) => /from '\.{1,2}\/[^']*\.ts'/.test(readFileSync(f, 'utf8')));
  t.same(unrewritten, [], 'every relative import was rewritten to .js');

  const run = (args: string[]) =>
    spawnSync('sh', [join(root, 'deploy/image/entrypoint.sh'), ...args], {
      encoding: 'utf8',
      // NODE_NAME as the speaker DaemonSet sets it (the speaker checks required flags before --help).
      env: { ...process.env, KUBE_LB_APP_DIR: app, NODE_OPTIONS: '', NODE_NAME: 'lb-1' },
      timeout: 60_000,
    });
  const help = run(['kube-lb', '--help']);
  t.equal(help.status, 0, `kube-lb --help exits 0 (${help.stderr})`);
  for (const command of ['status', 'tenant', 'doctor', 'maps']) t.match(help.stdout + help.stderr, command);

  // The programs parse their options before touching anything: --help proves the whole import graph loads.
  for (const program of ['allocator', 'agent', 'speaker']) {
    const r = run([program, '--help']);
    t.equal(r.status, 0, `${program} --help exits 0 (${r.stderr.slice(0, 500)})`);
  }
  const unknown = run(['nope']);
  t.equal(unknown.status, 64, 'an unknown program is a usage error');
});
