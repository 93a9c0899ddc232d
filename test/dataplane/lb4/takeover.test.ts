// A VIP that kube-lb programs and Cilium then serves itself (its prune removed kube-lb's master, its own
// service took the address): kube-lb reports a conflict and leaves Cilium's entries alone.
import t from 'tap';
import { join } from 'node:path';
import { BpfMap } from '../../../src/native/bpf.ts';
import { LB4_MAPS } from '../../../src/core/lb4/maps.ts';
import { foreignServiceEntries } from '../../support/lb4-fixtures.ts';
import { labFor, rawDump, reconcilerFor, VIP, web } from './helpers.ts';

t.test('a foreign service that takes over a kube-lb VIP is left alone', async (t) => {
  const lab = await labFor(t, 'takeover', { version: '1.18' });
  const { reconciler } = reconcilerFor(t, lab);
  reconciler.setDesired([web(lab)]);
  reconciler.reconcileOnce();
  // Cilium prunes kube-lb's master and writes its own service on the same VIP:port.
  const services = BpfMap.open(lab.maps.paths.services!);
  const mine = rawDump(lab.mapDir).filter((l) => l.startsWith(`${LB4_MAPS.services.name} 0a 14 00 01 00 50`));
  for (const line of mine) {
    services.delete(
      Uint8Array.from(
        line
          .split(' => ')[0]!
          .split(' ')
          .slice(1)
          .map((h) => parseInt(h, 16)),
      ),
    );
  }
  services.close();
  for (const e of foreignServiceEntries(lab.profile, {
    vip: VIP,
    port: 80,
    proto: 6,
    revNat: 42,
    backends: [{ id: 42, address: lab.backends[1]!.address, port: 30080 }],
  })) {
    const m = BpfMap.open(join(lab.mapDir, LB4_MAPS[e.map].name));
    m.update(e.key, e.value);
    m.close();
  }
  const before = rawDump(lab.mapDir).filter((l) => l.startsWith(LB4_MAPS.services.name));
  reconciler.reconcileOnce();
  t.equal(reconciler.statuses()[0]?.state, 'conflict');
  t.same(
    rawDump(lab.mapDir).filter((l) => l.startsWith(LB4_MAPS.services.name)),
    before,
    'foreign service untouched',
  );
  t.same((await lab.request('tcp', VIP, 80, 5)).answers, { [lab.backends[1]!.name]: 5 }, 'and it is what answers');
});
