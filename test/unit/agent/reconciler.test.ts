// The reconciler's handling of the real world, with in-memory ports: informers that lag behind our own writes,
// an LB cluster that fails or refuses, conflicts on the Service. Counts every request, so "one write per change"
// and "no write on failure" are checked exactly.
import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import type { VIPClaim } from '../../../src/api/v1alpha1.ts';
import type { EventRecorder } from '../../../src/kube/events.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import type { JsonPatchOp } from '../../../src/core/agent/plan.ts';
import { SERVICE_CONDITIONS } from '../../../src/core/agent/status.ts';
import type { ServiceStatusView, ServiceView } from '../../../src/core/agent/views.ts';
import { FreshCache } from '../../../src/agent/fresh-cache.ts';
import type { AgentMetrics } from '../../../src/agent/metrics.ts';
import type { ClaimPort, ServicePort } from '../../../src/agent/ports.ts';
import { ServiceReconciler } from '../../../src/agent/reconciler.ts';
import { current, identity, node, service } from './fixtures.ts';
import type { ConsumerCapabilities } from '../../../src/core/agent/capabilities.ts';
import { approvalOf } from '../../../src/core/allocation/approval.ts';

const apiError = (code: number, message: string): k8s.ApiException<string> =>
  new k8s.ApiException(code, message, JSON.stringify({ message }), {});

class World {
  /** What the informers show (they lag: tests copy `server` into them explicitly). */
  informerServices = new Map<string, ServiceView>();
  informerClaims = new Map<string, VIPClaim>();
  /** What the API servers hold. */
  serverService: ServiceView;
  serverClaims = new Map<string, VIPClaim>();
  requests: string[] = [];
  events: string[] = [];
  failLb: unknown;
  rv = 100;
  /** The consumer apiserver drops ingress ipMode (before 1.30, or its feature gate off). */
  dropsIpMode = false;
  cluster: ConsumerCapabilities = current;
  ipModeDropped = 0;

  constructor(svc: ServiceView) {
    this.serverService = { ...svc, metadata: { ...svc.metadata, resourceVersion: String(this.rv) } };
    this.informerServices.set('shop/web', this.serverService);
  }

  bump<T extends { metadata?: { resourceVersion?: string } }>(o: T): T {
    return { ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv) } };
  }

  servicePort(): ServicePort {
    const check = (svc: ServiceView): void => {
      if (svc.metadata?.resourceVersion !== this.serverService.metadata?.resourceVersion)
        throw apiError(409, 'conflict');
    };
    return {
      get: async () => this.serverService,
      setFinalizers: async (svc, finalizers) => {
        this.requests.push('PATCH service');
        check(svc);
        this.serverService = this.bump({
          ...this.serverService,
          metadata: { ...this.serverService.metadata, finalizers },
        });
        return this.serverService;
      },
      setStatus: async (svc, status: ServiceStatusView) => {
        this.requests.push('PATCH service/status');
        check(svc);
        const ingress = status.loadBalancer?.ingress?.map(({ ipMode, ...rest }) =>
          this.dropsIpMode ? rest : { ...rest, ipMode },
        );
        this.serverService = this.bump({ ...this.serverService, status: { ...status, loadBalancer: { ingress } } });
        return this.serverService;
      },
    };
  }

  claimPort(): ClaimPort {
    const lb = (): void => {
      if (this.failLb) throw this.failLb;
    };
    return {
      get: async (name) => {
        lb();
        const c = this.serverClaims.get(name);
        if (!c) throw apiError(404, 'not found');
        return c;
      },
      create: async (claim) => {
        this.requests.push('POST claim');
        lb();
        if (this.serverClaims.has(claim.metadata.name!)) throw apiError(409, 'already exists');
        const c = this.bump(claim);
        this.serverClaims.set(claim.metadata.name!, c);
        return c;
      },
      patch: async (name, patch: JsonPatchOp[]) => {
        this.requests.push('PATCH claim');
        lb();
        const c = this.serverClaims.get(name);
        if (!c) throw apiError(404, 'not found');
        const next = this.bump({ ...c, spec: patch[0]!.value as VIPClaim['spec'] });
        this.serverClaims.set(name, next);
        return next;
      },
      delete: async (name) => {
        this.requests.push('DELETE claim');
        lb();
        this.serverClaims.delete(name);
      },
    };
  }

  reconciler(): ServiceReconciler {
    const silent = createLogger({ program: 'test', level: 'silent' });
    const noop = (): void => undefined;
    const metrics: AgentMetrics = {
      apiRequest: noop,
      writeDuration: noop,
      reconciled: noop,
      reconcileFailed: noop,
      heartbeat: noop,
      leading: noop,
      eventDropped: noop,
      consumerCapabilities: noop,
    };
    const events: EventRecorder = { record: async (_t, type, reason) => void this.events.push(`${type} ${reason}`) };
    return new ServiceReconciler({
      identity,
      services: new FreshCache<ServiceView>((name, ns) => this.informerServices.get(`${ns}/${name}`)),
      claims: new FreshCache<VIPClaim>((name) => this.informerClaims.get(name)),
      claimNamesFor: () => [...this.informerClaims.keys()],
      nodes: () => [node('n1', '10.0.0.1')],
      slicesFor: () => [],
      servicePort: this.servicePort(),
      claimPort: this.claimPort(),
      events,
      metrics,
      logger: silent,
      rejectionRetryMs: 60_000,
      cluster: () => this.cluster,
      ipModeDropped: () => {
        this.ipModeDropped++;
        this.cluster = { ...this.cluster, ipMode: false };
      },
      clock: () => new Date('2025-06-01T12:00:00Z'),
    });
  }

  /** The allocator grants an IP, and the claim informer catches up. */
  allocate(vip: string): void {
    const c = this.serverClaims.get('shop.web')!;
    const allocated = this.bump({
      ...c,
      status: {
        vip,
        approved: approvalOf(c, vip, true),
        conditions: [
          {
            type: 'Allocated',
            status: 'True' as const,
            reason: 'Allocated',
            message: '',
            lastTransitionTime: '2025-06-01T12:00:00Z',
          },
        ],
      },
    });
    this.serverClaims.set('shop.web', allocated);
    this.informerClaims.set('shop.web', allocated);
  }
}

