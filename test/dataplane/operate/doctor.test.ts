// `kube-lb doctor` against real pinned maps in private bpffs mounts: Cilium-shaped maps with Cilium's own entries
// are ready (and the version profile is detected from them); a directory that is not bpffs, a map with the wrong
// value size, missing maps, a contradicting --cilium-version and missing capabilities each say what is wrong.
// (The run inside a test-topology LB node's namespace is in test/e2e/operate.test.ts.)
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BPF_F_NO_PREALLOC, BPF_MAP_TYPE } from '../../../src/core/bpf/uapi.ts';
import { LB4_MAPS } from '../../../src/core/lb4/maps.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import { BpfMap } from '../../../src/native/bpf.ts';
import { doctorCommand } from '../../../src/cli/doctor.ts';
import type { CliIO } from '../../../src/cli/command-args.ts';
import { mountBpffs } from '../../../lab/bpffs.ts';
import { createCiliumMaps } from '../../../lab/cilium-maps.ts';
import { foreignServiceEntries } from '../../support/lb4-fixtures.ts';
import { Ledger } from '../../../lab/ledger.ts';

const root = join(import.meta.dirname, '../../..');
const ledger = Ledger.open('doctor');

interface Report {
  ready: boolean;
  profile: string | null;
  findings: Array<{ check: string; severity: string; message: string; hint?: string }>;
}

/** A Cilium config dir as the cilium-config ConfigMap is mounted: kube-proxy replacement, random selection. */
const configDir = mkdtempSync(join(tmpdir(), 'klb-doctor-config-'));
ledger.record('dir', configDir);
t.teardown(() => {
  rmSync(configDir, { recursive: true, force: true });
  ledger.release('dir', configDir);
});
writeFileSync(join(configDir, 'kube-proxy-replacement'), 'true');

/** Runs doctor (JSON and text) with the config dir above unless `args` names another. */
async function doctor(given: string[]): Promise<{ code: number; report: Report; text: string }> {
  const args = given.some((a) => a.startsWith('--cilium-config-dir='))
    ? given
    : [...given, `--cilium-config-dir=${configDir}`];
  let out = '';
  const io: CliIO = { out: (s) => void (out += s), err: (s) => void (out += s), env: {} };
  const code = await doctorCommand([...args, '--output=json'], io);
  let text = '';
  const textIo: CliIO = { out: (s) => void (text += s), err: (s) => void (text += s), env: {} };
  await doctorCommand(args, textIo);
  return { code, report: JSON.parse(out) as Report, text };
}

const failures = (r: Report) => r.findings.filter((f) => f.severity === 'fail');

function bpffs(label: string) {
  const fs = mountBpffs(ledger, label);
  t.teardown(() => fs.dispose());
  return fs.dir;
}

/** A Cilium line's maps holding one service Cilium wrote (evidence for the version). */
function ciliumNode(version: '1.17' | '1.18', maglev = false): string {
  const dir = bpffs(`doctor-${version}`);
  const profile = PROFILES[version];
  createCiliumMaps(dir, { profile, ...(maglev ? { maglevTableSize: 251 } : {}) });
  for (const e of foreignServiceEntries(profile, {
    vip: '10.96.0.1',
    port: 443,
    proto: 6,
    revNat: 1,
    backends: [{ id: 1, address: '192.168.0.10', port: 6443 }],
  })) {
    using m = BpfMap.open(join(dir, LB4_MAPS[e.map].name));
    m.update(e.key, e.value);
  }
  if (maglev) {
    // Cilium's maglev table for that service (rev NAT 1): every slot on backend 1.
    using inner = BpfMap.create({
      type: BPF_MAP_TYPE.ARRAY,
      keySize: 4,
      valueSize: 4 * 251,
      maxEntries: 1,
      flags: 0,
      name: 'cilium_maglev_inner',
    });
    const table = new Uint8Array(4 * 251);
    for (let i = 0; i < 251; i++) new DataView(table.buffer).setUint32(i * 4, 1, true);
    inner.update(new Uint8Array(4), table);
    using outer = BpfMap.open(join(dir, LB4_MAPS.maglev.name));
    const fd = new Uint8Array(4);
    new DataView(fd.buffer).setUint32(0, inner.fd, true);
    outer.update(new Uint8Array([0, 1]), fd);
  }
  return dir;
}

t.test('a Cilium node is ready, with the profile detected from its entries', async (t) => {
  // 1.18's slots carry their master's flags: 1.18 or newer, which all write alike (the newest is taken).
  const dir = ciliumNode('1.18');
  const { code, report, text } = await doctor([`--map-dir=${dir}`]);
  t.equal(code, 0, text);
  t.equal(report.ready, true);
  t.equal(report.profile, '1.20');
  t.same(failures(report), []);
  t.match(text, /READY: kube-lb can run on this node \(Cilium 1\.20 profile\)/);
  t.match(text, /cilium_lb4_maglev: absent \(optional: Cilium does not use maglev here\)/);
  t.match(text, /CAP_SYS_ADMIN is not needed/);
  t.match(
    report.findings.find((f) => f.check === 'change events'),
    { severity: 'ok' },
    'the change-events program loads here',
  );
});

