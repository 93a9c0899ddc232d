// A node programming its maps is not a dead node (issue 11, item 6): another process programs and removes
// 10k Services × 10 backends (220k Cilium entries) over and over, each pass holding its main thread for hundreds
// of milliseconds, while its heartbeat channel runs. This process judges it as a peer would: the last heartbeat
// it heard from the busy one never gets older than the probe timeout. Loopback and a private bpffs only.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { ProbeChannel } from '../../../src/speaker/l2/probes.ts';
import { mountBpffs } from '../../../lab/bpffs.ts';
import { createCiliumMaps } from '../../../lab/cilium-maps.ts';
import { Ledger } from '../../../lab/ledger.ts';

const TIMEOUT_MS = 500;
const ledger = Ledger.open('hb-load');
const bpffs = mountBpffs(ledger, 'hbload');
t.teardown(() => bpffs.dispose());
const dir = join(bpffs.dir, 'maps');
mkdirSync(dir);
createCiliumMaps(dir, { profile: PROFILES['1.18'], maxEntries: 1 << 18 });

t.test('a peer programming 220k entries keeps being heard, within the probe timeout', async (t) => {
  const port = 41000 + (process.pid % 10000);
  const judge = new ProbeChannel({
    nodeName: 'judge',
    bindAddress: '127.0.0.1',
    port,
    intervalMs: 100,
    timeoutMs: TIMEOUT_MS,
    logger: createLogger({ program: 'test', level: 'silent' }),
  });
  await judge.start();
  t.teardown(() => judge.stop());
  judge.setPeers([{ name: 'busy', host: '127.0.0.1', port: port + 1 }]);
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, '../../support/busy-speaker.ts'), dir, String(port + 1), String(port), '3'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.teardown(() => void child.kill('SIGKILL'));
  const done = new Promise<{ passes: number[] }>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (l) => resolve(JSON.parse(l) as { passes: number[] }));
    child.once('exit', (code) => reject(new Error(`busy speaker exited (${code})`)));
  });
  let heard = false;
  let maxAgeMs = 0;
  let finished: { passes: number[] } | undefined;
  void done.then((r) => (finished = r));
  const deadline = Date.now() + 120_000;
  while (!finished && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    const at = judge.heardFrom('busy').lastHeardAt;
    if (at === undefined) continue;
    heard = true;
    maxAgeMs = Math.max(maxAgeMs, performance.now() - at);
  }
  const result = finished ?? (await done);
  t.ok(heard, 'the busy peer was heard');
  t.comment(
    `busy peer's passes (ms): ${result.passes.join(', ')}; oldest its last heartbeat got: ${maxAgeMs.toFixed(0)} ms`,
  );
  t.ok(Math.max(...result.passes) > 200, 'its passes held its main thread for hundreds of milliseconds');
  t.ok(
    maxAgeMs < TIMEOUT_MS,
    `never silent for the probe timeout: at most ${maxAgeMs.toFixed(0)} ms (timeout ${TIMEOUT_MS} ms)`,
  );
});
