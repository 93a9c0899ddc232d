// The program skeleton's shutdown order: on SIGTERM the program's own steps in the order given, then the leader
// Lease, then the status servers, then exit 0; a step that fails does not stop the rest, and the exit code is 1.
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { leaseRequestTimeoutMs } from '../../../src/kube/leadership.ts';

const fixture = join(import.meta.dirname, 'fixtures/program.ts');

interface Run {
  code: number | null;
  /** What the steps said, in order. */
  said: string[];
  /** The msg of every log line. */
  logs: string[];
  served: boolean;
}

async function runAndStop(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  let served = false;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', () => reject(new Error(`exited early: ${stderr}`)));
    child.stderr.on('data', async (d: Buffer) => {
      stderr += d.toString();
      const port = /ready (\d+)/.exec(stderr)?.[1];
      if (!port || served) return;
      served = (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
      resolve();
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const code = await exited;
  const said = stderr.split('\n').filter((l) => l && !l.startsWith('ready'));
  const logs = stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
  return { code, said, logs, served };
}

t.test('SIGTERM: the steps in order, then the Lease, then exit 0', async (t) => {
  const r = await runAndStop([]);
  t.ok(r.served, 'the status server answered');
  t.same(r.said, ['work-1', 'work-2', 'lease']);
  t.same(r.logs, ['status server listening', 'shutting down', 'stopped']);
  t.equal(r.code, 0);
});

t.test('a failed step: the rest and the Lease still run, exit 1', async (t) => {
  const r = await runAndStop(['--fail=work-1']);
  t.same(r.said, ['work-1', 'work-2', 'lease']);
  t.same(r.logs, ['status server listening', 'shutting down', 'shutdown step failed', 'stopped']);
  t.equal(r.code, 1);
});

t.test('a Lease request gets a third of the renew deadline, within 500 ms and --request-timeout', async (t) => {
  t.equal(leaseRequestTimeoutMs({ 'request-timeout': 10_000, 'renew-deadline': 10_000 }), 3333);
  t.equal(leaseRequestTimeoutMs({ 'request-timeout': 1000, 'renew-deadline': 10_000 }), 1000);
  t.equal(leaseRequestTimeoutMs({ 'request-timeout': 10_000, 'renew-deadline': 900 }), 500);
});
