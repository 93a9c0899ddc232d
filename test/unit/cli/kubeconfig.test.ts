// Which kubeconfig the CLI uses, by kubectl's rules: --kubeconfig alone; else every existing KUBECONFIG file,
// merged with the first file winning (current-context, and any cluster, user or context named twice); else
// ~/.kube/config; --context replaces the current context.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { kubeconfigFiles, loadMergedKubeConfig } from '../../../src/kube/kubeconfig.ts';
import { ConfigError, KubeLbError } from '../../../src/shared/errors.ts';
import { kubeconfigText } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'kube-lb-kubeconfig-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(file: string, o: { current?: string; server: string; names: string[]; caFile?: string }): string {
  const path = join(dir, file);
  writeFileSync(path, kubeconfigText({ ...o, tokenPrefix: `${file}-` }));
  return path;
}

// a: no current context; b: current "shared", defines "shared" and "b"; c: current "c", defines "shared" again.
const a = kubeconfig('a', { server: 'https://a:6443', names: ['a'] });
const b = kubeconfig('b', {
  current: 'shared',
  server: 'https://b:6443',
  names: ['shared', 'b'],
  caFile: 'certs/ca.crt',
});
const c = kubeconfig('c', { current: 'c', server: 'https://c:6443', names: ['shared', 'c'] });
const missing = join(dir, 'missing');
const list = [a, missing, b, c].join(delimiter);

t.test('KUBECONFIG lists merge as kubectl merges them', async (t) => {
  const kc = loadMergedKubeConfig({ env: { KUBECONFIG: list } });
  t.equal(kc.currentContext, 'shared', 'the first file that sets current-context wins (a sets none)');
  t.equal(kc.getCurrentCluster()?.server, 'https://b:6443', 'a name defined twice: the first file wins');
  t.equal(kc.getCurrentUser()?.token, 'b-shared');
  t.same(kc.contexts.map((x) => x.name).sort(), ['a', 'b', 'c', 'shared'], 'every context of every file');
  t.equal(
    kc.getCurrentCluster()?.caFile,
    join(dir, 'certs/ca.crt'),
    "relative paths resolve against the defining file's folder",
  );
  t.same(kubeconfigFiles({ env: { KUBECONFIG: list } }), [a, b, c], 'a listed file that does not exist is skipped');
});

t.test('--context picks any merged context; an unknown one is a usage error', async (t) => {
  const kc = loadMergedKubeConfig({ env: { KUBECONFIG: list }, context: 'c' });
  t.equal(kc.getCurrentCluster()?.server, 'https://c:6443');
  t.throws(() => loadMergedKubeConfig({ env: { KUBECONFIG: list }, context: 'nope' }), ConfigError);
});

t.test('--kubeconfig is one file and wins over KUBECONFIG', async (t) => {
  const kc = loadMergedKubeConfig({ kubeconfig: c, env: { KUBECONFIG: list } });
  t.equal(kc.currentContext, 'c');
  t.same(kc.contexts.map((x) => x.name).sort(), ['c', 'shared']);
  t.throws(
    () => loadMergedKubeConfig({ kubeconfig: missing, env: {} }),
    ConfigError,
    'a --kubeconfig that does not exist',
  );
});

t.test('without either: ~/.kube/config, else a clear failure', async (t) => {
  const home = join(dir, 'home');
  mkdirSync(join(home, '.kube'), { recursive: true });
  t.throws(() => loadMergedKubeConfig({ env: {}, home }), KubeLbError);
  kubeconfig('home/.kube/config', { current: 'h', server: 'https://h:6443', names: ['h'] });
  t.equal(loadMergedKubeConfig({ env: {}, home }).getCurrentCluster()?.server, 'https://h:6443');
  t.throws(
    () => loadMergedKubeConfig({ env: { KUBECONFIG: missing }, home }),
    /none of the KUBECONFIG files/,
    'KUBECONFIG set: ~/.kube/config is not read',
  );
});
