// The TypeScript files under a folder, recursively: what the doc checks scan for metric names and error codes.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export function* typescriptFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* typescriptFiles(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}
