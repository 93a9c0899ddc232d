// Counts test points in a TAP stream (all nesting levels) and prints the one line CI reads.
import { createInterface } from 'node:readline';

let passed = 0;
let failed = 0;
let skipped = 0;
for await (const line of createInterface({ input: process.stdin })) {
  const m = /^\s*(not ok|ok)\s+\d+/.exec(line);
  if (!m) continue;
  if (/#\s*(SKIP|TODO)/i.test(line)) skipped++;
  else if (m[1] === 'ok') passed++;
  else failed++;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
