// Writes deploy/crds/*.yaml (one file per kind), the same files into the Helm chart's crds/ folder, and
// deploy/kube-lb-cluster/01-crds.yaml (all of them, for the install folder) from src/api/v1alpha1-crds.ts, the one
// source of the API's shapes (the TypeScript types are derived from it too). Usage: node scripts/gen-crds.ts [--check]
// With --check, writes nothing and exits 1 when a file is missing or stale (test/unit/api/crds.test.ts and
// test/unit/deploy/manifests.test.ts do the same).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_BUNDLE_FILE, HELM_CRD_DIR, renderCRDBundle, renderCRDs } from '../src/api/render-crds.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'deploy/crds');
const check = process.argv.includes('--check');
let stale = 0;
const outputs = [
  ...renderCRDs().flatMap(({ file, text }) => [
    { path: join(dir, file), text },
    { path: join(root, HELM_CRD_DIR, file), text },
  ]),
  { path: join(root, CRD_BUNDLE_FILE), text: renderCRDBundle() },
];
for (const { path, text } of outputs) {
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
