// What the agent assumes of a consumer cluster from its version, and what a status write teaches it.
import t from 'tap';
import { capabilitiesOf, ipModeDropped, ipModeGap, kubernetesMinor } from '../../../src/core/agent/capabilities.ts';

t.test('the version gives the first guess: 1.29 and newer may keep ipMode', async (t) => {
  t.same(
    ['v1.24.17', 'v1.28.0', 'v1.29.15', 'v1.30.0', 'v1.34.4+k3s1'].map((v) => capabilitiesOf(v).ipMode),
    [false, false, true, true, true],
  );
  t.equal(kubernetesMinor('v1.31.4-gke.100'), 31);
  t.ok(capabilitiesOf('weird').ipMode, 'an unparsable version is tried (a write settles it)');
});

t.test('a write settles it: ipMode sent and not stored means the cluster drops it', async (t) => {
  const sent = [{ ip: '192.0.2.1', ipMode: 'Proxy' }];
  t.ok(ipModeDropped(sent, [{ ip: '192.0.2.1' }]));
  t.notOk(ipModeDropped(sent, sent));
  t.notOk(ipModeDropped([{ ip: '192.0.2.1' }], [{ ip: '192.0.2.1' }]), 'nothing sent, nothing learnt');
  t.notOk(ipModeDropped([], undefined));
});

t.test('the gap is only reported where ipMode is missing', async (t) => {
  t.equal(ipModeGap({ version: 'v1.34.4', ipMode: true }, '192.0.2.1'), undefined);
  t.match(ipModeGap({ version: 'v1.27.16', ipMode: false }, undefined), {
    reason: 'IPModeUnsupported',
    message: /v1\.27\.16.*the VIP/,
  });
});
