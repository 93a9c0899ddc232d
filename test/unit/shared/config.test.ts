import t from 'tap';
import { parseConfig, parseDuration, describeOptions, type OptionSpec } from '../../../src/shared/config.ts';
import { ConfigError } from '../../../src/shared/errors.ts';

const specs = {
  kubeconfig: { kind: 'string', env: 'KUBECONFIG', help: 'path' },
  'log-level': { kind: 'string', default: 'info', oneOf: ['debug', 'info', 'warn'], help: 'level' },
  'metrics-port': { kind: 'int', default: 9100, min: 1, max: 65535, help: 'port' },
  resync: { kind: 'duration', default: 30_000, min: 100, help: 'period' },
  'leader-elect': { kind: 'bool', default: true, help: 'elect' },
  interfaces: { kind: 'list', default: [], help: 'names' },
  'cluster-name': { kind: 'string', required: true, env: 'KUBE_LB_CLUSTER', help: 'tenant' },
} satisfies Record<string, OptionSpec>;

t.test('flags win over environment, environment over defaults', async (t) => {
  const c = parseConfig(specs, ['--cluster-name=a', '--metrics-port', '9200', '--leader-elect', 'false'], {
    KUBECONFIG: '/k',
    KUBE_LB_CLUSTER: 'b',
  });
  t.same(c, {
    kubeconfig: '/k',
    'log-level': 'info',
    'metrics-port': 9200,
    resync: 30_000,
    'leader-elect': false,
    interfaces: [],
    'cluster-name': 'a',
  });
});

t.test('bare boolean flag and lists and durations', async (t) => {
  const c = parseConfig(specs, ['--leader-elect', '--interfaces=eth0, /^bond/', '--resync=1.5s'], {
    KUBE_LB_CLUSTER: 'x',
  });
  t.equal(c['leader-elect'], true);
  t.same(c.interfaces, ['eth0', '/^bond/']);
  t.equal(c.resync, 1500);
});

t.test('errors name the flag and the bad value', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--metrics-port=70000'], /--metrics-port="70000": must be at most 65535/],
    [['--metrics-port=abc'], /--metrics-port="abc": must be a whole number/],
    [['--resync=soon'], /--resync="soon": must be a duration/],
    [['--resync=10ms'], /--resync="10ms": must be at least 100/],
    [['--log-level=loud'], /--log-level="loud": must be one of debug, info, warn/],
    [['--no-such-flag=1'], /--no-such-flag: unknown flag/],
    [['stray'], /unexpected argument/],
  ];
  for (const [argv, message] of cases) {
    t.throws(() => parseConfig(specs, argv, { KUBE_LB_CLUSTER: 'x' }), message, argv.join(' '));
  }
  const err = t.throws(() => parseConfig(specs, [], {})) as ConfigError;
  t.type(err, ConfigError);
  t.equal(err.flag, 'cluster-name');
  t.match(err.message, /is required \(or set KUBE_LB_CLUSTER\)/);
});

t.test('durations', async (t) => {
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('2m'), 120_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('5'), undefined);
});

t.test('help lists every option', async (t) => {
  const help = describeOptions(specs);
  for (const name of Object.keys(specs)) t.match(help, `--${name}`);
});
