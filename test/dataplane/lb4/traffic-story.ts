// Real packets through the test datapath: a client reaches HTTP and UDP servers on backend NodePorts through
// the VIP, using only the entries the reconciler wrote into Cilium-shaped maps, for several Cilium versions
// and both backend selection modes.
import t from 'tap';
import type { CiliumVersion } from '../../../src/core/lb4/profile.ts';
import { dns, labFor, reconcilerFor, VIP, violations, web } from './helpers.ts';

/** The story, for one Cilium version and selection mode (one lab). */
export function trafficStory(version: CiliumVersion, maglev: boolean): void {
  t.test(`Cilium ${version} rules, ${maglev ? 'maglev' : 'random'} selection`, async (t) => {
    const lab = await labFor(t, `traffic-${version.replace('.', '')}`, { version, maglev });
    const { reconciler, opened } = reconcilerFor(t, lab);
    const [b1, b2] = lab.backends;

    reconciler.setDesired([web(lab), dns(lab)]);
    t.equal(reconciler.reconcileOnce().error, undefined, 'programmed');
    t.same(violations(opened), [], 'no dangling reference in the maps');

    const tcp = await lab.request('tcp', VIP, 80, 30);
    t.equal(tcp.fail, 0, `TCP: ${tcp.ok} answers, no failure (${tcp.lastError ?? ''})`);
    t.ok(
      (tcp.answers[b1!.name] ?? 0) > 0 && (tcp.answers[b2!.name] ?? 0) > 0,
      `both backends answer TCP: ${JSON.stringify(tcp.answers)}`,
    );
    const udp = await lab.request('udp', VIP, 53, 30);
    t.equal(udp.fail, 0, `UDP: ${udp.ok} answers, no failure (${udp.lastError ?? ''})`);
    t.ok(
      (udp.answers[b1!.name] ?? 0) > 0 && (udp.answers[b2!.name] ?? 0) > 0,
      `both backends answer UDP: ${JSON.stringify(udp.answers)}`,
    );

    reconciler.setDesired([web(lab, 80, [b2!]), dns(lab)]);
    t.equal(reconciler.reconcileOnce().error, undefined);
    t.same(violations(opened), []);
    const after = await lab.request('tcp', VIP, 80, 20);
    t.same(after.answers, { [b2!.name]: 20 }, 'the removed backend gets no new connection');

    reconciler.setDesired([dns(lab)]);
    t.equal(reconciler.reconcileOnce().error, undefined);
    const gone = await lab.request('tcp', VIP, 80, 3, 1000);
    t.same([gone.ok, gone.fail], [0, 3], 'the removed service no longer answers');
    const still = await lab.request('udp', VIP, 53, 5);
    t.equal(still.ok, 5, 'the other service still does');
  });
}
