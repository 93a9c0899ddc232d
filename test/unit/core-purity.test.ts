// src/core holds the pure logic (allocation, IP math, codecs, maglev, hashing): it must not reach for I/O,
// clocks or the Kubernetes client, so it stays testable with plain data and identical on every node.
// src/shared is the layer below everything (flags, logs, metrics, errors, the program skeleton): core, kube and
// the programs import it, so it imports none of them, and no arrow runs back up.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '../..');
const core = join(root, 'src/core');
const shared = join(root, 'src/shared');

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

/** What a file imports or re-exports, as written, statically or with import(). */
function imports(text: string): string[] {
  const statics = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)];
  const dynamics = [...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)];
  return [...statics, ...dynamics].map((m) => m[1]!);
}

t.test('src/core imports nothing with side effects', async (t) => {
  const offenders: string[] = [];
  for (const file of files(core)) {
    const text = readFileSync(file, 'utf8');
    for (const spec of imports(text)) {
      if (forbidden.some((re) => re.test(spec))) offenders.push(`${relative(root, file)} imports ${spec}`);
    }
    if (/\b(setTimeout|setInterval|Date\.now\(\)|new Date\(\)|process\.)/.test(text.replace(/\/\/.*$/gm, ''))) {
      offenders.push(`${relative(root, file)} uses timers, the clock or process state`);
    }
  }
  t.same(offenders, [], 'core modules are pure');
});

t.test('src/shared imports none of the layers above it', async (t) => {
  const above = [/^@kubernetes\/client-node/, /^\.\.\/(api|core|kube|native|allocator|agent|speaker|cli)\//];
  const offenders = files(shared).flatMap((file) =>
    imports(readFileSync(file, 'utf8'))
      .filter((spec) => above.some((re) => re.test(spec)))
      .map((spec) => `${relative(root, file)} imports ${spec}`),
  );
  t.same(offenders, [], 'shared depends on nothing but Node and its libraries');
});
