// From the claims this LB node sees and its own health view to the frontends its dataplane must hold: one
// frontend per claim port (VIP:port/protocol → node IP:NodePort of every backend), each backend active or not
// by readiness and health (core/health/selection.ts). Also records, per claim, what was decided and why, for
// status, the CLI and logs. Pure: the health view and the memory of last selections are passed in; the new
// memory is returned.
import type { ClaimBackend, ClaimPort, ProgrammedSpec, VIPClaim } from '../../api/v1alpha1.ts';
import type { DesiredBackend, DesiredFrontend } from '../dataplane/frontend.ts';
import { frontendName } from '../dataplane/frontend.ts';
import { combineHealth, selectBackends, type Selection } from '../health/selection.ts';
import type { HealthState } from '../health/state.ts';
import { targetKey, targetsFor } from '../health/targets.ts';
import type { BackendGuard } from './backend-guard.ts';
import { claimFingerprint, claimKey, serveDecision, type ServeDecision } from './claims.ts';

/** Health of one target by its key (targets.ts); 'unknown' for targets not probed. */
export type HealthView = (targetKey: string) => HealthState;

/** Frontend name → backends selected last time (for the "all failing: keep the last set" rule). */
export type SelectionMemory = ReadonlyMap<string, ReadonlySet<string>>;

export interface PlannedBackend {
  readonly nodeName: string;
  readonly address: string;
  readonly ready: boolean;
  readonly health: HealthState;
  /** Target keys that decide this backend's health for this port. */
  readonly targets: readonly string[];
  readonly selected: boolean;
  /** Why this node does not program it at all (backend-guard.ts); such a backend is neither probed nor selected. */
  readonly refused?: string | undefined;
}

export interface PlannedPort {
  /** The frontend's name, "VIP:port/PROTO". */
  readonly frontend: string;
  readonly port: ClaimPort;
  readonly selection: Selection['reason'];
  readonly backends: readonly PlannedBackend[];
}

export type ClaimPlan =
  | {
      readonly key: string;
      readonly serve: true;
      readonly vip: string;
      readonly fingerprint: string;
      readonly ports: readonly PlannedPort[];
    }
  | {
      readonly key: string;
      readonly serve: false;
      readonly vip: string | undefined;
      readonly reason:
        | Exclude<ServeDecision, { serve: true }>['reason']
        | 'FrontendConflict'
        | 'TenantNotAllowed'
        | 'LimitExceeded'
        | 'VIPNotAllowed';
      readonly message: string;
    };

export interface SpeakerPlan {
  readonly frontends: DesiredFrontend[];
  /** Frontend name → claim key, for mapping dataplane results back to claims. */
  readonly owners: ReadonlyMap<string, string>;
  /** By claim key, sorted. */
  readonly claims: ReadonlyMap<string, ClaimPlan>;
  readonly memory: SelectionMemory;
}

function olderFirst(a: VIPClaim, b: VIPClaim): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = claimKey(a);
  const kb = claimKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function planPort(
  c: VIPClaim,
  spec: ProgrammedSpec,
  vip: string,
  port: ClaimPort,
  health: HealthView,
  memory: SelectionMemory,
  refused: ReadonlyMap<string, string>,
): { planned: PlannedPort; desired: DesiredFrontend; selected: ReadonlySet<string> } {
  const name = frontendName(vip, port.port, port.protocol);
  const listed: readonly ClaimBackend[] = spec.backends ?? [];
  const backends = refused.size === 0 ? listed : listed.filter((b) => !refused.has(b.address));
  const targets = new Map(backends.map((b) => [b.address, targetsFor(spec, b.address, port).map(targetKey)] as const));
  const healthOf = (address: string): HealthState => combineHealth((targets.get(address) ?? []).map(health));
  const selection = selectBackends(
    backends.map((b) => ({ key: b.address, ready: b.ready, health: healthOf(b.address) })),
    memory.get(name),
  );
  const selected = new Set(selection.selected);
  const desiredBackends: DesiredBackend[] = backends.map((b) => ({
    address: b.address,
    port: port.nodePort,
    // Health-failing backends are quarantined and not-ready ones terminating, as Cilium marks them; both keep
    // their slot after `count`, so existing flows drain while new flows go elsewhere.
    state: selected.has(b.address)
      ? 'active'
      : selection.excluded.get(b.address) === 'Unhealthy'
        ? 'quarantined'
        : 'terminating',
  }));
  const desired: DesiredFrontend = {
    vip,
    port: port.port,
    protocol: port.protocol,
    backends: desiredBackends,
    externalTrafficPolicy: spec.externalTrafficPolicy,
    origin: claimKey(c),
    ...(spec.loadBalancerSourceRanges?.length ? { sourceRanges: spec.loadBalancerSourceRanges } : {}),
    ...(spec.sessionAffinity?.type === 'ClientIP'
      ? { sessionAffinity: { timeoutSeconds: spec.sessionAffinity.timeoutSeconds ?? 10800 } }
      : {}),
  };
  const planned: PlannedPort = {
    frontend: name,
    port,
    selection: selection.reason,
    backends: listed.map((b) => {
      const why = refused.get(b.address);
      if (why !== undefined)
        return {
          nodeName: b.nodeName,
          address: b.address,
          ready: b.ready,
          health: 'unknown',
          targets: [],
          selected: false,
          refused: why,
        };
      return {
        nodeName: b.nodeName,
        address: b.address,
        ready: b.ready,
        health: healthOf(b.address),
        targets: targets.get(b.address) ?? [],
        selected: selected.has(b.address),
      };
    }),
  };
  return { planned, desired, selected };
}

