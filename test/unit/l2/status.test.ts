// The Announced status writer as a story with a fake claims API and a hand-driven clock: a status is written once
// it has held for the settle period, a flap restarts the period and costs nothing, and only the reporter writes.
import t from 'tap';
import { setImmediate as tick } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { AnnouncedStatusWriter } from '../../../src/speaker/l2/status.ts';
import { StaticInputs, type L2Inputs } from '../../../src/speaker/l2/inputs.ts';
import { decideOwnership, type AnnouncementRule, type Member } from '../../../src/core/l2/ownership.ts';
import { rendezvousOwner } from '../../../src/core/l2/rendezvous.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import type { VIPClaim } from '../../../src/api/v1alpha1.ts';

const vip = '192.0.2.10';
const entry = { vip, pool: 'p', poolLabels: {}, claims: [{ namespace: 'a', name: 'web' }] };
const rules: AnnouncementRule[] = [{ name: 'all', interfaces: [] }];
const member = (name: string): Member => ({ name, labels: {}, interfaces: ['eth0'], defaultInterface: 'eth0' });

function setup(self: string) {
  let claim: VIPClaim = {
    metadata: { namespace: 'a', name: 'web', resourceVersion: '1' },
    spec: {
      service: { cluster: 'c', namespace: 'd', name: 'web', uid: 'u' },
      ports: [],
      backends: [],
      externalTrafficPolicy: 'Cluster',
    },
    status: { vip, pool: 'p' },
  };
  const written: VIPClaim[] = [];
  const inputs: L2Inputs = Object.assign(new StaticInputs([], []), { claim: () => claim });
  let now = 0;
  const writer = new AnnouncedStatusWriter({
    kubeConfig: new k8s.KubeConfig(),
    inputs,
    self,
    logger: createLogger({ program: 'test', level: 'silent' }),
    settleMs: 2000,
    now: () => now,
    client: {
      replaceStatus: async (c) => {
        written.push(c);
        claim = c;
        return c;
      },
      updateStatus: async () => {
        throw new Error('not expected: the cached copy is current');
      },
    },
  });
  const report = async (at: number, live: string[]) => {
    now = at;
    writer.report([{ entry, decision: decideOwnership(self, entry, rules, live.map(member)) }], live);
    await tick();
    await tick();
  };
  return { writer, written, report };
}

t.test('the owner writes once the status held for the settle period; flaps restart it and cost nothing', async (t) => {
  const all = ['lb-1', 'lb-2', 'lb-3'];
  const owner = rendezvousOwner(vip, all)!;
  const { writer, written, report } = setup(owner);
  t.teardown(() => writer.stop());
  await report(0, all);
  t.equal(written.length, 0, 'not yet settled');
  const other = all.find((n) => n !== owner)!;
  await report(1000, [other]); // a flap: this node dropped out for a moment (another node would report)
  await report(1500, all);
  await report(3000, all);
  t.equal(written.length, 0, 'the flap restarted the settle period');
  await report(3600, all);
  t.equal(written.length, 1, 'written after 2 s of the same status');
  t.equal(written[0]!.status?.announcedBy, owner);
  t.equal(written[0]!.status?.conditions?.[0]?.reason, 'Announced');
  await report(10_000, all);
  t.equal(written.length, 1, 'nothing more to write');
});

t.test('a node that is not the reporter writes nothing', async (t) => {
  const all = ['lb-1', 'lb-2', 'lb-3'];
  const bystander = all.find((n) => n !== rendezvousOwner(vip, all))!;
  const { writer, written, report } = setup(bystander);
  t.teardown(() => writer.stop());
  await report(0, all);
  await report(5000, all);
  t.equal(written.length, 0);
});