t.test('informers lagging behind our own writes cause no second write', async (t) => {
  const w = new World(service());
  const r = w.reconciler();
  t.same(await r.handle('shop/web'), { kind: 'done' });
  t.same(w.requests, ['PATCH service', 'POST claim'], 'finalizer first, then the claim');
  // The watch events for both writes trigger more reconciles before either informer has caught up.
  t.same(await r.handle('shop/web'), { kind: 'done' });
  t.same(await r.handle('shop/web'), { kind: 'done' });
  t.same(w.requests, ['PATCH service', 'POST claim'], 'nothing written twice');
  t.same(w.events, ['Normal ClaimCreated']);

  w.allocate('192.0.2.10');
  await r.handle('shop/web');
  t.same(w.requests.slice(2), ['PATCH service/status']);
  t.same(w.serverService.status?.loadBalancer?.ingress, [{ ip: '192.0.2.10', ipMode: 'Proxy' }]);
});

t.test('LB cluster unreachable: retry with backoff, nothing written to the Service', async (t) => {
  const w = new World(service());
  const r = w.reconciler();
  w.failLb = new TypeError('fetch failed');
  const res = await r.handle('shop/web');
  t.equal(res.kind, 'retry');
  t.same(w.requests, ['PATCH service', 'POST claim']);
  t.equal(w.serverService.status, undefined, 'no status written from a failed request');
  w.failLb = undefined;
  t.same(await r.handle('shop/web'), { kind: 'done' });
  t.equal(w.serverClaims.size, 1, 'caught up once it is back');
});

t.test('a claim the LB API refuses is shown on the Service and not resent before the retry time', async (t) => {
  const w = new World(service());
  const r = w.reconciler();
  w.failLb = apiError(422, 'admission webhook "vipclaims.kube-lb.io" denied the request: quota exceeded');
  const res = await r.handle('shop/web');
  t.equal(res.kind, 'requeueAfter');
  const cond = w.serverService.status?.conditions?.find((c) => c.type === SERVICE_CONDITIONS.ClaimSynced);
  t.same([cond?.status, cond?.reason], ['False', 'ClaimRejected']);
  t.match(cond?.message, /quota exceeded/);
  t.same(w.events, ['Warning ClaimRejected']);
  const before = w.requests.length;
  w.informerServices.set('shop/web', w.serverService);
  await r.handle('shop/web');
  t.equal(w.requests.length, before, 'no request at all while the rejection stands');
});

t.test('create finds the claim already there (cache behind): adopt it, no second create', async (t) => {
  const w = new World(service());
  const r = w.reconciler();
  await r.handle('shop/web');
  // A new reconciler (say, after a restart) whose claim informer has not seen the claim yet.
  const r2 = w.reconciler();
  w.informerServices.set('shop/web', w.serverService);
  t.same(await r2.handle('shop/web'), { kind: 'done' });
  t.same(
    w.requests,
    ['PATCH service', 'POST claim', 'POST claim'],
    'one 409, then the claim is read and found up to date',
  );
});

t.test('a conflict on the Service: re-read, plan again, and the claim follows what was read', async (t) => {
  const w = new World(service());
  const r = w.reconciler();
  // Someone else changed the Service since the informer saw it.
  w.serverService = w.bump({ ...w.serverService, metadata: { ...w.serverService.metadata, labels: { team: 'a' } } });
  t.same(await r.handle('shop/web'), { kind: 'done' });
  // The finalizer and the claim of a new Service go out together: the claim was created from the stale copy, and
  // is patched once the Service is read again (a second claim write only when a conflict raced the create).
  t.same(w.requests, ['PATCH service', 'POST claim', 'PATCH service', 'PATCH claim']);
  t.same(w.serverService.metadata?.labels, { team: 'a' }, 'their change kept');
  t.same(w.serverClaims.get('shop.web')?.spec.serviceLabels, { team: 'a' }, 'and seen by the claim');
});

t.test(
  'a cluster that drops ipMode (1.29 with its gate off): learnt from the first status write, then one write to say so',
  async (t) => {
    const w = new World(service());
    w.dropsIpMode = true;
    w.cluster = { version: 'v1.29.15', ipMode: true };
    const r = w.reconciler();
    await r.handle('shop/web');
    w.allocate('192.0.2.10');
    await r.handle('shop/web');
    t.equal(w.ipModeDropped, 1, 'the stored Service came back without ipMode');
    t.same(w.serverService.status?.loadBalancer?.ingress, [{ ip: '192.0.2.10' }]);
    w.informerServices.set('shop/web', w.serverService);
    await r.handle('shop/web');
    const cond = w.serverService.status?.conditions?.find((c) => c.type === SERVICE_CONDITIONS.IPModeProxy);
    t.same([cond?.status, cond?.reason], ['False', 'IPModeUnsupported']);
    t.ok(w.events.includes('Warning IPModeUnsupported'));
    w.informerServices.set('shop/web', w.serverService);
    const writes = w.requests.length;
    await r.handle('shop/web');
    await r.handle('shop/web');
    t.equal(w.requests.length, writes, 'then nothing more: the stored status matches what is wanted');
    t.equal(w.ipModeDropped, 1);
  },
);
