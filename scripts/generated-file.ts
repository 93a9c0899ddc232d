// The command line of the generators of checked-in files (docs/crds.md, docs/errors.md): write the file, or with
// --check exit 1 when the checked-in copy differs from what the generator renders now.
import { readFileSync, writeFileSync } from 'node:fs';

export function writeOrCheck(target: string, text: string, regenerate: string): void {
  if (process.argv.includes('--check')) {
    if (readFileSync(target, 'utf8') !== text) {
      console.error(`stale: ${target} (run ${regenerate})`);
      process.exit(1);
    }
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
}
