// Cilium's configuration directory as kube-lb reads it, per line: defaults from each line's sources, the keys
// that changed between lines, values Cilium would refuse, and the decision whether kube-lb can serve the node.
import t from 'tap';
import {
  CONFIGURED_LINES,
  declaredProtoDiff,
  parseCiliumConfig,
  profileUnder,
  servability,
  type CiliumDatapathConfig,
} from '../../../src/core/cilium/config.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';

const DIR = '/etc/cilium/config-map';
const parse = (line: (typeof CONFIGURED_LINES)[number], entries: Record<string, string> = {}): CiliumDatapathConfig =>
  parseCiliumConfig(entries, line, DIR);
const KPR = { 'kube-proxy-replacement': 'true' };

t.test(
  "an empty directory is each line's defaults: no kube-proxy replacement, random, SNAT, table 16381",
  async (t) => {
    for (const line of CONFIGURED_LINES) {
      const c = parse(line);
      t.match(
        c,
        {
          line,
          kubeProxyReplacement: false,
          algorithm: 'random',
          algorithmAnnotation: false,
          maglev: { tableSize: 16381, hashSeed: 'JLfvgnHc2kaSUFaI' },
          mode: 'snat',
          modeAnnotation: false,
          protoDiff: true,
        },
        line,
      );
      // Without the node-port path there is no source-range check in any line.
      t.equal(c.sourceRangeCheck, false, `${line}: no source-range check without kube-proxy replacement`);
    }
    t.same(
      CONFIGURED_LINES.map((l) => parse(l).sessionAffinity),
      [false, true, true, true],
      '1.17 defaults affinity off, 1.18 on, 1.19+ always',
    );
    t.same(
      CONFIGURED_LINES.map((l) => parse(l).wildcardEntries),
      [false, false, true, true],
      'wildcard entries from 1.19',
    );
  },
);

t.test(
  'kube-proxy replacement turns on what depends on it; 1.17/1.18 also compile node port with enable-node-port',
  async (t) => {
    for (const line of CONFIGURED_LINES) {
      const c = parse(line, KPR);
      t.match(c, { kubeProxyReplacement: true, sourceRangeCheck: true, sessionAffinity: true }, line);
    }
    t.equal(parse('1.17', { 'enable-node-port': 'true' }).kubeProxyReplacement, true);
    t.equal(
      parse('1.17', { 'enable-node-port': 'true' }).sessionAffinity,
      false,
      '1.17: only kube-proxy-replacement=true turns affinity on',
    );
    t.equal(parse('1.19', { 'enable-node-port': 'true' }).kubeProxyReplacement, false, '1.19 has no enable-node-port');
    t.equal(parse('1.18', { ...KPR, 'enable-svc-source-range-check': 'false' }).sourceRangeCheck, false);
    t.equal(
      parse('1.19', { ...KPR, 'enable-svc-source-range-check': 'false' }).sourceRangeCheck,
      true,
      '1.19: always checked',
    );
    t.throws(
      () => parse('1.18', { 'kube-proxy-replacement': '1' }),
      { code: 'CILIUM_CONFIG_INVALID', key: 'kube-proxy-replacement' },
      '1.18: a string, exactly true or false',
    );
    t.equal(parse('1.19', { 'kube-proxy-replacement': '1' }).kubeProxyReplacement, true, '1.19: a boolean');
  },
);

t.test('algorithm, maglev table and seed, mode, with the deprecated spellings where the line reads them', async (t) => {
  const c = parse('1.19', {
    ...KPR,
    'bpf-lb-algorithm': 'maglev',
    'bpf-lb-maglev-table-size': '251',
    'bpf-lb-maglev-hash-seed': 'AAAAAAAAAAAAAAAA\n',
  });
  t.match(c, { algorithm: 'maglev', maglev: { tableSize: 251, hashSeed: 'AAAAAAAAAAAAAAAA' } });
  t.match(
    c.settings.find((s) => s.key === 'bpf-lb-algorithm'),
    { value: 'maglev', from: 'config' },
  );
  t.match(
    c.settings.find((s) => s.key === 'bpf-lb-mode'),
    { value: 'snat', from: 'default' },
  );
  t.equal(parse('1.18', { 'node-port-algorithm': 'maglev' }).algorithm, 'maglev', 'the old name still counts in 1.18');
  t.equal(parse('1.20', { 'node-port-algorithm': 'maglev' }).algorithm, 'random', '1.20 no longer reads it');
  t.equal(parse('1.17', { 'node-port-mode': 'dsr' }).mode, 'dsr');
  t.throws(() => parse('1.17', { 'node-port-mode': 'dsr', 'bpf-lb-mode': 'snat' }), {
    code: 'CILIUM_CONFIG_INVALID',
    message: /contradicts the deprecated node-port-mode/,
  });
});

