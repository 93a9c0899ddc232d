// The operator docs stay true: the CRD reference is what scripts/gen-crd-docs.ts renders, every metric the code
// defines is listed in docs/metrics.md, and relative links between docs and into the repository resolve.
// (That each listed metric is really exported is checked by scraping the programs in the control-plane and
// end-to-end suites.)
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderCrdReference } from '../../../scripts/gen-crd-docs.ts';
import { documentedMetrics } from '../../support/metrics-doc.ts';
import { typescriptFiles } from '../../support/source-files.ts';

const root = join(import.meta.dirname, '../../..');

t.test('docs/crds.md is generated from the CRD definitions (run node scripts/gen-crd-docs.ts)', async (t) => {
  t.equal(readFileSync(join(root, 'docs/crds.md'), 'utf8'), renderCrdReference());
});

t.test('every metric defined in src/ is documented in docs/metrics.md', async (t) => {
  const documented = new Set([
    ...documentedMetrics('allocator'),
    ...documentedMetrics('agent'),
    ...documentedMetrics('speaker'),
  ]);
  const defined = new Set<string>();
  for (const file of typescriptFiles(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    // Declared with metricsOn (src/shared/metrics.ts): the name is the first argument of counter, gauge, histogram.
    for (const m of text.matchAll(/\.(?:counter|gauge|histogram)\(\s*'((?:kube_lb|workqueue)_[a-z0-9_]+)'/g))
      defined.add(m[1]!);
    // Per-program names built from a template (src/kube/reconcile-metrics.ts).
    for (const m of text.matchAll(/\.(?:counter|gauge|histogram)\(\s*`kube_lb_\$\{program\}_([a-z0-9_]+)`/g)) {
      for (const program of ['allocator', 'agent']) defined.add(`kube_lb_${program}_${m[1]}`);
    }
  }
  t.ok(defined.size > 20, `${defined.size} metrics defined`);
  t.same([...defined].filter((n) => !documented.has(n)).sort(), [], 'undocumented metrics');
});

t.test('relative links in docs/ resolve', async (t) => {
  const broken: string[] = [];
  for (const f of readdirSync(join(root, 'docs')).filter((x) => x.endsWith('.md'))) {
    const text = readFileSync(join(root, 'docs', f), 'utf8');
    for (const m of text.matchAll(/\]\(([\w./-]+)(#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      if (!existsSync(join(root, 'docs', target)) && !existsSync(join(dirname(join(root, 'docs', f)), target)))
        broken.push(`${f}: ${target}`);
    }
  }
  t.same(broken, []);
});
