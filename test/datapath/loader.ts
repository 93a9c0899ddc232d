// Loads the test-only tc datapath (lb_test.c, compiled by scripts/setup/test-bpf.sh) against Cilium-shaped
// maps: bpftool replaces the program's map definitions by the pinned maps, tc attaches it at ingress of the LB
// node's device. The program's own config map tells it which Cilium version's rules to follow.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BPF_MAP_TYPE } from '../../src/core/bpf/uapi.ts';
import { LB4_MAPS, type Lb4MapRole } from '../../src/core/lb4/maps.ts';
import { parseIPv4 } from '../../src/core/lb4/ipv4.ts';
import type { Lb4Profile } from '../../src/core/lb4/profile.ts';
import { BpfMap } from '../../src/native/bpf.ts';
import type { CiliumMaps } from '../../lab/cilium-maps.ts';
import { run, type Netns } from '../../lab/netns.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const TEST_DATAPATH_OBJECT = join(here, 'build', 'lb_test.o');
/** The object is compiled for Cilium's default maglev table size. */
export const TEST_DATAPATH_MAGLEV_M = 16381;

const PROTO_MODE = { any: 0, exactThenAny: 1, exact: 2 } as const;

function protoMode(profile: Lb4Profile): number {
  if (profile.keyProto === 'any') return PROTO_MODE.any;
  return profile.protoFallback ? PROTO_MODE.exactThenAny : PROTO_MODE.exact;
}

export interface AttachOptions {
  readonly maps: CiliumMaps;
  /** Where to pin the program and its config map (a bpffs directory). */
  readonly pinDir: string;
  readonly ns: Netns;
  readonly dev: string;
  /** The LB node's address: source of SNATed packets. */
  readonly nodeAddress: string;
}

export interface AttachedDatapath {
  readonly progPath: string;
  detach(): Promise<void>;
}

export async function attachTestDatapath(o: AttachOptions): Promise<AttachedDatapath> {
  if (!existsSync(TEST_DATAPATH_OBJECT)) {
    throw new Error(`${TEST_DATAPATH_OBJECT} is missing: run scripts/setup/test-bpf.sh (npm run setup does)`);
  }
  if (o.maps.maglevTableSize !== undefined && o.maps.maglevTableSize !== TEST_DATAPATH_MAGLEV_M) {
    throw new Error(`the test datapath is built for maglev tables of ${TEST_DATAPATH_MAGLEV_M}`);
  }
  const tag = randomBytes(3).toString('hex');
  const configPath = join(o.pinDir, `klb_test_config_${tag}`);
  const progPath = join(o.pinDir, `klb_test_prog_${tag}`);

  const config = BpfMap.create({
    type: BPF_MAP_TYPE.ARRAY,
    keySize: 4,
    valueSize: 16,
    maxEntries: 1,
    flags: 0,
    name: 'klb_config',
  });
  try {
    const value = Buffer.alloc(16);
    value.writeUInt32LE(protoMode(o.maps.profile), 0);
    value.writeUInt32LE(o.maps.maglevTableSize === undefined ? 0 : 1, 4);
    value.writeUInt32BE(parseIPv4(o.nodeAddress), 8);
    value.writeUInt32LE(o.maps.profile.flags2HighBits ? 1 : 0, 12);
    config.update(new Uint8Array(4), value);
    config.pin(configPath);
  } finally {
    config.close();
  }

  const reuse: string[] = [];
  for (const role of ['services', 'backends', 'revNat', 'sourceRange', 'maglev'] as Lb4MapRole[]) {
    const path = o.maps.paths[role];
    if (path) reuse.push('map', 'name', LB4_MAPS[role].name, 'pinned', path);
  }
  reuse.push('map', 'name', 'klb_config', 'pinned', configPath);
  await run('bpftool', ['prog', 'load', TEST_DATAPATH_OBJECT, progPath, 'type', 'classifier', ...reuse]);
  await o.ns.exec('tc', 'qdisc', 'add', 'dev', o.dev, 'clsact');
  await o.ns.exec('tc', 'filter', 'add', 'dev', o.dev, 'ingress', 'bpf', 'direct-action', 'object-pinned', progPath);
  return {
    progPath,
    async detach() {
      await o.ns.exec('tc', 'qdisc', 'del', 'dev', o.dev, 'clsact').catch(() => undefined);
      rmSync(progPath, { force: true });
      rmSync(configPath, { force: true });
    },
  };
}
