import t from 'tap';
import type { Condition, VIPClaim } from '../../../src/api/v1alpha1.ts';
import { decideServiceStatus, releasedServiceStatus, SERVICE_CONDITIONS } from '../../../src/core/agent/status.ts';
import { desiredClaim } from '../../../src/core/agent/desired.ts';
import type { ServiceStatusView } from '../../../src/core/agent/views.ts';
import { allocated, current, identity, node, now, old, service } from './fixtures.ts';
import { approvalOf } from '../../../src/core/allocation/approval.ts';

const base = (() => {
  const d = desiredClaim(service(), [node('n1', '10.0.0.1')], [], identity);
  if (!d.ok) throw new Error(d.message);
  return d.claim;
})();
const cond = (type: string, status: Condition['status'], reason: string, message = ''): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2025-01-01T00:00:00Z',
});
const shown: ServiceStatusView = {
  loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'Proxy' }] },
  conditions: [cond(SERVICE_CONDITIONS.Allocated, 'True', 'Allocated', 'from pool default')],
};

t.test('no verdict, no change: a fresh or unknown claim never clears the IP', async (t) => {
  for (const claim of [
    undefined,
    base,
    { ...base, status: { conditions: [cond('Allocated', 'Unknown', 'Pending')] } },
  ] as Array<VIPClaim | undefined>) {
    const d = decideServiceStatus(shown, claim, undefined, now, current);
    t.same(d.status.loadBalancer?.ingress, shown.loadBalancer?.ingress);
  }
});

t.test('speaker conditions are mirrored; transitions make Events, message-only changes do not', async (t) => {
  const claim = allocated(base, '192.0.2.10', [
    cond('Programmed', 'True', 'Programmed', '3 of 3 LB nodes'),
    cond('Announced', 'True', 'Announced', 'lb-2 answers ARP'),
    cond('BackendsHealthy', 'False', 'BackendDown', '10.0.0.1 failing from lb-1'),
  ]);
  const d = decideServiceStatus(shown, claim, undefined, now, current);
  t.ok(d.changed);
  t.same(
    d.status.conditions?.map((c) => [c.type, c.status, c.reason]),
    [
      [SERVICE_CONDITIONS.Allocated, 'True', 'Allocated'],
      [SERVICE_CONDITIONS.Programmed, 'True', 'Programmed'],
      [SERVICE_CONDITIONS.Announced, 'True', 'Announced'],
      [SERVICE_CONDITIONS.BackendsHealthy, 'False', 'BackendDown'],
    ],
  );
  t.same(
    d.events.map((e) => [e.type, e.reason]),
    [
      ['Normal', 'Programmed'],
      ['Normal', 'Announced'],
      ['Warning', 'BackendDown'],
    ],
  );

  const later = allocated(base, '192.0.2.10', [
    cond('Programmed', 'True', 'Programmed', '2 of 3 LB nodes'),
    cond('Announced', 'True', 'Announced', 'lb-2 answers ARP'),
    cond('BackendsHealthy', 'False', 'BackendDown', '10.0.0.1 failing from lb-1'),
  ]);
  const d2 = decideServiceStatus(d.status, later, undefined, now, current);
  t.ok(d2.changed, 'the message is news for the status');
  t.same(d2.events, [], 'but not for an Event');
});

t.test('re-allocation to another IP says so; odd reasons are made valid', async (t) => {
  const d = decideServiceStatus(shown, allocated(base, '192.0.2.77'), undefined, now, current);
  t.same(d.status.loadBalancer?.ingress, [{ ip: '192.0.2.77', ipMode: 'Proxy' }]);
  t.same(d.events, [{ type: 'Normal', reason: 'VIPChanged', message: 'VIP 192.0.2.10 → 192.0.2.77' }]);
  const odd = decideServiceStatus(
    undefined,
    allocated(base, '192.0.2.10', [cond('Programmed', 'False', 'not a reason!')]),
    undefined,
    now,
    current,
  );
  t.equal(odd.status.conditions?.find((c) => c.type === SERVICE_CONDITIONS.Programmed)?.reason, 'Unspecified');
});