const NONE_REFUSED: ReadonlyMap<string, string> = new Map();

/**
 * Plans every claim, from what the allocator approved of it (status.approved), never its current spec. When two
 * served claims ask for the same frontend (the allocator should never allow it),
 * the older claim keeps it and the newer one is not served at all, so no claim is half-programmed. With a guard,
 * a claim of no known tenant or over its tenant's limits is not served (the tenant's older claims count first),
 * and backends its tenant may not use are left out, whatever the claim's status says.
 */
export function planFrontends(
  claims: readonly VIPClaim[],
  health: HealthView,
  memory: SelectionMemory,
  guard?: BackendGuard,
): SpeakerPlan {
  const frontends: DesiredFrontend[] = [];
  const owners = new Map<string, string>();
  const plans = new Map<string, ClaimPlan>();
  const nextMemory = new Map<string, ReadonlySet<string>>();
  const usedByTenant = new Map<string, number>();
  for (const c of [...claims].sort(olderFirst)) {
    const key = claimKey(c);
    const decision = serveDecision(c);
    if (!decision.serve) {
      plans.set(key, { key, serve: false, vip: c.status?.vip, reason: decision.reason, message: decision.message });
      continue;
    }
    const verdict = guard?.check(c);
    if (verdict && !verdict.ok) {
      plans.set(key, { key, serve: false, vip: decision.vip, reason: verdict.reason, message: verdict.message });
      continue;
    }
    const refused = verdict?.refused ?? NONE_REFUSED;
    // The tenant's backend entries, its older claims first (claims are planned oldest first).
    const approved = decision.approved;
    const entries = verdict
      ? approved.ports.length * approved.backends.filter((b) => !refused.has(b.address)).length
      : 0;
    const tenantUsed = verdict ? (usedByTenant.get(verdict.tenant) ?? 0) : 0;
    if (verdict && tenantUsed + entries > verdict.backendEntries) {
      plans.set(key, {
        key,
        serve: false,
        vip: decision.vip,
        reason: 'LimitExceeded',
        message:
          `ConsumerCluster ${verdict.tenant} spec.limits.backendEntries is ${verdict.backendEntries}: its older claims take ` +
          `${tenantUsed}, this one needs ${entries} (ports × backends)`,
      });
      continue;
    }
    const ports = approved.ports.map((p) => planPort(c, approved, decision.vip, p, health, memory, refused));
    const names = ports.map((p) => p.planned.frontend);
    const clash = names.find((n, i) => owners.has(n) || names.indexOf(n) !== i);
    if (clash !== undefined) {
      const holder = owners.get(clash);
      plans.set(key, {
        key,
        serve: false,
        vip: decision.vip,
        reason: 'FrontendConflict',
        message: holder
          ? `frontend ${clash} is already served for claim ${holder}`
          : `frontend ${clash} is listed twice`,
      });
      continue;
    }
    for (const p of ports) {
      frontends.push(p.desired);
      owners.set(p.planned.frontend, key);
      nextMemory.set(p.planned.frontend, p.selected);
    }
    if (verdict) usedByTenant.set(verdict.tenant, tenantUsed + entries);
    plans.set(key, {
      key,
      serve: true,
      vip: decision.vip,
      fingerprint: claimFingerprint(c, approved),
      ports: ports.map((p) => p.planned),
    });
  }
  const sorted = new Map([...plans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { frontends, owners, claims: sorted, memory: nextMemory };
}

/** Every health-check target the served claims need, by key. */
export function plannedTargets(plan: SpeakerPlan): Set<string> {
  const out = new Set<string>();
  for (const c of plan.claims.values()) {
    if (!c.serve) continue;
    for (const p of c.ports) for (const b of p.backends) for (const t of b.targets) out.add(t);
  }
  return out;
}
