// docs/errors.md cannot drift from the code: it is what scripts/gen-error-docs.ts renders from the catalogue
// (src/shared/error-codes.ts), and every code src/ raises is in that catalogue. The compiler already refuses a
// KubeLbError with an unknown code; the scan below also catches a code spelled where the types cannot see it
// (a cast, a plain object with a `code`).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderErrorReference } from '../../../scripts/gen-error-docs.ts';
import { ERROR_CODES } from '../../../src/shared/error-codes.ts';
import { typescriptFiles } from '../../support/source-files.ts';

const root = join(import.meta.dirname, '../../..');

t.test('docs/errors.md is generated from the catalogue (run node scripts/gen-error-docs.ts)', async (t) => {
  t.equal(readFileSync(join(root, 'docs/errors.md'), 'utf8'), renderErrorReference());
});

t.test('every error code raised in src/ is in the catalogue, and so in docs/errors.md', async (t) => {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const used = new Map<string, string>();
  // new KubeLbError('CODE', …), a subclass's super('CODE', …), and the code unions of subclasses that take one
  // (DataplaneErrorCode = 'A' | 'B'). Other errors' first arguments are not codes (BpfError's is the bpf command).
  const raise = /(?:new KubeLbError|super)\(\s*'([A-Z][A-Z0-9_]+)'/g;
  const union = /type \w*ErrorCode\s*=([^;]+);/g;
  for (const file of typescriptFiles(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(raise)) used.set(m[1]!, file);
    for (const m of text.matchAll(union)) for (const c of m[1]!.matchAll(/'([A-Z][A-Z0-9_]+)'/g)) used.set(c[1]!, file);
  }
  t.ok(used.size > 25, `${used.size} codes raised in src/`);
  const missing = [...used].filter(([code]) => !(code in ERROR_CODES) || !doc.includes(`| \`${code}\` |`));
  t.same(
    missing.map(([code, file]) => `${code} (${file.slice(root.length + 1)})`),
    [],
    'codes missing from docs/errors.md',
  );
});

t.test('every catalogued code is raised somewhere in src/ (no stale entries)', async (t) => {
  const text = [...typescriptFiles(join(root, 'src'))]
    .filter((f) => !f.endsWith('error-codes.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  t.same(
    Object.keys(ERROR_CODES).filter((code) => !text.includes(`'${code}'`)),
    [],
  );
});
