// Probes every health-check target the served claims need, from this LB node, each on its own period, and keeps
// its state with the pure state machine (core/health/state.ts). Targets shared by many claims are probed once.
// Listeners hear about state transitions only; the speaker then re-plans which backends get new flows.
import type { Counter, Gauge, Registry } from 'prom-client';
import {
  observe,
  UNPROBED,
  type HealthState,
  type HealthThresholds,
  type ProbeResult,
  type TargetHealth,
} from '../../core/health/state.ts';
import { parseTargetKey, type HealthTarget } from '../../core/health/targets.ts';
import type { Logger } from '../../shared/logger.ts';
import { metricsOn } from '../../shared/metrics.ts';
import { probe as realProbe } from './probe.ts';

export interface HealthCheckerOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly thresholds: HealthThresholds;
  readonly logger: Logger;
  readonly registry?: Registry | undefined;
  /** Monotonic clock (ms). */
  readonly now: () => number;
  /** Replaceable for tests. */
  readonly probe?: (target: HealthTarget, timeoutMs: number) => Promise<ProbeResult>;
}

export interface TargetReport extends TargetHealth {
  readonly key: string;
}

interface Entry {
  readonly target: HealthTarget;
  health: TargetHealth;
  timer: NodeJS.Timeout | undefined;
  inflight: boolean;
  removed: boolean;
}

interface Metrics {
  probes: Counter<'result'>;
  targets: Gauge<'state'>;
}

function createMetrics(registry: Registry): Metrics {
  const m = metricsOn(registry);
  return {
    probes: m.counter(
      'kube_lb_health_probes_total',
      'Backend health probes from this LB node, by result (ok or the failure code).',
      ['result'],
    ),
    targets: m.gauge('kube_lb_health_targets', 'Backend health-check targets by state (unknown, healthy, unhealthy).', [
      'state',
    ]),
  };
}

export type TransitionListener = (key: string, from: HealthState, to: HealthState, health: TargetHealth) => void;

export class HealthChecker {
  readonly #opts: HealthCheckerOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners: TransitionListener[] = [];
  readonly #metrics: Metrics | undefined;
  #running = false;

  constructor(opts: HealthCheckerOptions) {
    this.#opts = opts;
    this.#metrics = opts.registry ? createMetrics(opts.registry) : undefined;
  }

  onTransition(fn: TransitionListener): void {
    this.#listeners.push(fn);
  }

  /** Replaces the set of targets (keys from core/health/targets.ts); new ones are probed at once. */
  setTargets(keys: Iterable<string>): void {
    const wanted = new Set(keys);
    for (const [key, e] of this.#entries) {
      if (wanted.has(key)) continue;
      e.removed = true;
      if (e.timer) clearTimeout(e.timer);
      this.#entries.delete(key);
    }
    for (const key of wanted) {
      if (this.#entries.has(key)) continue;
      const target = parseTargetKey(key);
      if (!target) {
        this.#opts.logger.warn({ target: key }, 'ignoring a health-check target that does not parse');
        continue;
      }
      const e: Entry = { target, health: UNPROBED, timer: undefined, inflight: false, removed: false };
      this.#entries.set(key, e);
      if (this.#running) this.#schedule(key, e, 0);
    }
    this.#updateGauge();
  }

  state(key: string): HealthState {
    return this.#entries.get(key)?.health.state ?? 'unknown';
  }

  /** Keys of targets currently out of service, sorted. */
  failing(): string[] {
    return [...this.#entries]
      .filter(([, e]) => e.health.state === 'unhealthy')
      .map(([k]) => k)
      .sort();
  }

  report(): TargetReport[] {
    return [...this.#entries].map(([key, e]) => ({ key, ...e.health })).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const [key, e] of this.#entries) this.#schedule(key, e, 0);
  }

  stop(): void {
    this.#running = false;
    for (const e of this.#entries.values()) if (e.timer) clearTimeout(e.timer);
  }

  #schedule(key: string, e: Entry, delayMs: number): void {
    if (!this.#running || e.removed) return;
    if (e.timer) clearTimeout(e.timer);
    e.timer = setTimeout(() => void this.#run(key, e), delayMs);
  }

  async #run(key: string, e: Entry): Promise<void> {
    e.timer = undefined;
    if (e.inflight || e.removed || !this.#running) return;
    e.inflight = true;
    const started = this.#opts.now();
    const probe = this.#opts.probe ?? realProbe;
    let result: ProbeResult;
    try {
      result = await probe(e.target, this.#opts.timeoutMs);
    } catch (err) {
      result = { ok: false, failure: 'Error', detail: err instanceof Error ? err.message : String(err) };
    }
    e.inflight = false;
    if (e.removed) return;
    this.#metrics?.probes.inc({ result: result.ok ? 'ok' : result.failure });
    const o = observe(e.health, result, this.#opts.thresholds, this.#opts.now());
    e.health = o.next;
    if (o.transition) {
      const log =
        o.transition.to === 'unhealthy'
          ? this.#opts.logger.warn.bind(this.#opts.logger)
          : this.#opts.logger.info.bind(this.#opts.logger);
      log(
        {
          target: key,
          from: o.transition.from,
          to: o.transition.to,
          failure: o.next.lastFailure?.failure,
          detail: result.ok ? undefined : result.detail,
        },
        'backend health changed',
      );
      this.#updateGauge();
      for (const fn of this.#listeners) fn(key, o.transition.from, o.transition.to, o.next);
    }
    // Periods are measured from start to start, so a slow probe does not stretch the detection window.
    this.#schedule(key, e, Math.max(0, this.#opts.intervalMs - (this.#opts.now() - started)));
  }

  #updateGauge(): void {
    if (!this.#metrics) return;
    const counts: Record<HealthState, number> = { unknown: 0, healthy: 0, unhealthy: 0 };
    for (const e of this.#entries.values()) counts[e.health.state]++;
    for (const [state, n] of Object.entries(counts)) this.#metrics.targets.set({ state }, n);
  }
}
