// The agent in bad weather: two replicas and a leader that dies; every replica down while Services come and go;
// the LB cluster's API server gone for 30 s, then paused (connections hang) for a while. Through all of it no
// Service loses or changes its EXTERNAL-IP or its Allocated condition, and the state is right within seconds of
// the agent or the LB API server coming back.
import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VIPClaim } from '../../src/api/v1alpha1.ts';
import { FINALIZER } from '../../src/core/agent/naming.ts';
import { SERVICE_CONDITIONS } from '../../src/core/agent/status.ts';
import { createInformer } from '../../src/kube/informer.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { Ledger } from '../../lab/ledger.ts';
import { eventually, startAgentEnv, type AgentEnv, type AgentProcess } from '../support/agent-env.ts';
import { ensureNamespace, lbService } from '../../lab/consumer-objects.ts';

const ledger = Ledger.open('agent-outage');
let env: AgentEnv;
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** Every state each Service's status has been seen in: "ip|Allocated status". */
const history = new Map<string, string[]>();
let stopWatching: (() => Promise<void>) | undefined;

t.before(async () => {
  env = await startAgentEnv(ledger);
  await ensureNamespace(env.core, 'app');
  const core = env.core;
  const informer = createInformer<k8s.V1Service>({
    kubeConfig: env.consumer.kubeConfig,
    path: '/api/v1/namespaces/app/services',
    list: () => core.listNamespacedService({ namespace: 'app' }),
    logger: createLogger({ program: 'test-watch', level: 'silent' }),
  });
  const record = (s: k8s.V1Service): void => {
    const ip = s.status?.loadBalancer?.ingress?.[0]?.ip ?? '';
    const allocated = s.status?.conditions?.find((c) => c.type === SERVICE_CONDITIONS.Allocated)?.status ?? '';
    const h = history.get(s.metadata!.name!) ?? [];
    const state = `${ip}|${allocated}`;
    if (h.at(-1) !== state) h.push(state);
    history.set(s.metadata!.name!, h);
  };
  informer.on({ onUpsert: record });
  await informer.start();
  stopWatching = () => informer.stop();
});
t.teardown(async () => {
  await stopWatching?.();
  await env?.stop();
});

const claimNames = async (): Promise<string[]> =>
  (await env.claims.list(env.tenantNamespace)).items.map((c: VIPClaim) => c.metadata.name!).sort();
