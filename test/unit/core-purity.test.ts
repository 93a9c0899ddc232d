// src/core holds the pure logic (allocation, IP math, codecs, maglev, hashing): it must not reach for I/O,
// clocks or the Kubernetes client, so it stays testable with plain data and identical on every node.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '../..');
const core = join(root, 'src/core');

const forbidden = [
  /^node:(fs|net|dgram|child_process|http|https|http2|dns|os|worker_threads|cluster|tls|readline|timers)/,
  /^(fs|net|dgram|child_process|http|https|os|tls)(\/|$)/,
  /^@kubernetes\/client-node/,
  /^netlink$/,
  /^pino/,
  /^prom-client/,
  /\/native\//,
  /\/kube\//,
  /\/(allocator|agent|speaker|cli)\//,
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

t.test('src/core imports nothing with side effects', async (t) => {
  const offenders: string[] = [];
  for (const file of files(core)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
      if (forbidden.some((re) => re.test(m[1]!))) offenders.push(`${relative(root, file)} imports ${m[1]}`);
    }
    if (/\b(setTimeout|setInterval|Date\.now\(\)|new Date\(\)|process\.)/.test(text.replace(/\/\/.*$/gm, ''))) {
      offenders.push(`${relative(root, file)} uses timers, the clock or process state`);
    }
  }
  t.same(offenders, [], 'core modules are pure');
});
