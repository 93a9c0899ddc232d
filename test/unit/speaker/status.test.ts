// A claim's status as the reporting speaker computes it from its own plan and its peers' published state.
import t from 'tap';
import type { ConditionInput } from '../../../src/core/conditions.ts';
import { planFrontends } from '../../../src/core/speaker/plan.ts';
import { bucketDigests, bucketOf, publishedState, type PublishedState } from '../../../src/core/speaker/published.ts';
import { applyStatus, statusDiffers, wantedStatus, type StatusInput } from '../../../src/core/speaker/status.ts';
import { claim } from './fixtures.ts';

const c = claim();
const plan = planFrontends([c], () => 'unknown', new Map());
const claimPlan = plan.claims.get('tenant-a/default.web')!;
const expected = new Map([['tenant-a/default.web', 'tenant-a/default.web@1=198.51.100.200']]);
const upToDate = publishedState(expected, []);
const behind = publishedState(new Map(), []);
const announced = {
  announcedBy: 'lb-2',
  condition: {
    type: 'Announced',
    status: 'True',
    reason: 'Announced',
    message: 'node lb-2 answers ARP',
  } as ConditionInput,
};

function input(
  over: Partial<StatusInput> = {},
  peers: Record<string, PublishedState | undefined> = { 'lb-2': upToDate, 'lb-3': upToDate },
): StatusInput {
  return {
    claim: c,
    plan: claimPlan,
    expectedBuckets: bucketDigests(expected),
    self: 'lb-1',
    selfProgrammed: { ok: true },
    selfFailing: new Set(),
    live: ['lb-1', 'lb-2', 'lb-3'],
    peers: new Map(Object.entries(peers).map(([n, state]) => [n, { state }])),
    announced,
    ...over,
  };
}
const cond = (w: ReturnType<typeof wantedStatus>, type: string) => w.conditions.find((x) => x.type === type);

t.test('programmed everywhere and healthy', async (t) => {
  const w = wantedStatus(input());
  t.same(w.programmedNodes, ['lb-1', 'lb-2', 'lb-3']);
  t.same(w.announced, { by: 'lb-2' });
  t.match(cond(w, 'Programmed'), { status: 'True', reason: 'Programmed', observedGeneration: 1 });
  t.match(cond(w, 'BackendsHealthy'), { status: 'True', reason: 'AllHealthy' });
  t.match(cond(w, 'Announced'), { status: 'True', reason: 'Announced' });
  t.same(w.backendHealth, [
    { address: '10.200.0.11', healthy: true },
    { address: '10.200.0.12', healthy: true },
  ]);
});

t.test('a peer that lags behind is not counted; traffic flows if the announcing node holds it', async (t) => {
  const w = wantedStatus(input({}, { 'lb-2': upToDate, 'lb-3': behind }));
  t.same(w.programmedNodes, ['lb-1', 'lb-2']);
  t.match(cond(w, 'Programmed'), { status: 'True', reason: 'PartiallyProgrammed', message: /not yet on lb-3/ });
  const owner = wantedStatus(input({}, { 'lb-2': behind, 'lb-3': undefined }));
  t.match(cond(owner, 'Programmed'), { status: 'False', reason: 'NotProgrammed', message: /lb-2 does not hold it/ });
});

t.test('the dataplane refusing the claim everywhere is Rejected with its reason', async (t) => {
  const w = wantedStatus(
    input({ selfProgrammed: { ok: false, reason: 'not an IPv4 CIDR: "x"' } }, { 'lb-2': behind, 'lb-3': behind }),
  );
  t.match(cond(w, 'Programmed'), { status: 'False', reason: 'Rejected', message: /IPv4 CIDR/ });
});

t.test("LB nodes whose Cilium kube-lb cannot serve: Programmed=False under the refusal's own reason", async (t) => {
  const message = 'Cilium 1.19 (/etc/cilium/config-map) forwards every service with DSR';
  const w = wantedStatus(
    input(
      { selfProgrammed: { ok: false, reason: message, code: 'CiliumDSRMode' } },
      { 'lb-2': behind, 'lb-3': behind },
    ),
  );
  t.match(cond(w, 'Programmed'), { status: 'False', reason: 'CiliumDSRMode', message });
});

t.test('a backend failing from some LB nodes is reported with where it fails', async (t) => {
  const failing = publishedState(expected, ['tcp://10.200.0.12:30080']);
  const w = wantedStatus(
    input({ selfFailing: new Set(['tcp://10.200.0.12:30080']) }, { 'lb-2': upToDate, 'lb-3': failing }),
  );
  t.same(w.backendHealth, [
    { address: '10.200.0.11', healthy: true },
    { address: '10.200.0.12', healthy: false, failingFrom: ['lb-1', 'lb-3'] },
  ]);
  t.match(cond(w, 'BackendsHealthy'), {
    status: 'False',
    reason: 'SomeUnhealthy',
    message: /node-b \(10\.200\.0\.12\) from lb-1, lb-3/,
  });
});

