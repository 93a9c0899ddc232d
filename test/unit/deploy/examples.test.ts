// The Docker-based examples cannot run here; what can be checked is checked: every YAML parses, kind configs are
// kind Clusters, the containerlab links name declared nodes, the scripts are valid bash, and the files and
// repository paths they refer to exist.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

const root = join(import.meta.dirname, '../../..');
const dir = join(root, 'deploy/examples');
const files = (sub: string) => readdirSync(join(dir, sub)).map((f) => join(dir, sub, f));

t.test('YAML parses; kind configs are kind Clusters; manifests have kinds', async (t) => {
  for (const f of [...files('kind'), ...files('containerlab')].filter((x) => x.endsWith('.yaml'))) {
    const docs = parseAllDocuments(readFileSync(f, 'utf8'));
    t.same(
      docs.flatMap((d) => d.errors),
      [],
      f,
    );
    for (const d of docs) {
      const o = d.toJS() as Record<string, unknown> | null;
      if (!o || f.endsWith('cilium-values.yaml') || f.endsWith('.clab.yaml')) continue;
      t.ok(o.kind && o.apiVersion, `${f}: ${String(o.kind)}`);
      if (f.includes('-cluster.yaml')) t.equal(o.apiVersion, 'kind.x-k8s.io/v1alpha4');
    }
  }
});

t.test('containerlab links name declared nodes', async (t) => {
  const topo = parse(readFileSync(join(dir, 'containerlab/topology.clab.yaml'), 'utf8')) as {
    topology: { nodes: Record<string, unknown>; links: Array<{ endpoints: string[] }> };
  };
  for (const link of topo.topology.links) {
    for (const ep of link.endpoints) t.ok(topo.topology.nodes[ep.split(':')[0]!], ep);
  }
});

t.test('scripts are executable valid bash, and the paths they use exist', async (t) => {
  for (const f of [...files('kind'), ...files('containerlab')].filter((x) => x.endsWith('.sh'))) {
    t.ok(statSync(f).mode & 0o111, `${f} is executable`);
    t.equal(spawnSync('bash', ['-n', f]).status, 0, `${f} parses`);
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\$root\/([\w./-]+)/g)) t.ok(existsSync(join(root, m[1]!)), `${f}: $root/${m[1]}`);
    for (const m of text.matchAll(/\$here\/([\w./-]+)/g)) t.ok(existsSync(join(f, '..', m[1]!)), `${f}: $here/${m[1]}`);
  }
});
