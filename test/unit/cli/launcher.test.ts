// bin/kube-lb starts the CLI from any shell: it finds a Node that runs TypeScript (KUBE_LB_NODE, the project's
// .tools/node, the node on PATH) or says how to get one; linked as kubectl-kube_lb it is the kubectl plugin, as
// kubectl_complete-kube_lb the plugin's completion. Run from a copy of the launcher in a scratch "project" whose
// src/cli/main.ts links to the real one, so the test decides which Node exists.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const repo = join(import.meta.dirname, '../../..');
const scratch = mkdtempSync(join(tmpdir(), 'kube-lb-launcher-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

mkdirSync(join(scratch, 'bin'));
mkdirSync(join(scratch, 'src/cli'), { recursive: true });
copyFileSync(join(repo, 'bin/kube-lb'), join(scratch, 'bin/kube-lb'));
symlinkSync('kube-lb', join(scratch, 'bin/kubectl-kube_lb'));
symlinkSync('kube-lb', join(scratch, 'bin/kubectl_complete-kube_lb'));
symlinkSync(join(repo, 'src/cli/main.ts'), join(scratch, 'src/cli/main.ts'));
// A Node too old for TypeScript, first on PATH (as a machine's default Node 18 or 20 would be).
const oldBin = join(scratch, 'old-node');
mkdirSync(oldBin);
writeFileSync(
  join(oldBin, 'node'),
  '#!/bin/sh\n[ "$1" = --version ] && echo v20.11.1 && exit 0\necho "Unknown file extension .ts" >&2; exit 1\n',
  { mode: 0o755 },
);
// npm links a bin from elsewhere: a link in another folder must still find the project.
const onPath = join(scratch, 'on-path');
mkdirSync(onPath);
symlinkSync(join(scratch, 'bin/kubectl-kube_lb'), join(onPath, 'kubectl-kube_lb'));

const PATH = `${oldBin}:/usr/local/bin:/usr/bin:/bin`;
const launch = (cmd: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(cmd, args, { encoding: 'utf8', env: { PATH, HOME: scratch, ...env }, timeout: 30_000 });

t.test('with only an old Node: a clear message saying how to get one, exit 1', async (t) => {
  const r = launch(join(scratch, 'bin/kube-lb'), ['version']);
  t.equal(r.status, 1);
  t.match(r.stderr, /needs Node\.js 22\.19 or newer .*found: .*old-node\/node v20\.11\.1/);
  t.match(r.stderr, new RegExp(`bash ${scratch}/scripts/setup/node\\.sh`));
  t.notMatch(r.stderr, /Unknown file extension/);
});

t.test('with a suitable Node it runs, as kube-lb and as the plugin', async (t) => {
  const env = { KUBE_LB_NODE: process.execPath };
  const version = launch(join(scratch, 'bin/kube-lb'), ['version', '-o', 'json'], env);
  t.equal(version.status, 0, version.stderr);
  t.equal(JSON.parse(version.stdout).node, process.versions.node);
  const plugin = launch(join(onPath, 'kubectl-kube_lb'), ['status', '--help'], env);
  t.equal(plugin.status, 0, plugin.stderr);
  t.match(plugin.stdout, /^Usage: kubectl kube-lb status/);
  const usage = launch(join(onPath, 'kubectl-kube_lb'), ['status', '-o', 'text'], env);
  t.equal(usage.status, 2, 'usage errors keep their exit code through the launcher');
  const completion = launch(join(scratch, 'bin/kubectl_complete-kube_lb'), ['status', '-o', 'y'], env);
  t.equal(completion.stdout, 'yaml\n:4\n', "kubectl's plugin completion protocol");
});

t.test("the project's own .tools/node is found without PATH or KUBE_LB_NODE", async (t) => {
  mkdirSync(join(scratch, '.tools/node/bin'), { recursive: true });
  symlinkSync(process.execPath, join(scratch, '.tools/node/bin/node'));
  const r = launch(join(scratch, 'bin/kube-lb'), ['--version']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});

t.test("the launcher's floor is package.json's engines.node", async (t) => {
  const text = readFileSync(join(repo, 'bin/kube-lb'), 'utf8');
  const floor = `${/^min_major=(\d+)$/m.exec(text)?.[1]}.${/^min_minor=(\d+)$/m.exec(text)?.[1]}`;
  const engines = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { engines: { node: string } })
    .engines.node;
  t.equal(`>=${floor}`, engines);
});

t.test('package.json ships the CLI and the plugin through the launcher', async (t) => {
  const bin = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin;
  t.same(bin, {
    'kube-lb': 'bin/kube-lb',
    'kubectl-kube_lb': 'bin/kube-lb',
    'kubectl_complete-kube_lb': 'bin/kube-lb',
  });
});
