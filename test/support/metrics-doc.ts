// The metric names docs/metrics.md documents for a program: every `kube_lb_…` and `workqueue_…` (client-go's
// names) in the first column of the table under the heading "## <program>". Tests scrape /metrics and require
// each of them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');

export function documentedMetrics(program: 'allocator' | 'agent' | 'speaker'): string[] {
  const text = readFileSync(join(root, 'docs/metrics.md'), 'utf8');
  const section = text.split(/^## /m).find((s) => s.toLowerCase().startsWith(program));
  if (!section) throw new Error(`docs/metrics.md has no "## ${program}" section`);
  return [...section.matchAll(/^\|\s*`((?:kube_lb|workqueue)_[a-z0-9_]+)`/gm)].map((m) => m[1]!);
}