const service = async (name: string): Promise<k8s.V1Service | undefined> => {
  try {
    return await env.core.readNamespacedService({ name, namespace: 'app' });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
};
const ip = async (name: string): Promise<string | undefined> =>
  (await service(name))?.status?.loadBalancer?.ingress?.[0]?.ip;
const create = (name: string, o: Parameters<typeof lbService>[2] = {}): Promise<unknown> =>
  env.core.createNamespacedService({ namespace: 'app', body: lbService('app', name, o) });
/** After the first IP, a Service's status never changes IP and never leaves Allocated=True. */
const steady = (name: string): boolean => {
  const h = (history.get(name) ?? []).filter((s) => s !== '|');
  return h.length === 1 && /^192\.0\.2\.\d+\|True$/.test(h[0]!);
};

async function leaderOf(agents: AgentProcess[]): Promise<AgentProcess> {
  return eventually('one leader', async () => {
    const leading = [];
    for (const a of agents)
      if (a.proc.child.exitCode === null && (await a.metric('kube_lb_agent_leader')) === 1) leading.push(a);
    return leading.length === 1 ? leading[0] : undefined;
  });
}

t.test('two replicas: one leads; when it dies the other takes over', async (t) => {
  const agents = [await env.startAgent({ identity: 'replica-1' }), await env.startAgent({ identity: 'replica-2' })];
  await create('s1');
  await eventually('s1 has an IP', () => ip('s1'));
  const leader = await leaderOf(agents);
  const standby = agents.find((a) => a !== leader)!;
  t.equal(
    await standby.metric('kube_lb_agent_api_requests_total', { cluster: 'lb' }),
    0,
    'the standby never talks to the LB cluster',
  );
  await leader.kill();
  await create('s2');
  await eventually('s2 has an IP from the new leader', () => ip('s2'), 30_000);
  t.equal(await leaderOf([standby]), standby);
  await standby.stop();
});

t.test(
  'agent down while Services are created, deleted, re-typed and orphaned: right within seconds of restart',
  async (t) => {
    await create('s4');
    await create('s5');
    const helper = await env.startAgent({ identity: 'helper' });
    await eventually('s4 and s5 have IPs', async () => (await ip('s4')) && (await ip('s5')));
    await helper.stop();

    // While no agent runs:
    await create('s3'); // created
    await env.core.deleteNamespacedService({ name: 's1', namespace: 'app' }); // deleted (held by the finalizer)
    await env.core.patchNamespacedService(
      {
        name: 's2',
        namespace: 'app',
        body: { spec: { type: 'ClusterIP', loadBalancerClass: null, externalTrafficPolicy: null } },
      },
      mergePatch,
    ); // no longer a LoadBalancer
    await env.core.patchNamespacedService(
      { name: 's4', namespace: 'app', body: { metadata: { finalizers: null } } },
      mergePatch,
    );
    await env.core.deleteNamespacedService({ name: 's4', namespace: 'app' }); // deleted behind the agent's back: its claim is an orphan
    t.equal((await service('s1'))?.metadata?.deletionTimestamp !== undefined, true, 's1 waits for the agent');
    t.same(await claimNames(), ['app.s1', 'app.s2', 'app.s4', 'app.s5']);

    await env.startAgent({ identity: 'restarted', lbCredentials: 'secret' });
    const started = Date.now();
    await eventually(
      'state put right',
      async () => {
        const names = await claimNames();
        return (
          names.join(',') === 'app.s3,app.s5' && (await ip('s3')) !== undefined && (await service('s1')) === undefined
        );
      },
      15_000,
    );
    t.comment(`caught up ${Date.now() - started} ms after the restarted agent was up`);
    const s2 = await eventually('s2 released', async () => {
      const s = await service('s2');
      return s && !s.metadata?.finalizers?.includes(FINALIZER) ? s : undefined;
    });
    t.notOk(s2.status?.loadBalancer?.ingress?.length, 's2: no VIP left in its status');
    t.notOk(
      s2.status?.conditions?.some((c) => c.type.startsWith('kube-lb.io/')),
      's2: no kube-lb conditions left',
    );
    t.ok(steady('s5'), 's5 untouched throughout');
  },
);

t.test('LB API server stopped for 30 s: no status lost or flapped; caught up after', async (t) => {
  await create('a');
  await create('b');
  await eventually('a and b have IPs', async () => (await ip('a')) && (await ip('b')));
  const before = { a: await ip('a'), b: await ip('b'), s3: await ip('s3'), s5: await ip('s5') };

  await env.lb.stopApiserver();
  const outage = Date.now();
  await create('c');
  await env.core.patchNamespacedService(
    {
      name: 'a',
      namespace: 'app',
      body: {
        spec: {
          ports: [
            { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 },
            { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
          ],
        },
      },
    },
    mergePatch,
  );
  await env.core.deleteNamespacedService({ name: 'b', namespace: 'app' });
  await sleep(Math.max(0, 30_000 - (Date.now() - outage)));
  t.same(
    { a: await ip('a'), b: await ip('b'), s3: await ip('s3'), s5: await ip('s5') },
    before,
    'every IP kept through the outage',
  );
  t.equal(await ip('c'), undefined, 'c waits');
  t.ok((await service('b'))?.metadata?.deletionTimestamp, 'b waits for its claim to be released');

  await env.lb.startApiserver();
  const back = Date.now();
  await eventually(
    'caught up',
    async () => {
      const claims = await env.claims.list(env.tenantNamespace);
      const a = claims.items.find((c: VIPClaim) => c.metadata.name === 'app.a');
      return (
        (await ip('c')) !== undefined &&
        (await service('b')) === undefined &&
        !claims.items.some((c: VIPClaim) => c.metadata.name === 'app.b') &&
        a?.spec.ports.length === 2
      );
    },
    30_000,
  );
  t.comment(`caught up ${Date.now() - back} ms after the LB API server was back`);
  for (const name of ['a', 's3', 's5'])
    t.ok(steady(name), `${name}: one IP and Allocated=True throughout (${(history.get(name) ?? []).join(' → ')})`);
});

t.test('LB API server paused (requests hang): no status lost; caught up after', async (t) => {
  const before = await ip('a');
  env.lb.pauseApiserver();
  try {
    await create('d');
    await sleep(8_000);
    t.equal(await ip('a'), before);
  } finally {
    env.lb.resumeApiserver();
  }
  await eventually('d has an IP', () => ip('d'), 30_000);
  t.ok(steady('a'), `a steady (${(history.get('a') ?? []).join(' → ')})`);
});
