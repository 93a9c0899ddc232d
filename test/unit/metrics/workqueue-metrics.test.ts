// client-go's workqueue metrics from kube-lb's WorkQueue, counted as client-go counts them: an add that collapses
// into a waiting key is not an add, a key added while a worker has it waits (depth 1) and is timed from that add,
// a retry is a handler asking for one (or throwing), a requeueAfter is not. And the runtime's metrics keep their
// standard names, with no doubled prefix.
import t from 'tap';
import { WorkQueue, done, requeueAfter, retry, type HandlerResult } from '../../../src/kube/workqueue.ts';
import { createRegistry } from '../../../src/shared/metrics.ts';
import { workQueueMetrics } from '../../../src/kube/workqueue-metrics.ts';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function value(
  registry: ReturnType<typeof createRegistry>,
  metric: string,
  name: string,
  suffix = '',
): Promise<number | undefined> {
  const json = await registry.getMetricsAsJSON();
  const values = json.find((m) => m.name === metric)?.values ?? [];
  return values.find(
    (v) =>
      v.labels.name === name && (suffix === '' || (v as { metricName?: string }).metricName === `${metric}${suffix}`),
  )?.value;
}

t.test('adds, depth, waiting time and retries of one queue', async (t) => {
  const registry = createRegistry('test');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // In the order workers take them: slow, a (retry), slow again, a after its backoff (requeueAfter), a once more.
  const results: HandlerResult[] = [done, retry('once'), done, requeueAfter(5), done];
  const q = new WorkQueue(
    async (key) => {
      if (key === 'slow') await gate;
      return results.shift() ?? done;
    },
    { concurrency: 1, baseBackoffMs: 1, metrics: workQueueMetrics(registry, 'things') },
  );
  t.equal(await value(registry, 'workqueue_depth', 'things'), 0, 'every series exists before the first add');
  t.equal(await value(registry, 'workqueue_adds_total', 'things'), 0);

  q.add('slow');
  await tick();
  q.add('a');
  q.add('a');
  q.add('slow');
  q.add('slow');
  t.equal(
    await value(registry, 'workqueue_adds_total', 'things'),
    3,
    "repeated adds of a waiting key are one add (client-go's dirty set)",
  );
  t.equal(await value(registry, 'workqueue_depth', 'things'), 2, '"a" waits, and "slow" again while a worker has it');
  release();
  await q.idle();
  await tick(50);
  await q.idle();
  t.equal(await value(registry, 'workqueue_depth', 'things'), 0);
  t.equal(
    await value(registry, 'workqueue_retries_total', 'things'),
    1,
    'the one retry result; requeueAfter is not a retry',
  );
  t.equal(results.length, 0, 'every result was used');
  t.equal(await value(registry, 'workqueue_adds_total', 'things'), 5, 'the retry and the requeue came back as adds');
  t.equal(
    await value(registry, 'workqueue_queue_duration_seconds', 'things', '_count'),
    5,
    'every add was timed once, when a worker took it',
  );
  q.stop();
});

t.test('two queues in one registry share the series, told apart by name', async (t) => {
  const registry = createRegistry('test');
  const a = new WorkQueue(async () => done, { metrics: workQueueMetrics(registry, 'a') });
  const b = new WorkQueue(async () => done, { metrics: workQueueMetrics(registry, 'b') });
  a.add('x');
  b.add('x');
  b.add('y');
  await Promise.all([a.idle(), b.idle()]);
  t.equal(await value(registry, 'workqueue_adds_total', 'a'), 1);
  t.equal(await value(registry, 'workqueue_adds_total', 'b'), 2);
});

t.test('metric names follow the conventions', async (t) => {
  const registry = createRegistry('test');
  workQueueMetrics(registry, 'q');
  const json = await registry.getMetricsAsJSON();
  const names = json.map((m) => m.name);
  t.ok(names.includes('process_cpu_seconds_total'), 'process metrics under their standard names');
  t.same(
    names.filter((n) => n.includes('process_process')),
    [],
    'no doubled process_ prefix',
  );
  // prom-client's own defaults are left as they are (its nodejs_active_resources_total is a gauge).
  for (const m of json.filter((x) => !/^(process|nodejs)_/.test(x.name))) {
    if (String(m.type) === 'counter') t.match(m.name, /_total$/, `counter ${m.name} ends in _total`);
    else t.notMatch(m.name, /_total$/, `${m.type} ${m.name} does not end in _total`);
  }
});
