// Restart: the reconciler runs as its own process (as the speaker will); SIGKILL it and start it again while a
// client loop runs. Not one request may fail, and the maps must be byte-identical afterwards, down to the
// maglev inner maps (a restarted reconciler that rewrote a table would swap in a new inner map).
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, type TrackedProcess } from '../../../lab/process.ts';
import { waitFor } from '../../datapath/lab.ts';
import { dns, labFor, rawDump, VIP, web } from './helpers.ts';

const STANDALONE = join(dirname(fileURLToPath(import.meta.url)), '../../../src/speaker/dataplane/standalone.ts');

t.test('kill -9 and restart of the reconciler process costs no request and changes no byte', async (t) => {
  const lab = await labFor(t, 'restart', { version: '1.18', maglev: true });
  const desiredFile = join(lab.logDir, 'desired.json');
  writeFileSync(desiredFile, JSON.stringify([web(lab), dns(lab)]));
  let generation = 0;
  const start = async (): Promise<TrackedProcess> => {
    const label = `dataplane-${++generation}`;
    const proc = spawnTracked(
      lab.ledger,
      label,
      process.execPath,
      [
        STANDALONE,
        '--desired',
        desiredFile,
        '--map-dir',
        lab.mapDir,
        '--cilium-version',
        '1.18',
        // What Cilium's configuration says (the speaker reads it from --cilium-config-dir).
        '--maglev-table-size',
        String(lab.maps.maglevTableSize),
        '--log-level',
        'info',
      ],
      { logFile: join(lab.logDir, `${label}.log`) },
    );
    t.teardown(() => proc.kill());
    await waitFor(`${label} ready`, async () => readFileSync(proc.logFile, 'utf8').includes('dataplane ready'), 30_000);
    return proc;
  };

  const first = await start();
  const programmed = rawDump(lab.mapDir);
  t.ok(
    programmed.some((l) => l.startsWith('cilium_lb4_maglev')),
    'maglev tables written',
  );
  // A request fails if unanswered within 3 s: long enough for a loaded shared VM to schedule the client, short
  // enough that any map change breaking the path would show (and the maps are also compared byte for byte).
  await lab.startLoop('tcp', VIP, 80, 20, 3000);
  await waitFor('the client loop', async () => (await lab.loop()).ok >= 20);

  await first.kill();
  const killedAt = Date.now();
  const atKill = await lab.loop();
  const second = await start();
  const secondLog = readFileSync(second.logFile, 'utf8');
  t.match(secondLog, /"absent":0,"changed":0,"deleted":0/, 'the first pass after the restart had nothing to do');
  await waitFor('the client loop to go on', async () => (await lab.loop()).ok >= atKill.ok + 40);
  // A few periods of the restarted reconciler, then compare.
  await new Promise((r) => setTimeout(r, 1200));
  t.same(rawDump(lab.mapDir), programmed, 'maps byte-identical, same maglev inner maps');
  t.notMatch(readFileSync(second.logFile, 'utf8'), /maps programmed|repaired/, 'no write at all since the restart');
  const tally = await lab.stopLoop();
  const when =
    tally.lastFailAt === undefined
      ? ''
      : `, last failure ${tally.lastFailAt - killedAt} ms after the kill: ${tally.lastError}`;
  t.equal(tally.fail, 0, `${tally.ok} requests across the restart, none failed${when}`);
  await second.stop();
});
