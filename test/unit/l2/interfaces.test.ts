import t from 'tap';
import {
  parseInterfacePattern,
  parseInterfaceSelection,
  selectInterfaces,
  pickPublished,
  InterfacePatternError,
} from '../../../src/core/l2/interfaces.ts';

const links = [
  { name: 'lo', up: true, arpCapable: false },
  { name: 'eth0', up: true, arpCapable: true },
  { name: 'eth1', up: false, arpCapable: true },
  { name: 'eth2', up: true, arpCapable: true },
  { name: 'bond0', up: true, arpCapable: true },
  { name: 'kube-lb0', up: true, arpCapable: false },
];

t.test('names match exactly, /regex/ matches anywhere unless anchored', async (t) => {
  t.same(selectInterfaces(parseInterfaceSelection(['eth0']), links, undefined), ['eth0']);
  t.same(selectInterfaces(parseInterfaceSelection(['eth']), links, undefined), [], 'a name is not a prefix');
  t.same(
    selectInterfaces(parseInterfaceSelection(['/^eth\\d+$/']), links, undefined),
    ['eth0', 'eth2'],
    'down eth1 skipped',
  );
  t.same(
    selectInterfaces(parseInterfaceSelection(['/0/']), links, undefined),
    ['bond0', 'eth0'],
    'lo and NOARP links never',
  );
});

t.test('no list: the default-route interface, if it can answer', async (t) => {
  t.same(selectInterfaces([], links, 'eth2'), ['eth2']);
  t.same(selectInterfaces([], links, 'eth1'), [], 'down');
  t.same(selectInterfaces([], links, undefined), [], 'no default route');
});

t.test('published names are re-picked with the same rules', async (t) => {
  t.same(pickPublished(parseInterfaceSelection(['/^eth/']), ['bond0', 'eth0'], 'bond0'), ['eth0']);
  t.same(pickPublished([], ['bond0', 'eth0'], 'bond0'), ['bond0']);
});

t.test('bad patterns are rejected with the pattern named', async (t) => {
  t.throws(() => parseInterfacePattern('/(/'), InterfacePatternError);
  t.throws(() => parseInterfacePattern('//'), InterfacePatternError);
  t.throws(() => parseInterfacePattern('a-very-long-interface-name'), InterfacePatternError);
  t.throws(() => parseInterfacePattern('eth 0'), InterfacePatternError);
  const err = (() => {
    try {
      parseInterfacePattern('/[/');
    } catch (e) {
      return e;
    }
  })() as InterfacePatternError;
  t.equal(err.code, 'L2_INTERFACE_PATTERN');
  t.equal(err.pattern, '/[/');
});