t.test('maglev makes CAP_SYS_ADMIN required, and a configured version must fit the entries', async (t) => {
  const dir = ciliumNode('1.18', true);
  const ok = await doctor([`--map-dir=${dir}`, '--cilium-version=1.18']);
  t.equal(ok.code, 0, ok.text);
  t.match(ok.text, /CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN present/);
  const wrong = await doctor([`--map-dir=${dir}`, '--cilium-version=1.17']);
  t.equal(wrong.code, 1);
  t.match(failures(wrong.report)[0]?.message ?? '', /contradicts what the agent wrote/);
  t.match(wrong.text, /NOT READY: 1 problem\(s\) would stop kube-lb: cilium version/);
});

t.test('no bpffs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'klb-doctor-plain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { code, report, text } = await doctor([`--map-dir=${dir}`]);
  t.equal(code, 1);
  t.match(failures(report)[0]!, { check: 'bpffs', message: /is not on a BPF filesystem/ });
  t.match(text, /mount -t bpf bpf \/sys\/fs\/bpf/);
  const missing = await doctor([`--map-dir=${join(dir, 'nope')}`]);
  t.match(failures(missing.report)[0]!, { check: 'bpffs', message: /does not exist/ });
});

t.test('wrong map sizes', async (t) => {
  const dir = bpffs('doctor-shape');
  createCiliumMaps(dir, { profile: PROFILES['1.18'], sourceRange: false, affinity: false });
  // Replace the backends map by one with a 16-byte value, as a future Cilium might.
  rmSync(join(dir, LB4_MAPS.backends.name));
  using odd = BpfMap.create({
    type: BPF_MAP_TYPE.HASH,
    keySize: 4,
    valueSize: 16,
    maxEntries: 1024,
    flags: BPF_F_NO_PREALLOC,
    name: 'cilium_lb4_backends_v3',
  });
  odd.pin(join(dir, LB4_MAPS.backends.name));
  const { code, report } = await doctor([`--map-dir=${dir}`, '--cilium-version=1.18']);
  t.equal(code, 1);
  t.same(
    failures(report).map((f) => [f.check, f.message]),
    [['map cilium_lb4_backends_v3', 'unexpected shape: value size 16, expected 12']],
  );
});

t.test('missing maps', async (t) => {
  const dir = bpffs('doctor-missing');
  createCiliumMaps(dir, { profile: PROFILES['1.18'], sourceRange: false, affinity: false });
  rmSync(join(dir, LB4_MAPS.revNat.name));
  rmSync(join(dir, LB4_MAPS.services.name));
  const { code, report, text } = await doctor([`--map-dir=${dir}`, '--cilium-version=1.18']);
  t.equal(code, 1);
  t.same(
    failures(report)
      .map((f) => f.check)
      .sort(),
    ['map cilium_lb4_reverse_nat', 'map cilium_lb4_services_v2'],
  );
  t.match(text, /kubeProxyReplacement=true/);
  t.match(text, /cilium_lb4_source_range: absent \(optional: loadBalancerSourceRanges cannot be enforced\)/);
});

t.test('an empty Cilium map set cannot tell the version: the speaker would need --cilium-version', async (t) => {
  const dir = bpffs('doctor-empty');
  createCiliumMaps(dir, { profile: PROFILES['1.18'] });
  const { code, report } = await doctor([`--map-dir=${dir}`]);
  t.equal(code, 1);
  t.match(failures(report)[0]!, {
    check: 'cilium version',
    message: /cannot tell the Cilium version/,
    hint: /--cilium-version/,
  });
});

t.test('without CAP_BPF and CAP_SYS_ADMIN doctor says which capability is missing', async (t) => {
  const dir = ciliumNode('1.18');
  const script = `import { doctorCommand } from ${JSON.stringify(join(root, 'src/cli/doctor.ts'))};
    const io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: {} };
    process.exitCode = await doctorCommand(['--map-dir=${dir}', '--cilium-config-dir=${configDir}', '--output=json'], io);`;
  const r = spawnSync(
    'setpriv',
    ['--bounding-set=-bpf,-sys_admin', '--inh-caps=-all', '--', process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 60_000 },
  );
  t.equal(r.status, 1, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  t.match(JSON.stringify(failures(report)), /CAP_BPF missing/);
  t.equal(
    report.ready,
    false,
    'not ready: the speaker could not open the maps on a node that forbids unprivileged bpf(2)',
  );
});
