// The status server answers /metrics, /healthz and /readyz from the probes and registry it is given.
import t from 'tap';
import { Counter } from 'prom-client';
import { startStatusServer } from '../../src/shared/http-status.ts';
import { createRegistry } from '../../src/shared/metrics.ts';
import { createLogger } from '../../src/shared/logger.ts';

t.test('metrics, liveness and readiness', async (t) => {
  const registry = createRegistry('test');
  const c = new Counter({ name: 'kube_lb_test_things_total', help: 'things', registers: [registry] });
  c.inc(3);
  let synced = false;
  const server = await startStatusServer({
    host: '127.0.0.1',
    port: 0,
    registry,
    readiness: [{ name: 'informers', check: () => (synced ? undefined : 'not synced') }],
    logger: createLogger({ program: 'test', level: 'silent' }),
  });
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${server.port}`;
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, /kube_lb_test_things_total\{program="test"\} 3/);
  t.match(
    metrics,
    /^process_cpu_seconds_total\{program="test"\} /m,
    "the runtime's metrics under their standard names",
  );
  t.notMatch(metrics, /process_process_/);
  t.equal((await fetch(`${base}/healthz`)).status, 200);
  const notReady = await fetch(`${base}/readyz`);
  t.equal(notReady.status, 503);
  t.match(await notReady.text(), /informers: not synced/);
  synced = true;
  t.equal((await fetch(`${base}/readyz`)).status, 200);
  t.equal((await fetch(`${base}/nope`)).status, 404);
});
