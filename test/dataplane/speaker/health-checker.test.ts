// The speaker's backend health checks with real sockets on loopback: a TCP NodePort that stops listening and
// comes back, an HTTP /healthz that answers 503, a port that never answers in time; thresholds respected.
import t from 'tap';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { createLogger } from '../../../src/shared/logger.ts';
import { HealthChecker } from '../../../src/speaker/health/checker.ts';
import { httpProbe, tcpProbe } from '../../../src/speaker/health/probe.ts';
import { eventually } from '../../../lab/eventually.ts';

const logger = createLogger({ program: 'health-test', level: 'silent' });

function listen<S extends TcpServer | HttpServer>(server: S, port = 0): Promise<number> {
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}
const close = (s: TcpServer | HttpServer): Promise<void> => new Promise((r) => s.close(() => r()));

t.test('probes report success and stable failure codes', async (t) => {
  const tcp = createTcpServer((sock) => sock.end());
  const port = await listen(tcp);
  t.same(await tcpProbe('127.0.0.1', port, 1000), { ok: true });
  await close(tcp);
  t.match(await tcpProbe('127.0.0.1', port, 1000), { ok: false, failure: 'Refused' });

  let status = 200;
  const http = createHttpServer((req, res) => res.writeHead(req.url === '/healthz' ? status : 404).end());
  const hport = await listen(http);
  t.teardown(() => close(http));
  t.same(await httpProbe('127.0.0.1', hport, '/healthz', 1000), { ok: true });
  status = 503;
  t.match(await httpProbe('127.0.0.1', hport, '/healthz', 1000), { ok: false, failure: 'BadStatus', detail: /503/ });

  // Accepts the connection but never answers the request.
  const silent = createTcpServer((sock) => sock.resume());
  const sport = await listen(silent);
  t.teardown(() => close(silent));
  t.match(await httpProbe('127.0.0.1', sport, '/healthz', 200), { ok: false, failure: 'Timeout' });
});

t.test('a NodePort that stops listening is taken out after `fall` probes and back after `rise`', async (t) => {
  let tcp = createTcpServer((sock) => sock.end());
  const port = await listen(tcp);
  const key = `tcp://127.0.0.1:${port}`;
  const checker = new HealthChecker({
    intervalMs: 50,
    timeoutMs: 500,
    thresholds: { rise: 2, fall: 3 },
    logger,
    now: () => performance.now(),
  });
  const transitions: string[] = [];
  checker.onTransition((k, from, to) => transitions.push(`${k === key ? 'np' : k}:${from}->${to}`));
  checker.setTargets([key, 'not a key']);
  checker.start();
  t.teardown(() => checker.stop());
  await eventually('healthy', () => checker.state(key) === 'healthy', 10_000, 20);
  await close(tcp);
  await eventually('unhealthy', () => checker.state(key) === 'unhealthy', 10_000, 20);
  t.same(checker.failing(), [key]);
  const out = checker.report().find((r) => r.key === key);
  t.ok(out && out.streak <= -3, 'taken out after at least three failures in a row');
  t.equal(out?.lastFailure?.failure, 'Refused');
  tcp = createTcpServer((sock) => sock.end());
  await listen(tcp, port);
  t.teardown(() => close(tcp));
  await eventually('healthy again', () => checker.state(key) === 'healthy', 10_000, 20);
  t.same(transitions, ['np:unknown->healthy', 'np:healthy->unhealthy', 'np:unhealthy->healthy']);
  t.same(
    checker.report().map((r) => r.key),
    [key],
    'a key that does not parse is ignored',
  );
  checker.setTargets([]);
  t.same(checker.report(), [], 'targets no claim needs are dropped');
});
