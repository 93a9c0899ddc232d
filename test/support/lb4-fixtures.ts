// Synthetic foreign entries: encoded by kube-lb's own codecs, in the layout the profile says Cilium uses. Only for
// tests that need IDs or addresses of their own choosing (collisions with the IDs kube-lb prefers, a foreign
// service on a lab backend that carries traffic) or lines without golden dumps (1.14–1.16). What a real agent
// writes is in test/fixtures/cilium (test/support/cilium-golden.ts); prefer that wherever it fits.
import { encode } from '../../src/core/lb4/codec.ts';
import { backendIdCodec, lb4BackendCodec } from '../../src/core/lb4/backend.ts';
import { LB_VIP_FLAGS } from '../../src/core/lb4/flags.ts';
import { parseIPv4 } from '../../src/core/lb4/ipv4.ts';
import { keyProtoFor, type Lb4Profile } from '../../src/core/lb4/profile.ts';
import { lb4ReverseNatCodec, revNatKeyCodec } from '../../src/core/lb4/reverse-nat.ts';
import { lb4KeyCodec } from '../../src/core/lb4/service-key.ts';
import { lb4ServiceCodec } from '../../src/core/lb4/service-value.ts';

export interface ForeignService {
  readonly vip: string;
  readonly port: number;
  readonly proto: number;
  readonly revNat: number;
  readonly backends: ReadonlyArray<{ readonly id: number; readonly address: string; readonly port: number }>;
  readonly flags?: number;
}

export interface RawEntry {
  readonly map: 'services' | 'backends' | 'revNat';
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** The entries Cilium's agent writes for one service in this profile (slots carry flags as that version does). */
export function foreignServiceEntries(profile: Lb4Profile, f: ForeignService): RawEntry[] {
  const address = parseIPv4(f.vip);
  const proto = keyProtoFor(profile, f.proto);
  const flags = f.flags ?? LB_VIP_FLAGS;
  const svc = lb4ServiceCodec(profile);
  const be = lb4BackendCodec(profile);
  const key = (slot: number): Uint8Array => encode(lb4KeyCodec, { address, port: f.port, slot, proto, scope: 0 });
  const slotFlags = profile.slotFlags === 'master' ? flags : 0;
  return [
    ...f.backends.map((b) => ({
      map: 'backends' as const,
      key: encode(backendIdCodec, b.id),
      value: encode(be, {
        address: parseIPv4(b.address),
        port: b.port,
        proto: profile.backendProto === 'l4' ? f.proto : 0,
        state: 0,
        clusterId: 0,
        zone: 0,
      }),
    })),
    ...f.backends.map((b, i) => ({
      map: 'services' as const,
      key: key(i + 1),
      value: encode(svc, { union: b.id, count: 0, revNat: f.revNat, flags: slotFlags, flags2: 0, qcount: 0 }),
    })),
    {
      map: 'revNat',
      key: encode(revNatKeyCodec, f.revNat),
      value: encode(lb4ReverseNatCodec, { address, port: f.port }),
    },
    {
      map: 'services',
      key: key(0),
      value: encode(svc, { union: 0, count: f.backends.length, revNat: f.revNat, flags, flags2: 0, qcount: 0 }),
    },
  ];
}
