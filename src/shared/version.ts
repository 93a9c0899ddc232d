// kube-lb's version, one source: package.json at the root of the checkout or the image.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The version in package.json. */
export function packageVersion(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}
