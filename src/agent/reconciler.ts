// Runs the pure plan for one Service key against the two API servers, in the plan's order, stopping at the first
// failure. What failures mean:
// - transient (network, timeout, 5xx, 429): retry with backoff; nothing else is written, so the Service keeps
//   its last status while the LB cluster is away;
// - conflict or "already exists": our cache was behind; re-read the object and plan again at once;
// - anything else from the LB API (schema, admission webhook, RBAC, missing namespace): a rejection of this exact
//   claim, shown on the Service (condition + Warning Event) and retried after `rejectionRetryMs`.
import type { VIPClaim } from '../api/v1alpha1.ts';
import { apiMessage, isConflict, isNotFound, isTransientApiError } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { done, requeueAfter, retry, type HandlerResult } from '../kube/workqueue.ts';
import type { Logger } from '../shared/logger.ts';
import { FINALIZER, claimName } from '../core/agent/naming.ts';
import { ipModeDropped, type ConsumerCapabilities } from '../core/agent/capabilities.ts';
import { planService, type AgentIdentity, type ServicePlan } from '../core/agent/plan.ts';
import { parseServiceKey, type EndpointSliceView, type NodeView, type ServiceView } from '../core/agent/views.ts';
import type { FreshCache } from './fresh-cache.ts';
import type { AgentMetrics } from './metrics.ts';
import type { ClaimPort, ServicePort } from './ports.ts';

export interface ReconcilerDeps {
  identity: AgentIdentity;
  services: FreshCache<ServiceView>;
  claims: FreshCache<VIPClaim>;
  /** Names of cached claims whose spec.service is this key. */
  claimNamesFor(key: string): Iterable<string>;
  nodes(): readonly NodeView[];
  slicesFor(key: string): readonly EndpointSliceView[];
  servicePort: ServicePort;
  claimPort: ClaimPort;
  events: EventRecorder;
  metrics: AgentMetrics;
  logger: Logger;
  rejectionRetryMs: number;
  /** What the consumer cluster's Kubernetes keeps (the controller discovers it). */
  cluster(): ConsumerCapabilities;
  /** A status write came back without the ipMode it sent: this cluster drops the field. */
  ipModeDropped(): void;
  clock?: () => Date;
}

interface Rejection {
  digest: string;
  message: string;
  until: number;
}

/** A step's outcome: go on, stop with a queue result, or plan again now with fresher caches. */
type Step = { next: true } | { next: false; result: HandlerResult } | { next: false; replan: true };
const ok: Step = { next: true };
const stop = (result: HandlerResult): Step => ({ next: false, result });
const replan: Step = { next: false, replan: true };

const MAX_PASSES = 4;

export class ServiceReconciler {
  readonly #deps: ReconcilerDeps;
  readonly #rejections = new Map<string, Rejection>();

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  /** The work-queue handler. */
  readonly handle = async (key: string): Promise<HandlerResult> => {
    for (let pass = 1; ; pass++) {
      const step = await this.#pass(key);
      if (!('replan' in step)) return step.next ? done : step.result;
      if (pass >= MAX_PASSES) return retry('caches keep lagging behind our writes');
    }
  };

  async #pass(key: string): Promise<Step> {
    const { namespace, name } = parseServiceKey(key);
    const d = this.#deps;
    const now = this.#now();
    const service = d.services.get(name, namespace);
    // The index follows the informer; the claim we may have just written is found by its name.
    const claims = [...new Set([claimName(namespace, name), ...d.claimNamesFor(key)])]
      .map((n) => d.claims.get(n, d.identity.tenantNamespace))
      .filter(
        (c): c is VIPClaim =>
          c !== undefined && c.spec?.service?.namespace === namespace && c.spec.service.name === name,
      );
    let rejection = this.#rejections.get(key);
    if (rejection && rejection.until <= now.getTime()) {
      this.#rejections.delete(key);
      rejection = undefined;
    }
    const plan = planService({
      namespace,
      name,
      service,
      claims,
      nodes: d.nodes(),
      slices: d.slicesFor(key),
      identity: d.identity,
      rejection,
      cluster: d.cluster(),
      now,
    });
    d.metrics.reconciled(plan.reason);
    const log = d.logger.child({ service: key, reason: plan.reason });
    if (plan.reason !== 'InSync' && plan.reason !== 'Nothing' && plan.reason !== 'NotOurs') log.debug({ plan }, 'plan');

