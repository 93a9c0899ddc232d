// A run killed midway (SIGKILL: no teardown runs) must leave nothing behind once the next run starts.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupStale } from '../../lab/cleanup-stale.ts';
import { LEDGER_ROOT } from '../../lab/ledger.ts';

const fixture = join(import.meta.dirname, 'fixtures/start-and-hang.ts');

function pidsOf(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

t.test('control planes and netns of a SIGKILLed run are gone after the next cleanup', async (t) => {
  const child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('ready')) {
    if (child.exitCode !== null) throw new Error('fixture died');
    await sleep(100);
  }
  const { dir, netns, etcdData } = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as {
    dir: string;
    netns: string;
    etcdData: string;
  };
  t.ok(pidsOf(etcdData).length > 0, 'etcd of the doomed run is running');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  cleanupStale();
  // setpriv's parent-death signal usually kills the servers at once; cleanup covers the cases it does not.
  for (let i = 0; i < 50 && pidsOf(etcdData).length > 0; i++) await sleep(100);
  t.same(pidsOf(etcdData), [], 'no process of the killed run survives');
  t.notOk(existsSync(dir), 'its directory is removed');
  t.notOk(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(netns), 'its netns is deleted');
  t.notOk(
    readdirSync(LEDGER_ROOT).some((d) => dir.startsWith(join(LEDGER_ROOT, d))),
    'its ledger is gone',
  );
});
