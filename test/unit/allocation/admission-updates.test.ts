// The webhook on UPDATEs of claims that already hold a VIP (issue 12): an allocated claim edited to reach what a
// new one could not is refused as a new one would be, naming the field; and whatever gets past a webhook that is
// down (it fails open) is never programmed, because the speakers serve only what the allocator approved
// (status.approved). Pure: the verdicts, and the allocator's decision and status for the same edits.
import t from 'tap';
import type { VIPClaim } from '../../../src/api/v1alpha1.ts';
import { admit, type World } from '../../../src/core/allocation/admission.ts';
import { Allocator } from '../../../src/core/allocation/allocator.ts';
import { claimStatus } from '../../../src/core/allocation/status.ts';
import { toClaimRequest, validate } from '../../../src/core/allocation/validate.ts';
import { serveDecision } from '../../../src/core/speaker/claims.ts';
import { claim, pool, tenant, type ClaimOptions } from '../../support/allocation-fixtures.ts';
import { NO_BGP } from '../../support/bgp-fixtures.ts';

const pools = [pool('a', ['192.0.2.0/26']), pool('b', ['198.51.100.0/28'])];
const tenants = [
  tenant('t1', 't1', ['10.10.0.0/16'], { limits: { portsPerClaim: 2, backendsPerClaim: 2 } }),
  tenant('t2', 't2', ['10.20.0.0/16']),
];
const allocated = claim('t1', 'web', { vip: '192.0.2.1', statusPool: 'a' });
const held = claim('t2', 'db', {
  vip: '192.0.2.2',
  statusPool: 'a',
  backends: [{ nodeName: 'n', address: '10.20.0.9', ready: true }],
});
const world: World = { pools, tenants, claims: [allocated, held], ...NO_BGP };

/** The allocated claim as its tenant edits it: same object, next generation, status as the allocator left it. */
function edited(opts: ClaimOptions): VIPClaim {
  const next = claim('t1', 'web', opts);
  return { ...next, metadata: { ...next.metadata, generation: 2 }, status: allocated.status };
}

const tcp = (port: number) => ({ protocol: 'TCP' as const, port, nodePort: 30000 + port });
const rows: Array<[string, VIPClaim, string]> = [
  [
    "backends moved onto another tenant's nodes",
    edited({ backends: [{ nodeName: 'x', address: '10.20.0.9', ready: true }] }),
    'denied: VIPClaim t1/web spec.backends[0].address: 10.20.0.9 is outside ConsumerCluster t1 spec.allowedBackendCIDRs',
  ],
  [
    'a backend moved to loopback',
    edited({ backends: [{ nodeName: 'x', address: '127.0.0.1', ready: true }] }),
    'denied: VIPClaim t1/web spec.backends[0].address',
  ],
  [
    'a backend moved into a VIP pool',
    edited({ backends: [{ nodeName: 'x', address: '192.0.2.9', ready: true }] }),
    'denied: VIPClaim t1/web spec.backends[0].address',
  ],
  [
    "ports grown beyond the tenant's limit",
    edited({ ports: [tcp(80), tcp(81), tcp(82)] }),
    'denied: VIPClaim t1/web spec.ports',
  ],
  [
    "backends grown beyond the tenant's limit",
    edited({ backends: [1, 2, 3].map((i) => ({ nodeName: `n${i}`, address: `10.10.0.${i}`, ready: true })) }),
    'denied: VIPClaim t1/web spec.backends',
  ],
  [
    'a requested IP changed to outside every pool',
    edited({ requestedIPs: ['8.8.8.8'] }),
    'denied: VIPClaim t1/web spec.requestedIPs[0]: 8.8.8.8 is not in any VIPPool this claim may use',
  ],
  ["a requested IP changed to another tenant's VIP", edited({ requestedIPs: ['192.0.2.2'] }), 'allowed'],
  ['a requested IP changed to a free one', edited({ requestedIPs: ['192.0.2.20'] }), 'allowed'],
  [
    'an ordinary edit: a backend added in its range',
    edited({
      backends: [
        { nodeName: 'n1', address: '10.10.0.5', ready: true },
        { nodeName: 'n2', address: '10.10.0.6', ready: true },
      ],
    }),
    'allowed',
  ],
];

t.test('the webhook judges an edit of an allocated claim as it judges a new one', async (t) => {
  for (const [what, object, want] of rows) {
    const v = admit({ operation: 'UPDATE', kind: 'VIPClaim', object, oldObject: allocated }, world);
    const got = v.allowed ? 'allowed' : `denied: ${v.message}`;
    // A refusal names the field; rows give the start of its message.
    t.equal(got.slice(0, want.length), want, `${what}: ${got}`);
  }
});

t.test(
  'past a webhook that failed open: the edit is not served before the allocator decides, nor after it refuses',
  async (t) => {
    const a = new Allocator();
    a.setModel(validate({ pools, tenants }));
    for (const c of [allocated, held]) a.adopt(toClaimRequest(c));
    for (const [what, object, want] of rows) {
      // Before the allocator has seen the edit, the speakers program the approval of generation 1.
      const before = serveDecision({
        ...object,
        status: { ...object.status, conditions: [cond('True', 'Allocated')] },
      });
      t.ok(
        before.serve && before.approved.generation === 1 && before.approved.backends?.[0]?.address === '10.10.0.5',
        `${what}: the last approved copy is served meanwhile`,
      );
      const decision = a.assign(toClaimRequest(object));
      const status = claimStatus(object, decision, new Date('2026-01-01T00:00:00Z')).status;
      const after = serveDecision({ ...object, status });
      if (want === 'allowed') {
        t.ok(after.serve && after.approved.generation === 2, `${what}: approved once the allocator accepts it`);
        if (after.serve) t.same(after.approved.backends, object.spec.backends);
        t.not(
          after.serve && after.vip,
          '192.0.2.2',
          `${what}: never on the other tenant's VIP (a requested IP held by another is refused, the claim keeps its own)`,
        );
      } else if (after.serve) {
        // Refused by the allocator yet still served: only a change the claim asked for failed, and its VIP and the
        // spec it approved are its own; nothing of a refused spec is ever approved.
        t.ok(decision.kind === 'held' && decision.vip === '192.0.2.1', `${what}: keeps its VIP`);
        t.notMatch(JSON.stringify(after.approved), /8\.8\.8\.8/);
      } else {
        t.same(
          status.approved?.backends ?? [],
          [],
          `${what}: refused, nothing approved to program (${decision.reason})`,
        );
      }
      // Every row starts again from the allocated claim.
      a.assign(toClaimRequest(allocated));
    }
    t.equal(a.holding('t2/db')?.vip, '192.0.2.2', "the other tenant's VIP never moved");
  },
);

function cond(status: 'True' | 'False', reason: string) {
  return { type: 'Allocated', status, reason, message: '', lastTransitionTime: '2026-01-01T00:00:00Z' };
}