    const step = await this.#execute(key, plan, service, log);
    if (!step.next) return step;
    if (!service || plan.reason === 'Deleting' || plan.reason === 'Released') this.#rejections.delete(key);
    if (rejection && plan.reason === 'Rejected') {
      return stop(requeueAfter(Math.max(1, rejection.until - now.getTime())));
    }
    return ok;
  }

  async #execute(key: string, plan: ServicePlan, service: ServiceView | undefined, log: Logger): Promise<Step> {
    const d = this.#deps;
    let svc = service;
    const addFinalizer = (s: ServiceView) =>
      this.#serviceWrite(s, (x) => d.servicePort.setFinalizers(x, [...(x.metadata?.finalizers ?? []), FINALIZER]));
    if (svc && plan.addFinalizer && plan.write.op === 'create' && plan.deleteClaims.length === 0) {
      // A new Service: the finalizer (consumer API) and the claim (LB API) go out together, one round trip instead
      // of two. A claim whose Service vanished before its finalizer landed is still found: the delete event, or the
      // sweep at start, plans ServiceGone for it.
      const [finalizer, claim] = await Promise.all([addFinalizer(svc), this.#writeClaim(key, plan.write, log)]);
      if (!finalizer.svc) return finalizer.step;
      if (!claim.next) return claim;
      return this.#finish(plan, finalizer.svc, log);
    }
    if (svc && plan.addFinalizer) {
      const step = await addFinalizer(svc);
      if (!step.svc) return step.step;
      svc = step.svc;
    }
    for (const claimName of plan.deleteClaims) {
      const step = await this.#claimWrite(key, 'delete', claimName, undefined, async () => {
        try {
          await d.claimPort.delete(claimName);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        d.claims.gone(claimName, d.identity.tenantNamespace);
        log.info({ claim: claimName }, 'claim deleted');
      });
      if (!step.next) return step;
    }
    const step = await this.#writeClaim(key, plan.write, log);
    if (!step.next) return step;
    return this.#finish(plan, svc, log);
  }

  /** The plan's claim create or patch, if any. */
  async #writeClaim(key: string, write: ServicePlan['write'], log: Logger): Promise<Step> {
    if (write.op === 'none') return ok;
    const d = this.#deps;
    const name = write.op === 'create' ? write.claim.metadata.name! : write.name;
    return this.#claimWrite(key, write.op, name, write.digest, async () => {
      const written =
        write.op === 'create'
          ? await d.claimPort.create(write.claim)
          : await d.claimPort.patch(write.name, write.patch);
      d.claims.wrote(written);
      this.#rejections.delete(key);
      log.info(
        { claim: name, ...(write.op === 'patch' ? { changed: write.changed } : {}) },
        `claim ${write.op === 'create' ? 'created' : 'updated'}`,
      );
    });
  }

  /** After the claim writes: the Service's status, its Events, and the finalizer's removal. */
  async #finish(plan: ServicePlan, service: ServiceView | undefined, log: Logger): Promise<Step> {
    const d = this.#deps;
    let svc = service;
    if (svc && plan.status) {
      const status = plan.status;
      const step = await this.#serviceWrite(svc, (s) => d.servicePort.setStatus(s, status));
      if (!step.svc) return step.step;
      svc = step.svc;
      if (ipModeDropped(status.loadBalancer?.ingress, svc.status?.loadBalancer?.ingress)) d.ipModeDropped();
      log.info(
        {
          ip: status.loadBalancer?.ingress?.map((i) => i.ip).join(',') || undefined,
          conditions: status.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`),
        },
        'service status updated',
      );
    }
    if (svc) {
      const target = {
        apiVersion: 'v1',
        kind: 'Service',
        name: svc.metadata?.name ?? '',
        namespace: svc.metadata?.namespace,
        uid: svc.metadata?.uid,
      };
      for (const e of plan.events) void d.events.record(target, e.type, e.reason, e.message);
    }
    if (svc && plan.removeFinalizer) {
      const step = await this.#serviceWrite(svc, (s) =>
        d.servicePort.setFinalizers(
          s,
          (s.metadata?.finalizers ?? []).filter((f) => f !== FINALIZER),
        ),
      );
      if (!step.svc) return step.step;
    }
    return ok;
  }

  /** A write to the consumer Service; on conflict, re-read it and plan again. */
  async #serviceWrite(
    svc: ServiceView,
    write: (svc: ServiceView) => Promise<ServiceView>,
  ): Promise<{ svc: ServiceView; step?: never } | { svc?: undefined; step: Step }> {
    const d = this.#deps;
    const started = performance.now();
    try {
      const next = await write(svc).finally(() =>
        d.metrics.writeDuration('consumer', 'service', (performance.now() - started) / 1000),
      );
      d.services.wrote(next);
      return { svc: next };
    } catch (err) {
      const ns = svc.metadata?.namespace ?? '';
      const name = svc.metadata?.name ?? '';
      if (isNotFound(err)) return { step: stop(done) };
      if (isConflict(err)) {
        d.metrics.reconcileFailed('conflict');
        try {
          d.services.wrote(await d.servicePort.get(ns, name));
        } catch (e) {
          if (isNotFound(e)) return { step: stop(done) };
          return { step: this.#transient(`re-read Service ${ns}/${name}`, e) };
        }
        return { step: replan };
      }
      return { step: this.#transient(`write Service ${ns}/${name}`, err) };
    }
  }

  /** A write to the LB cluster; `digest` identifies a create or patch, so a rejection can be remembered. */
  async #claimWrite(
    key: string,
    op: 'create' | 'patch' | 'delete',
    name: string,
    digest: string | undefined,
    write: () => Promise<void>,
  ): Promise<Step> {
    const d = this.#deps;
    const started = performance.now();
    try {
      await write().finally(() => d.metrics.writeDuration('lb', `claim-${op}`, (performance.now() - started) / 1000));
      return ok;
    } catch (err) {
      if ((op === 'create' && isConflict(err)) || (op === 'patch' && isNotFound(err))) {
        // Create: it exists already (our cache is behind). Patch: it vanished under us.
        d.metrics.reconcileFailed('conflict');
        try {
          const fresh = await d.claimPort.get(name);
          if (fresh.metadata.deletionTimestamp) return stop(retry(`claim ${name} is being deleted`));
          d.claims.wrote(fresh);
        } catch (e) {
          if (isNotFound(e)) d.claims.gone(name, d.identity.tenantNamespace);
          else return this.#transient(`re-read claim ${name}`, e);
        }
        return replan;
      }
      if (isTransientApiError(err) || !digest) return this.#transient(`${op} claim ${name}`, err);
      // Rejected by the LB API: remember it so the plan shows it, and try again later.
      d.metrics.reconcileFailed('rejected');
      const message = apiMessage(err);
      d.logger.warn({ service: key, claim: name, op, message }, 'claim rejected by the LB cluster');
      this.#rejections.set(key, { digest, message, until: this.#now().getTime() + d.rejectionRetryMs });
      return replan;
    }
  }

  #now(): Date {
    return this.#deps.clock ? this.#deps.clock() : new Date();
  }

  #transient(action: string, err: unknown): Step {
    this.#deps.metrics.reconcileFailed('transient');
    const message = apiMessage(err);
    this.#deps.logger.warn({ action, message }, 'API request failed; will retry');
    return stop(retry(`${action}: ${message}`));
  }
}
