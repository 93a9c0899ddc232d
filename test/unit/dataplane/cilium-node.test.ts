// The reconciler on fake maps under a node's Cilium configuration: what it writes follows the configuration
// (algorithm byte, maglev tables, protocol rule, source ranges), it programs nothing on a node it cannot serve,
// and it leaves alone what Cilium claims as a whole (a wildcard entry on the VIP).
import t from 'tap';
import { canonicalDump } from '../../../src/core/dataplane/canonical.ts';
import { hashedBackendId } from '../../../src/core/dataplane/ids.ts';
import { parseIPv4 } from '../../../src/core/lb4/ipv4.ts';
import type { DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { parseCiliumConfig } from '../../../src/core/cilium/config.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { createFakeLb4Maps, type FakeMapsOptions } from '../../../src/speaker/dataplane/fake-maps.ts';
import { readSnapshot } from '../../../src/speaker/dataplane/maps.ts';
import { DataplaneReconciler } from '../../../src/speaker/dataplane/reconciler.ts';
import { goldenCiliumEntries } from '../../support/cilium-golden.ts';

const logger = createLogger({ program: 'test', level: 'silent' });
const KPR = { 'kube-proxy-replacement': 'true' };

function node(line: '1.17' | '1.18' | '1.19' | '1.20', entries: Record<string, string>, options: FakeMapsOptions = {}) {
  const maps = createFakeLb4Maps(options);
  const cilium = parseCiliumConfig(entries, line, '/etc/cilium/config-map');
  const reconciler = new DataplaneReconciler({ maps, profile: PROFILES[line], cilium, logger });
  const dump = (): string => canonicalDump(readSnapshot(maps), reconciler.profile).join('\n');
  /** Everything a real agent of this line wrote in the golden lab (test/fixtures/cilium). */
  const seedCilium = (golden: '1.19' | '1.20'): void => {
    for (const e of goldenCiliumEntries(golden)) maps[e.map].set(e.key, e.value);
  };
  return { maps, reconciler, dump, seedCilium };
}

const web = (extra: Partial<DesiredFrontend> = {}): DesiredFrontend => ({
  vip: '10.0.0.1',
  port: 80,
  protocol: 'TCP',
  backends: [
    { address: '10.1.0.5', port: 30080 },
    { address: '10.1.0.6', port: 30080 },
  ],
  ...extra,
});

t.test("the master's algorithm byte holds the node's algorithm (1 random, 2 maglev), never 0", async (t) => {
  const random = node('1.17', { ...KPR, 'bpf-lb-algorithm-annotation': 'true' });
  random.reconciler.setDesired([web({ sessionAffinity: { timeoutSeconds: 600 } })]);
  random.reconciler.reconcileOnce();
  t.match(
    random.dump(),
    /slot=0 => u32=16777816 count=2/,
    '(1 << 24) | 600: random, affinity timeout kept in the low 24 bits',
  );

  const maglev = node(
    '1.19',
    { ...KPR, 'bpf-lb-algorithm': 'maglev', 'bpf-lb-maglev-table-size': '251' },
    { maglevTableSize: 251 },
  );
  maglev.reconciler.setDesired([web()]);
  maglev.reconciler.reconcileOnce();
  t.match(maglev.dump(), /slot=0 => u32=33554432 count=2/, '2 << 24: maglev');
  t.equal(maglev.maps.maglev!.tables.size, 1, 'and the table is written');

  const randomWithMap = node('1.18', { ...KPR, 'bpf-lb-algorithm-annotation': 'true' }, { maglevTableSize: 251 });
  randomWithMap.reconciler.setDesired([web()]);
  randomWithMap.reconciler.reconcileOnce();
  t.equal(
    randomWithMap.maps.maglev!.tables.size,
    0,
    'random node: the maglev map exists (annotations on) but no table is needed',
  );
});

t.test('the configuration, not the maps, says maglev: a maglev node without its maglev map is refused', async (t) => {
  t.throws(() => node('1.19', { ...KPR, 'bpf-lb-algorithm': 'maglev' }), { code: 'DATAPLANE_MAP_MISSING' });
  t.throws(
    () => node('1.19', { ...KPR, 'bpf-lb-algorithm': 'maglev' }, { maglevTableSize: 251 }),
    { code: 'DATAPLANE_MAGLEV_TABLE_SIZE' },
    'configured 16381, maps hold 251',
  );
});

t.test('affinity-match entries exist only for active backends, as Cilium writes them', async (t) => {
  const { reconciler, dump } = node('1.18', KPR);
  reconciler.setDesired([
    web({
      sessionAffinity: { timeoutSeconds: 60 },
      backends: [
        { address: '10.1.0.5', port: 30080 },
        { address: '10.1.0.6', port: 30080, state: 'terminating' },
      ],
    }),
  ]);
  reconciler.reconcileOnce();
  const aff = dump()
    .split('\n')
    .filter((l) => l.startsWith('aff '));
  const [active, terminating] = [
    hashedBackendId(parseIPv4('10.1.0.5'), 30080, 6),
    hashedBackendId(parseIPv4('10.1.0.6'), 30080, 6),
  ];
  t.same(aff, [`aff 65534 backend=${active}`], `the terminating backend (${terminating}) has none`);
  t.match(dump(), new RegExp(`be ${terminating} => 10.1.0.6:30080/TCP terminating`));
});

t.test("bpf-lb-proto-diff=false: kube-lb's keys carry protocol 0 (no fallback in the datapath)", async (t) => {
  const { reconciler, dump } = node('1.18', { ...KPR, 'bpf-lb-proto-diff': 'false' });
  reconciler.setDesired([web()]);
  reconciler.reconcileOnce();
  t.match(dump(), /svc 10.0.0.1:80\/ANY scope=0 slot=0/);
  t.notMatch(dump(), /svc 10.0.0.1:80\/TCP/);
});

t.test(
  'source ranges only where Cilium enforces them: 1.18 with the check off keeps its map but ignores it',
  async (t) => {
    const { reconciler, dump } = node('1.18', { ...KPR, 'enable-svc-source-range-check': 'false' });
    reconciler.setDesired([web({ sourceRanges: ['192.168.0.0/16'] })]);
    reconciler.reconcileOnce();
    t.match(reconciler.statuses()[0], { state: 'unsupported', reason: /does not enforce them/ });
    t.notMatch(dump(), /10.0.0.1:80/, 'not exposed to every client');
  },
);

t.test('a foreign wildcard entry on the VIP is a conflict, and kube-lb writes nothing for that address', async (t) => {
  const { reconciler, dump, seedCilium } = node('1.19', KPR);
  // A real 1.19 agent's entries: among them the wildcard {198.51.100.190, 0, 0} of its LoadBalancer Service (which
  // serves port 443 only), and none for its externalIP 198.51.100.180.
  seedCilium('1.19');
  const before = dump();
  t.match(
    before,
    /svc 198.51.100.190:0\/ANY scope=0 slot=0 => u32=0 count=0 revnat=0 flags=0x20\/0x00/,
    'the wildcard as Cilium writes it',
  );
  reconciler.setDesired([
    web({ vip: '198.51.100.190' }),
    web({ vip: '198.51.100.180', port: 81 }),
    web({ vip: '10.0.0.2' }),
  ]);
  reconciler.reconcileOnce();
  t.match(reconciler.statuses(), [
    { name: '10.0.0.2:80/TCP', state: 'programmed' },
    { name: '198.51.100.180:81/TCP', state: 'programmed' },
    { name: '198.51.100.190:80/TCP', state: 'conflict', reason: /wildcard entry for 198.51.100.190/ },
  ]);
  t.notMatch(dump(), /svc 198.51.100.190:80\//);
  t.ok(
    before.split('\n').every((l) => dump().includes(l)),
    "Cilium's entries untouched",
  );
});

t.test(
  'a node kube-lb cannot serve: nothing programmed, what was programmed removed, every frontend says why',
  async (t) => {
    const maps = createFakeLb4Maps();
    const serving = new DataplaneReconciler({
      maps,
      profile: PROFILES['1.19'],
      cilium: parseCiliumConfig(KPR, '1.19', '/c'),
      logger,
    });
    serving.setDesired([web()]);
    serving.reconcileOnce();
    t.ok(maps.services.entries.size > 0);

    // The agent is reconfigured to DSR and the speaker restarts.
    const cilium = parseCiliumConfig({ ...KPR, 'bpf-lb-mode': 'dsr' }, '1.19', '/c');
    const refusing = new DataplaneReconciler({ maps, profile: PROFILES['1.19'], cilium, logger });
    t.match(refusing.servability, { ok: false, reason: 'CiliumDSRMode' });
    refusing.setDesired([web(), web({ vip: '10.0.0.300' })]);
    const pass = refusing.reconcileOnce();
    t.equal(pass.error, undefined);
    t.same(
      [maps.services.entries.size, maps.backends.entries.size, maps.revNat.entries.size, maps.idTable.entries.size],
      [0, 0, 0, 0],
    );
    t.match(refusing.statuses(), [
      { state: 'rejected' },
      {
        name: '10.0.0.1:80/TCP',
        state: 'refused',
        code: 'CiliumDSRMode',
        reason: /bpf-lb-mode=dsr without bpf-lb-mode-annotation/,
      },
    ]);
    t.equal(refusing.stats().frontends.refused, 1);
  },
);