t.test('a value Cilium would refuse names the key and the file', async (t) => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ 'bpf-lb-algorithm': 'round-robin' }, 'bpf-lb-algorithm', /is not one of random, maglev/],
    [{ 'bpf-lb-mode': 'tunnel' }, 'bpf-lb-mode', /is not one of snat, dsr, hybrid/],
    [{ 'bpf-lb-maglev-table-size': '1000' }, 'bpf-lb-maglev-table-size', /is not a maglev table size Cilium accepts/],
    [{ 'bpf-lb-maglev-hash-seed': 'short' }, 'bpf-lb-maglev-hash-seed', /is not base64 of 12 bytes/],
    [{ 'bpf-lb-proto-diff': 'maybe' }, 'bpf-lb-proto-diff', /is not a boolean/],
    [
      { 'bpf-lb-mode': 'hybrid', 'bpf-lb-mode-annotation': 'true' },
      'bpf-lb-mode',
      /not accepted by Cilium together with bpf-lb-mode-annotation/,
    ],
  ];
  for (const [entries, key, why] of cases) {
    const err = t.throws(() => parse('1.18', entries)) as unknown as {
      code: string;
      key: string;
      file: string;
      message: string;
    };
    t.match(err, { code: 'CILIUM_CONFIG_INVALID', key, file: `${DIR}/${key}` }, key);
    t.match(err.message, new RegExp(`${DIR}/${key}: `));
    t.match(err.message, why);
  }
  t.throws(
    () => parseCiliumConfig({}, '1.16', DIR),
    { code: 'CILIUM_CONFIG_LINE' },
    'lines before 1.17 are not modelled',
  );
});

t.test('bpf-lb-proto-diff off (1.17/1.18): keys carry protocol 0 and the datapath has no fallback', async (t) => {
  for (const line of ['1.17', '1.18'] as const) {
    const c = parse(line, { ...KPR, 'bpf-lb-proto-diff': 'false' });
    t.equal(c.protoDiff, false);
    const p = profileUnder(PROFILES[line], c);
    t.match(p, { keyProto: 'any', protoFallback: false }, line);
  }
  t.equal(
    profileUnder(PROFILES['1.17'], parse('1.17', { 'bpf-lb-proto-diff': 'false' })).maglevHashProto,
    'any',
    '1.17 strips the protocol from backends too',
  );
  t.equal(
    profileUnder(PROFILES['1.18'], parse('1.18', { 'bpf-lb-proto-diff': 'false' })).maglevHashProto,
    'l4',
    '1.18 keeps it',
  );
  t.equal(profileUnder(PROFILES['1.18'], parse('1.18', KPR)), PROFILES['1.18'], "on: the line's profile unchanged");
  t.equal(parse('1.19', { 'bpf-lb-proto-diff': 'false' }).protoDiff, true, '1.19 has no such option');
  t.equal(declaredProtoDiff({ 'bpf-lb-proto-diff': 'false' }), false);
  t.equal(declaredProtoDiff({ 'bpf-lb-proto-diff': 'true' }), undefined);
});

t.test('servability: what kube-lb can serve, per line and mode', async (t) => {
  const verdict = (line: (typeof CONFIGURED_LINES)[number], entries: Record<string, string>): string => {
    const s = servability(parse(line, { ...KPR, ...entries }));
    return s.ok ? 'ok' : s.reason;
  };
  t.equal(servability(parse('1.19')).ok, false);
  t.match(servability(parse('1.19')), { reason: 'CiliumKubeProxyReplacementOff', message: /node-port path/ });
  for (const line of CONFIGURED_LINES) {
    t.equal(verdict(line, {}), 'ok', `${line} snat`);
    t.equal(verdict(line, { 'bpf-lb-mode': 'dsr' }), 'CiliumDSRMode', `${line} dsr`);
    t.equal(
      verdict(line, { 'bpf-lb-mode': 'dsr', 'bpf-lb-mode-annotation': 'true' }),
      'ok',
      `${line} dsr by default, SNAT per service`,
    );
    t.equal(verdict(line, { 'bpf-lb-mode-annotation': 'true' }), 'ok', `${line} snat with annotations`);
  }
  // Hybrid: 1.17/1.18 compile "DSR for TCP" with no per-service say; 1.19+ decide per service (ENABLE_DSR_BYUSER).
  t.same(
    CONFIGURED_LINES.map((l) => verdict(l, { 'bpf-lb-mode': 'hybrid' })),
    ['CiliumHybridMode', 'CiliumHybridMode', 'ok', 'ok'],
  );
});
