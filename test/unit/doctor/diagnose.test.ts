// The doctor's decisions without a node: capabilities from CapEff, sysctls the speaker can or cannot fix,
// old kernels, and the verdict line.
import t from 'tap';
import {
  BPF_FS_MAGIC,
  diagnose,
  formatDiagnosis,
  hasCap,
  parseCapEff,
  type DoctorFacts,
} from '../../../src/core/doctor/diagnose.ts';
import { LB4_MAPS, type Lb4MapRole } from '../../../src/core/lb4/maps.ts';
import { parseCiliumConfig, servability } from '../../../src/core/cilium/config.ts';

const DIR = '/etc/cilium/config-map';
const ciliumRead = (entries: Record<string, string>) => {
  const config = parseCiliumConfig(entries, '1.18', DIR);
  return { state: 'read' as const, dir: DIR, config, servability: servability(config) };
};

const present = (role: Lb4MapRole) => {
  const s = LB4_MAPS[role];
  return {
    role,
    state: 'present' as const,
    shape: { type: s.type, keySize: s.keySize, valueSize: s.valueSize, maxEntries: 65536, flags: 1 },
  };
};
const ALL_CAPS = (1n << 12n) | (1n << 13n) | (1n << 21n) | (1n << 23n) | (1n << 39n);

function facts(over: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    mapDir: '/sys/fs/bpf/tc/globals',
    mapDirFsType: BPF_FS_MAGIC,
    maps: [present('services'), present('backends'), present('revNat'), { role: 'maglev', state: 'missing' }],
    profile: {
      state: 'decided',
      configured: '1.18',
      version: '1.18',
      detection: { profile: undefined, candidates: ['1.18', '1.19'], reasons: [] },
    },
    ciliumConfig: ciliumRead({ 'kube-proxy-replacement': 'true' }),
    effectiveCaps: ALL_CAPS,
    kernel: '6.8.0-31-generic',
    interface: 'eth0',
    sysctls: [{ name: 'net.ipv4.conf.eth0.forwarding', value: '1', wanted: '1', writable: false }],
    ...over,
  };
}

t.test('CapEff parsing', async (t) => {
  const caps = parseCapEff('Name:\tnode\nCapPrm:\t000001ffffffffff\nCapEff:\t0000008000003000\n');
  t.equal(caps, 0x8000003000n);
  t.ok(hasCap(caps!, 'BPF') && hasCap(caps!, 'NET_ADMIN') && hasCap(caps!, 'NET_RAW'));
  t.notOk(hasCap(caps!, 'SYS_ADMIN'));
  t.equal(parseCapEff('no caps here'), undefined);
});

t.test('a healthy node', async (t) => {
  const d = diagnose(facts());
  t.equal(d.ready, true);
  t.equal(d.profile, '1.18');
  t.match(formatDiagnosis(d), /READY: kube-lb can run on this node \(Cilium 1\.18 profile\)\n$/);
});

t.test('sysctls: fine when the speaker can set them, a failure when it cannot', async (t) => {
  const writable = diagnose(
    facts({ sysctls: [{ name: 'net.ipv4.neigh.eth0.proxy_delay', value: '80', wanted: '0', writable: true }] }),
  );
  t.equal(writable.ready, true);
  t.match(writable.findings.find((f) => f.check.startsWith('sysctl'))!, {
    severity: 'info',
    message: /the speaker sets 0/,
  });
  const stuck = diagnose(
    facts({ sysctls: [{ name: 'net.ipv4.neigh.eth0.proxy_delay', value: '80', wanted: '0', writable: false }] }),
  );
  t.equal(stuck.ready, false);
  t.match(stuck.findings.find((f) => f.severity === 'fail')!, { hint: /hostPath/ });
});