t.test('every backend failing says the last set keeps traffic', async (t) => {
  const w = wantedStatus(input({ selfFailing: new Set(['tcp://10.200.0.11:30080', 'tcp://10.200.0.12:30080']) }));
  t.match(cond(w, 'BackendsHealthy'), { status: 'False', reason: 'AllUnhealthy', message: /last healthy set/ });
});

t.test('UDP-only eTP Cluster services are not checked', async (t) => {
  const udp = claim({ ports: [{ protocol: 'UDP', port: 53, nodePort: 30053 }] });
  const p = planFrontends([udp], () => 'unknown', new Map()).claims.get('tenant-a/default.web')!;
  const w = wantedStatus(input({ claim: udp, plan: p }));
  t.match(cond(w, 'BackendsHealthy'), { status: 'True', reason: 'NotChecked' });
});

t.test('a claim that is not served says why in every condition; no L2 decision leaves announcedBy alone', async (t) => {
  const refused = claim({ allocated: { status: 'False', reason: 'SharingConflict' } });
  const p = planFrontends([refused], () => 'unknown', new Map()).claims.get('tenant-a/default.web')!;
  const w = wantedStatus(input({ claim: refused, plan: p, announced: undefined }));
  t.same(w.programmedNodes, []);
  t.same(w.announced, { by: undefined }, 'nobody announces it');
  t.match(cond(w, 'Programmed'), { status: 'False', reason: 'NotServed', message: /SharingConflict/ });
  t.match(cond(w, 'Announced'), { status: 'False', reason: 'NotServed' });
  t.match(cond(w, 'BackendsHealthy'), { status: 'Unknown', reason: 'NotServed' });
  const served = wantedStatus(input({ announced: undefined }));
  t.equal(served.announced, undefined, 'no L2 decision yet: announcedBy is left alone');
  t.equal(cond(served, 'Announced'), undefined);
});

t.test('applying the wanted status once makes it not differ any more; other status fields stay', async (t) => {
  const w = wantedStatus(input());
  t.ok(statusDiffers(c.status, w));
  const applied = applyStatus(c, w, new Date('2025-02-01T00:00:00Z'));
  t.notOk(statusDiffers(applied.status, w));
  t.equal(applied.status?.vip, '198.51.100.200');
  t.ok(
    applied.status?.conditions?.some((x) => x.type === 'Allocated'),
    'the allocator condition is kept',
  );
  t.equal(applied.status?.announcedBy, 'lb-2');
  const again = applyStatus(applied, w, new Date('2025-03-01T00:00:00Z'));
  t.same(again.status?.conditions, applied.status?.conditions, 'no timestamp churn for an unchanged status');
});

t.test("a peer lagging behind another claim's change keeps its place while settling, not after", async (t) => {
  const programmed = applyStatus(c, wantedStatus(input()), new Date('2025-02-01T00:00:00Z'));
  const bucket = bucketOf('tenant-a/default.web');
  // Another claim of the same bucket that lb-3 programmed while the reporter does not expect it (yet).
  let n = 0;
  while (bucketOf(`tenant-a/other-${n}`) !== bucket) n++;
  const lagging = publishedState(
    new Map([...expected, [`tenant-a/other-${n}`, `tenant-a/other-${n}@1=198.51.100.201`]]),
    [],
  );
  const peers = { 'lb-2': upToDate, 'lb-3': lagging };
  const settling = wantedStatus(input({ claim: programmed, settling: new Map([['lb-3', new Set([bucket])]]) }, peers));
  t.same(settling.programmedNodes, ['lb-1', 'lb-2', 'lb-3'], 'kept while settling');
  t.notOk(statusDiffers(programmed.status, settling), 'so nothing is written');
  const settled = wantedStatus(input({ claim: programmed, settling: new Map() }, peers));
  t.same(settled.programmedNodes, ['lb-1', 'lb-2'], 'a mismatch past the grace period counts');
  const newer = { ...programmed, metadata: { ...programmed.metadata, generation: 2 } };
  const fresh = wantedStatus(
    input({ claim: newer, settling: new Map([['lb-3', new Set([bucket])]]) }, { 'lb-2': behind, 'lb-3': behind }),
  );
  t.same(fresh.programmedNodes, ['lb-1'], 'a status computed for an older generation proves nothing');
});
