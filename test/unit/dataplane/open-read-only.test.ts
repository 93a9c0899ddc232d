// Opening Cilium's maps the way `kube-lb maps list` and `kube-lb doctor` do never writes: not into Cilium's
// still-empty maglev map (the old table-size probe did, and a real agent's read-only fd answered EPERM), not an
// ID table. The maps are fakes behind the same bpf(2) port the addon serves, recording every call.
import t from 'tap';
import { BPF_MAP_TYPE } from '../../../src/core/bpf/uapi.ts';
import { LB4_MAPS, type Lb4MapShape } from '../../../src/core/lb4/maps.ts';
import { BpfError, type MapInfo, type MapSpec } from '../../../src/native/bpf.ts';
import { openLb4Maps, type BpfMapHandle, type BpfPort } from '../../../src/speaker/dataplane/native-maps.ts';

interface Recorder {
  readonly calls: string[];
  readonly port: BpfPort;
}

const empty = (keySize: number, valueSize: number) => ({
  count: 0,
  keySize,
  valueSize,
  keys: new Uint8Array(0),
  values: new Uint8Array(0),
});

function handle(
  calls: string[],
  path: string,
  info: Omit<MapInfo, 'typeName' | 'id' | 'name' | 'maxEntries' | 'flags'>,
  dump = empty(info.keySize, info.valueSize),
): BpfMapHandle {
  const write = (op: string) => () => {
    calls.push(`${op} ${path}`);
  };
  return {
    path,
    info: { ...info, typeName: '', id: 1, name: '', maxEntries: 65536, flags: 0 },
    fd: 3,
    pin: write('pin'),
    close: () => {},
    lookup: () => undefined,
    update: write('update'),
    updateMany: write('updateMany'),
    deleteMany: () => {
      calls.push(`deleteMany ${path}`);
      return 0;
    },
    dump: () => dump,
  };
}

/** Cilium's maps as a 1.19 agent in maglev mode leaves them before any service has a table: maglev map empty. */
function ciliumNode(options: { innerTableSize?: number } = {}): Recorder {
  const calls: string[] = [];
  const shapes = new Map<string, Lb4MapShape>(Object.values(LB4_MAPS).map((s) => [s.name, s]));
  const port: BpfPort = {
    open(path, o) {
      calls.push(`open${o.readOnly ? ' read-only' : ''} ${path}`);
      const shape = shapes.get(path.slice(path.lastIndexOf('/') + 1));
      if (!shape || shape.role === 'affinity') throw new BpfError('BPF_OBJ_GET', path, 'ENOENT', undefined, null);
      if (shape.role === 'maglev' && options.innerTableSize !== undefined) {
        const values = new Uint8Array([42, 0, 0, 0]);
        return handle(calls, path, shape, { count: 1, keySize: 2, valueSize: 4, keys: new Uint8Array([0, 1]), values });
      }
      return handle(calls, path, shape);
    },
    create(spec: MapSpec) {
      calls.push(`create ${spec.name}`);
      return handle(calls, `map ${spec.name}`, spec);
    },
    fromId(id) {
      calls.push(`fromId ${id}`);
      return handle(calls, `inner ${id}`, {
        type: BPF_MAP_TYPE.ARRAY,
        keySize: 4,
        valueSize: 4 * (options.innerTableSize ?? 0),
      });
    },
    pinnedId(path) {
      calls.push(`pinnedId ${path}`);
      return 1;
    },
  };
  return { calls, port };
}

t.test('a read-only open of a maglev map without tables issues no create, update, delete or pin', async (t) => {
  const node = ciliumNode();
  const opened = openLb4Maps({ dir: '/sys/fs/bpf/tc/globals', ciliumVersion: '1.19', readOnly: true }, node.port);
  opened.maps.close();
  t.same(
    node.calls.filter((c) => !c.startsWith('open read-only ')),
    [],
    `only read-only opens: ${node.calls.join(', ')}`,
  );
  t.equal(opened.maps.maglev?.tableSize, undefined, 'no table to read, and no need to know its size');
});

t.test('a read-only open learns the table size from an existing inner map, still without writing', async (t) => {
  const node = ciliumNode({ innerTableSize: 251 });
  const opened = openLb4Maps(
    { dir: '/sys/fs/bpf/tc/globals', ciliumVersion: 'auto', readOnly: true, guessVersion: true },
    node.port,
  );
  t.equal(opened.maps.maglev?.tableSize, 251);
  t.same(
    node.calls.filter((c) => !c.startsWith('open read-only ') && !c.startsWith('fromId ')),
    [],
  );
});

t.test("a writer takes the size from Cilium's configuration and refuses tables of another size", async (t) => {
  const fresh = ciliumNode();
  const opened = openLb4Maps({ dir: '/d', ciliumVersion: '1.19', maglevTableSize: 16381 }, fresh.port);
  t.equal(opened.maps.maglev?.tableSize, 16381);
  t.notOk(
    fresh.calls.some((c) => c.startsWith('update ')),
    'no probe write into the maglev map',
  );
  t.throws(
    () =>
      openLb4Maps(
        { dir: '/d', ciliumVersion: '1.19', maglevTableSize: 16381 },
        ciliumNode({ innerTableSize: 251 }).port,
      ),
    {
      code: 'DATAPLANE_MAGLEV_TABLE_SIZE',
    },
  );
});