t.test('capabilities: NET_RAW missing; SYS_ADMIN only with maglev; SYS_NICE a warning', async (t) => {
  const noRaw = diagnose(facts({ effectiveCaps: ALL_CAPS & ~(1n << 13n) }));
  t.equal(noRaw.ready, false);
  t.match(
    noRaw.findings.filter((f) => f.severity === 'fail').map((f) => f.message),
    [/CAP_NET_RAW missing/],
  );
  const withoutSysAdmin = ALL_CAPS & ~(1n << 21n);
  t.equal(diagnose(facts({ effectiveCaps: withoutSysAdmin })).ready, true, 'no maglev: no SYS_ADMIN needed');
  const maglev = diagnose(
    facts({
      effectiveCaps: withoutSysAdmin,
      maps: [present('services'), present('backends'), present('revNat'), present('maglev')],
    }),
  );
  t.equal(maglev.ready, false);
  t.match(
    maglev.findings.find((f) => f.severity === 'fail')!.message,
    /CAP_SYS_ADMIN missing: needed for reading maglev inner maps/,
  );
  const noNice = diagnose(facts({ effectiveCaps: ALL_CAPS & ~(1n << 23n) }));
  t.equal(noNice.ready, true, 'without SYS_NICE the speaker still serves');
  t.match(
    noNice.findings.filter((f) => f.severity === 'warn').map((f) => f.message),
    [/CAP_SYS_NICE missing: the thread that writes back entries a Cilium prune deletes runs at normal priority/],
  );
});

t.test('an old kernel and no default route are warnings, not blockers', async (t) => {
  const d = diagnose(facts({ kernel: '5.4.0-150-generic', interface: undefined, sysctls: [] }));
  t.equal(d.ready, true);
  t.same(
    d.findings.filter((f) => f.severity === 'warn').map((f) => f.check),
    ['kernel', 'sysctls'],
  );
});

t.test(
  "Cilium's configuration: a mode kube-lb cannot serve, an unreadable directory, maglev without its map",
  async (t) => {
    const dsr = diagnose(
      facts({ ciliumConfig: ciliumRead({ 'kube-proxy-replacement': 'true', 'bpf-lb-mode': 'dsr' }) }),
    );
    t.equal(dsr.ready, false);
    t.match(
      dsr.findings.find((f) => f.check === 'cilium config'),
      { severity: 'fail', message: /^CiliumDSRMode: /, hint: /bpf-lb-mode-annotation=true/ },
    );
    const noKpr = diagnose(facts({ ciliumConfig: ciliumRead({}) }));
    t.match(
      noKpr.findings.find((f) => f.check === 'cilium config'),
      { severity: 'fail', message: /^CiliumKubeProxyReplacementOff: / },
    );
    const missing = diagnose(
      facts({ ciliumConfig: { state: 'refused', dir: DIR, code: 'CILIUM_CONFIG_DIR', message: 'cannot read' } }),
    );
    t.equal(missing.ready, false);
    const maglev = diagnose(
      facts({ ciliumConfig: ciliumRead({ 'kube-proxy-replacement': 'true', 'bpf-lb-algorithm': 'maglev' }) }),
    );
    t.match(
      maglev.findings.filter((f) => f.check === 'cilium config').map((f) => f.severity),
      ['ok', 'fail'],
      'maglev configured, but the maps have no maglev map',
    );
    const annotated = diagnose(
      facts({
        ciliumConfig: ciliumRead({
          'kube-proxy-replacement': 'true',
          'bpf-lb-mode': 'dsr',
          'bpf-lb-mode-annotation': 'true',
        }),
      }),
    );
    t.equal(annotated.ready, true, 'DSR by default, SNAT per service for kube-lb');
  },
);

t.test('change events: available is ok; unavailable is a warning that names the reason and the fallback', async (t) => {
  const on = diagnose(facts({ changeEvents: { state: 'available' } }));
  t.match(
    on.findings.find((f) => f.check === 'change events'),
    { severity: 'ok' },
  );
  const off = diagnose(
    facts({ changeEvents: { state: 'unavailable', message: 'map watch load: Operation not permitted' } }),
  );
  t.equal(off.ready, true, 'the speaker polls instead');
  t.match(
    off.findings.find((f) => f.check === 'change events'),
    {
      severity: 'warn',
      message: /will poll: map watch load: Operation not permitted/,
      hint: /CAP_PERFMON.*--reconcile-period/s,
    },
  );
  t.notOk(
    diagnose(facts()).findings.some((f) => f.check === 'change events'),
    'not tried: no finding',
  );
});
