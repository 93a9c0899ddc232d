import t from 'tap';
import { ConfigError } from '../../../src/shared/errors.ts';
import { CILIUM_VERSIONS, keyProtoFor, PROFILES, profileFor } from '../../../src/core/lb4/profile.ts';
import { describeServiceFlags, LB_VIP_FLAGS, SVC_FLAG, SVC_FLAG2 } from '../../../src/core/lb4/flags.ts';
import { formatCidr4, formatIPv4, parseCidr4, parseIPv4 } from '../../../src/core/lb4/ipv4.ts';
import { Lb4CodecError } from '../../../src/core/lb4/errors.ts';

t.test('profiles follow the compatibility matrix', async (t) => {
  t.same(
    CILIUM_VERSIONS.map((v) => PROFILES[v].keyProto),
    ['any', 'any', 'any', 'l4', 'l4', 'l4', 'l4'],
  );
  t.same(
    CILIUM_VERSIONS.map((v) => PROFILES[v].protoFallback),
    [false, false, false, true, true, false, false],
  );
  t.same(
    CILIUM_VERSIONS.map((v) => PROFILES[v].backendTail),
    ['cluster8', 'cluster16', 'cluster16-zone', 'cluster16-zone', 'cluster16-zone', 'cluster16-zone', 'cluster16-zone'],
  );
  t.same(
    CILIUM_VERSIONS.map((v) => PROFILES[v].slotFlags),
    ['zero', 'zero', 'zero', 'quarantine', 'master', 'master', 'master'],
  );
  const { version: _v, ...v20 } = PROFILES['1.20'];
  const { version: _w, ...v19 } = PROFILES['1.19'];
  t.same(v20, v19, '1.20 writes what 1.19 writes (same lb4 structs and map names in bpf/lib/lb.h of v1.20.2)');
  t.equal(keyProtoFor(PROFILES['1.16'], 6), 0);
  t.equal(keyProtoFor(PROFILES['1.17'], 17), 17);
});

t.test('profileFor accepts minor and patch versions, refuses others', async (t) => {
  t.equal(profileFor('1.16').version, '1.16');
  t.equal(profileFor('v1.18.3').version, '1.18');
  t.equal(profileFor('1.20').version, '1.20');
  t.equal(profileFor('v1.20.2').version, '1.20');
  t.throws(() => profileFor('1.21'), ConfigError);
  t.throws(() => profileFor('1.13'), ConfigError);
  t.throws(() => profileFor('latest'), ConfigError);
});

t.test('flags', async (t) => {
  t.equal(LB_VIP_FLAGS, 0x60);
  t.same(describeServiceFlags(0x60, 0, PROFILES['1.16']), ['LoadBalancer']);
  t.same(
    describeServiceFlags(
      LB_VIP_FLAGS | SVC_FLAG.AFFINITY | SVC_FLAG.EXT_LOCAL_SCOPE,
      SVC_FLAG2.FWD_MODE_DSR,
      PROFILES['1.18'],
    ),
    ['LoadBalancer', 'Local', 'sessionAffinity', 'dsr'],
  );
  t.same(describeServiceFlags(0, 0, PROFILES['1.14']), ['ClusterIP', 'non-routable']);
});

t.test('IPv4 helpers', async (t) => {
  t.equal(parseIPv4('10.0.0.1'), 0x0a000001);
  t.equal(formatIPv4(0xc0a80101), '192.168.1.1');
  t.same(parseCidr4('192.168.7.9/16'), { address: 0xc0a80000, bits: 16 });
  t.equal(formatCidr4(parseCidr4('10.1.2.3')), '10.1.2.3/32');
  for (const bad of ['10.0.0', '10.0.0.256', '1.2.3.4/33', 'a.b.c.d', '1.2.3.4/1/2']) {
    t.throws(() => parseCidr4(bad), Lb4CodecError, bad);
  }
});
