// Type checks are part of the suite: strict TypeScript across src, test and scripts.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');

t.test('tsc --noEmit passes', async (t) => {
  try {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'), '--noEmit'],
      {
        encoding: 'utf8',
        stdio: 'pipe',
      },
    );
    t.pass('no type errors');
  } catch (err) {
    t.fail(`type errors:\n${(err as { stdout?: string }).stdout ?? String(err)}`);
  }
});
