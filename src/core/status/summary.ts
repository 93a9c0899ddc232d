// What `kube-lb status` shows, computed from a snapshot of the LB cluster: one row per claim (tenant, Service,
// VIP, pool, the node answering ARP, how many LB nodes have it programmed, backend health, and the first thing
// that is not right), then tenants and pools. Pure: the CLI lists the objects and prints.
import { CLAIM_CONDITIONS, type ConsumerCluster, type VIPClaim, type VIPPool } from '../../api/v1alpha1.ts';

export interface StatusSnapshot {
  claims: readonly VIPClaim[];
  tenants: readonly ConsumerCluster[];
  pools: readonly VIPPool[];
  /** LB nodes with a live speaker (their membership Leases), for "programmed on N of M". */
  lbNodes: number | undefined;
  now: Date;
}

export interface ClaimRow {
  tenant: string;
  service: string;
  ports: string;
  vip: string;
  pool: string;
  owner: string;
  programmed: string;
  health: string;
  /** "Ready", or the first condition that is not True: "Allocated=False PoolExhausted". */
  state: string;
  message: string;
}

export interface TenantRow {
  name: string;
  namespace: string;
  claims: number;
  vips: string;
  heartbeat: string;
}

export interface PoolRow {
  name: string;
  addresses: string;
  used: string;
}

export interface StatusSummary {
  claims: ClaimRow[];
  tenants: TenantRow[];
  pools: PoolRow[];
}

const ORDER = [
  CLAIM_CONDITIONS.Allocated,
  CLAIM_CONDITIONS.Programmed,
  CLAIM_CONDITIONS.Announced,
  CLAIM_CONDITIONS.BackendsHealthy,
];

export function claimState(c: VIPClaim): { state: string; message: string } {
  const conditions = c.status?.conditions ?? [];
  for (const type of ORDER) {
    const cond = conditions.find((x) => x.type === type);
    if (!cond) return { state: `${type}=Unknown`, message: 'not reported yet' };
    if (cond.status !== 'True') return { state: `${type}=${cond.status} ${cond.reason}`, message: cond.message };
  }
  return { state: 'Ready', message: '' };
}

/** "2m5s"-style age; "-" for none. */
export function age(from: string | undefined, now: Date): string {
  if (!from) return '-';
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(from)) / 1000));
  if (Number.isNaN(s)) return '-';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function summarize(snap: StatusSnapshot): StatusSummary {
  const claims = [...snap.claims]
    .map((c): ClaimRow => {
      const st = c.status ?? {};
      const health = st.backendHealth ?? [];
      const { state, message } = claimState(c);
      const programmed = st.programmedNodes?.length ?? 0;
      return {
        tenant: c.spec.service.cluster,
        service: `${c.spec.service.namespace}/${c.spec.service.name}`,
        ports: c.spec.ports.map((p) => `${p.port}/${p.protocol}`).join(','),
        vip: st.vip ?? '-',
        pool: st.pool ?? '-',
        owner: st.announcedBy ?? '-',
        programmed: snap.lbNodes === undefined ? String(programmed) : `${programmed}/${snap.lbNodes}`,
        health:
          health.length === 0
            ? `-/${c.spec.backends.length}`
            : `${health.filter((h) => h.healthy).length}/${health.length}`,
        state,
        message,
      };
    })
    .sort((a, b) => a.tenant.localeCompare(b.tenant) || a.service.localeCompare(b.service));
  const tenants = [...snap.tenants]
    .map(
      (t): TenantRow => ({
        name: t.metadata.name ?? '',
        namespace: t.spec.tenantNamespace,
        claims: snap.claims.filter((c) => c.metadata.namespace === t.spec.tenantNamespace).length,
        vips: `${t.status?.vips ?? 0}/${t.spec.maxVIPs ?? '∞'}`,
        heartbeat: age(t.status?.lastHeartbeatTime, snap.now),
      }),
    )
    .sort((a, b) => a.name.localeCompare(b.name));
  const pools = [...snap.pools]
    .map(
      (p): PoolRow => ({
        name: p.metadata.name ?? '',
        addresses: p.spec.addresses.join(','),
        used: `${p.status?.allocated ?? 0}/${p.status?.capacity ?? '?'}`,
      }),
    )
    .sort((a, b) => a.name.localeCompare(b.name));
  return { claims, tenants, pools };
}

/** One of status's tables: headers, rows, and what to say when there are none. */
export interface SummaryTable {
  headers: string[];
  rows: string[][];
  empty?: string;
}

/** Claims (wide adds pool, ports and the message), then tenants, then pools; the CLI's printer lays them out. */
export function summaryTables(s: StatusSummary, wide: boolean): SummaryTable[] {
  return [
    {
      headers: [
        'TENANT',
        'SERVICE',
        'VIP',
        'OWNER',
        'PROGRAMMED',
        'HEALTHY',
        'STATE',
        ...(wide ? ['POOL', 'PORTS', 'MESSAGE'] : []),
      ],
      rows: s.claims.map((r) => [
        r.tenant,
        r.service,
        r.vip,
        r.owner,
        r.programmed,
        r.health,
        r.state,
        ...(wide ? [r.pool, r.ports, r.message] : []),
      ]),
      empty: 'No claims.',
    },
    {
      headers: ['TENANT', 'NAMESPACE', 'CLAIMS', 'VIPS/QUOTA', 'HEARTBEAT'],
      rows: s.tenants.map((r) => [r.name, r.namespace, String(r.claims), r.vips, r.heartbeat]),
      empty: 'No tenants.',
    },
    {
      headers: ['POOL', 'USED', 'ADDRESSES'],
      rows: s.pools.map((r) => [r.name, r.used, r.addresses]),
      empty: 'No pools.',
    },
  ];
}
