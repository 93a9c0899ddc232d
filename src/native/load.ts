// Loads the compiled N-API addon once. Typed facades (bpf.ts, arp.ts) are the only importers of this module.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { KubeLbError } from '../shared/errors.ts';

const here = dirname(fileURLToPath(import.meta.url));
const candidates = [
  process.env.KUBE_LB_NATIVE_ADDON,
  join(here, '../../native/build/Release/kube_lb_native.node'),
  join(here, '../../../native/build/Release/kube_lb_native.node'), // from dist/src/native
].filter((p): p is string => typeof p === 'string');

let cached: unknown;

export function loadAddon(): unknown {
  if (cached !== undefined) return cached;
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const path of candidates) {
    try {
      cached = require(path);
      return cached;
    } catch (err) {
      errors.push(`${path}: ${(err as Error).message}`);
    }
  }
  throw new KubeLbError(
    'NATIVE_ADDON_MISSING',
    `kube-lb native addon not found; run "npm run setup". Tried:\n  ${errors.join('\n  ')}`,
  );
}
