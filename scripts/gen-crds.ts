// Writes deploy/crds/*.yaml from src/api/v1alpha1-crds.ts. Usage: node scripts/gen-crds.ts [--check]
// With --check, writes nothing and exits 1 when a file is missing or stale (the unit test does the same).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCRDs } from '../src/api/render-crds.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../deploy/crds');
const check = process.argv.includes('--check');
let stale = 0;
for (const { file, text } of renderCRDs()) {
  const path = join(dir, file);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (current === text) continue;
  stale++;
  if (check) console.error(`stale: ${path}`);
  else {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
if (check && stale > 0) process.exit(1);
