// When the allocator gives memory back: only after its queue has been idle a while, only when the resident set
// grew well past what the last trim left, and never twice within the interval. And the trim itself returns pages:
// a last-resort collection in this very process brings the resident set down after a burst of garbage.
import t from 'tap';
import { startMemoryTrim, trimDue, type TrimPolicy, type TrimState } from '../../../src/shared/memory-trim.ts';
import { createLogger } from '../../../src/shared/logger.ts';

const MB = 2 ** 20;
const policy: TrimPolicy = { idleMs: 1000, growthBytes: 64 * MB, minIntervalMs: 30_000 };
const fresh = (): TrimState => ({ idleSince: undefined, baselineRss: 100 * MB, lastTrimAt: undefined });

t.test('a busy queue never trims, and busy restarts the idle clock', async (t) => {
  const s = fresh();
  t.notOk(trimDue(policy, s, 0, 400 * MB, true), 'busy');
  t.notOk(trimDue(policy, s, 100, 400 * MB, false), 'idle just now');
  t.notOk(trimDue(policy, s, 900, 400 * MB, true), 'busy again');
  t.notOk(trimDue(policy, s, 1500, 400 * MB, false), 'idle again, since 1500');
  t.ok(trimDue(policy, s, 2500, 400 * MB, false), 'idle for 1 s, grown by 300 MB');
});

t.test('growth below the threshold is left alone', async (t) => {
  const s = fresh();
  trimDue(policy, s, 0, 150 * MB, false);
  t.notOk(trimDue(policy, s, 5000, 163 * MB, false), '63 MB more than the baseline');
  t.ok(trimDue(policy, s, 5000, 164 * MB, false), '64 MB more');
});

t.test('no two trims within the interval', async (t) => {
  const s = fresh();
  trimDue(policy, s, 0, 400 * MB, false);
  t.ok(trimDue(policy, s, 1000, 400 * MB, false));
  s.lastTrimAt = 1000;
  s.baselineRss = 100 * MB;
  t.notOk(trimDue(policy, s, 20_000, 400 * MB, false), '19 s after the last');
  t.ok(trimDue(policy, s, 31_000, 400 * MB, false), '30 s after the last');
});

t.test('a trim returns the pages of a burst of garbage', async (t) => {
  let garbage: object[] | undefined = [];
  for (let i = 0; i < 1_500_000; i++) garbage.push({ i, s: `garbage ${i}` });
  const before = process.memoryUsage.rss();
  garbage = undefined;
  t.notOk(garbage);
  const lines: Record<string, number>[] = [];
  const logger = createLogger(
    { program: 'test', level: 'info' },
    { write: (l: string) => void lines.push(JSON.parse(l)) },
  );
  const trim = startMemoryTrim({
    busy: () => false,
    logger,
    checkMs: 20,
    policy: { idleMs: 0, growthBytes: 0, minIntervalMs: 60_000 },
  });
  await new Promise((r) => setTimeout(r, 200));
  trim.stop();
  t.equal(lines.length, 1, 'one trim within the interval');
  const line = lines[0]!;
  t.comment(`rss ${Math.round(before / MB)} MB with the garbage; trim: ${JSON.stringify(line)}`);
  t.ok(
    line.rssAfterMb! < line.rssBeforeMb! - 50,
    `at least 50 MB returned (${line.rssBeforeMb} → ${line.rssAfterMb} MB)`,
  );
});