t.test('Dates from typed reads and strings from watches compare equal', async (t) => {
  const typed: ServiceStatusView = {
    loadBalancer: shown.loadBalancer!,
    conditions: [
      { ...shown.conditions![0]!, lastTransitionTime: new Date('2025-01-01T00:00:00Z') as unknown as string },
    ],
  };
  t.notOk(decideServiceStatus(typed, allocated(base, '192.0.2.10'), undefined, now, current).changed);
});

t.test('release keeps what is not ours', async (t) => {
  const current: ServiceStatusView = {
    loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'Proxy' }, { hostname: 'lb.example.com' }] },
    conditions: [...shown.conditions!, cond('example.com/X', 'True', 'Y')],
  };
  const d = releasedServiceStatus(current, '192.0.2.10');
  t.same(d.status, {
    loadBalancer: { ingress: [{ hostname: 'lb.example.com' }] },
    conditions: [cond('example.com/X', 'True', 'Y')],
  });
  t.notOk(releasedServiceStatus(d.status, '192.0.2.10').changed);
});

t.test('a VIP the speakers still serve stays on the Service; a refusal without one clears it', async (t) => {
  const outside: VIPClaim = {
    ...base,
    status: {
      vip: '192.0.2.10',
      approved: approvalOf(base, '192.0.2.10', true),
      conditions: [cond('Allocated', 'False', 'OutsidePool', 'pool shrank')],
    },
  };
  const kept = decideServiceStatus(shown, outside, undefined, now, current);
  t.same(kept.status.loadBalancer?.ingress, [{ ip: '192.0.2.10', ipMode: 'Proxy' }], 'OutsidePool keeps the IP');
  t.equal(
    kept.status.conditions?.find((c) => c.type === SERVICE_CONDITIONS.Allocated)?.reason,
    'OutsidePool',
    'and says why',
  );

  const refused: VIPClaim = {
    ...base,
    status: { conditions: [cond('Allocated', 'False', 'PoolExhausted', 'no free IP')] },
  };
  t.same(
    decideServiceStatus(shown, refused, undefined, now, current).status.loadBalancer?.ingress,
    [],
    'no VIP held: cleared',
  );
});

t.test(
  'a cluster without ipMode: the IP alone, and IPModeProxy=False says what in-cluster clients give up',
  async (t) => {
    const d = decideServiceStatus(undefined, allocated(base, '192.0.2.10'), undefined, now, old);
    t.same(
      d.status.loadBalancer?.ingress,
      [{ ip: '192.0.2.10' }],
      'no ipMode: the apiserver would drop it and the status would never match',
    );
    const c = d.status.conditions?.find((x) => x.type === SERVICE_CONDITIONS.IPModeProxy);
    t.equal(c?.status, 'False');
    t.equal(c?.reason, 'IPModeUnsupported');
    t.match(c?.message, /v1\.24\.17.*192\.0\.2\.10.*strictARP/s, 'names the version, the VIP and the IPVS workaround');
    t.ok(
      d.events.some((e) => e.type === 'Warning' && e.reason === 'IPModeUnsupported'),
      'a Warning Event once',
    );

    const again = decideServiceStatus(d.status, allocated(base, '192.0.2.10'), undefined, now, old);
    t.notOk(again.changed, 'the stored status (no ipMode) matches: no write loop');
    t.same(again.events, []);

    const upgraded = decideServiceStatus(d.status, allocated(base, '192.0.2.10'), undefined, now, current);
    t.ok(upgraded.changed, 'after an upgrade to a line with ipMode');
    t.same(upgraded.status.loadBalancer?.ingress, [{ ip: '192.0.2.10', ipMode: 'Proxy' }]);
    t.notOk(
      upgraded.status.conditions?.some((x) => x.type === SERVICE_CONDITIONS.IPModeProxy),
      'the condition goes',
    );
  },
);

t.test("released on a cluster without ipMode: the claim's VIP is removed, other entries stay", async (t) => {
  const status: ServiceStatusView = {
    loadBalancer: { ingress: [{ ip: '192.0.2.10' }, { ip: '198.51.100.7' }] },
    conditions: [],
  };
  const r = releasedServiceStatus(status, '192.0.2.10');
  t.same(r.status.loadBalancer?.ingress, [{ ip: '198.51.100.7' }]);
});
