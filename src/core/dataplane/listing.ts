// The maps as frontends with their slots, backends, reverse NAT and flags, each marked kube-lb's or not: what
// `kube-lb maps list` prints, in the spirit of `cilium-dbg bpf lb list`. Pure: it decodes a snapshot.
import type { PackedEntries } from '../bpf/packed.ts';
import { backendIdCodec, lb4BackendCodec, type Lb4Backend } from '../lb4/backend.ts';
import { decode } from '../lb4/codec.ts';
import { backendStateName, describeServiceFlags, SVC_FLAG } from '../lb4/flags.ts';
import { formatIPv4, protocolName } from '../lb4/ipv4.ts';
import type { Lb4Profile } from '../lb4/profile.ts';
import { lb4ReverseNatCodec, revNatKeyCodec, type Lb4ReverseNat } from '../lb4/reverse-nat.ts';
import { lb4KeyCodec, type Lb4Key } from '../lb4/service-key.ts';
import { lb4ServiceCodec, unpackAffinity, type Lb4Service } from '../lb4/service-value.ts';
import { sourceRangeKeyCodec } from '../lb4/source-range.ts';
import type { MapsSnapshot, Ownership } from './ownership.ts';

export interface ListedBackend {
  readonly slot: number;
  readonly backendId: number;
  /** "10.1.0.5:30080/TCP", or undefined when the backend entry is missing. */
  readonly address: string | undefined;
  readonly state: string | undefined;
  /** Within `count` (selectable) or after it (draining / quarantined). */
  readonly active: boolean;
}

export interface ListedFrontend {
  /** "10.20.0.1:80/TCP" (protocol ANY where the key has none). */
  readonly frontend: string;
  readonly scope: 'external' | 'internal';
  readonly serviceId: number;
  readonly owner: 'kube-lb' | 'other';
  readonly flags: readonly string[];
  readonly rawFlags: { readonly flags: number; readonly flags2: number };
  readonly count: number;
  readonly qcount: number;
  readonly affinityTimeout: number | undefined;
  readonly backends: readonly ListedBackend[];
  /** "10.20.0.1:80", or undefined when the revNAT entry is missing (replies would break). */
  readonly reverseNat: string | undefined;
  readonly sourceRanges: readonly string[];
  /** Whether a maglev table exists for the service (undefined when Cilium has no maglev map). */
  readonly maglevTable: boolean | undefined;
}

function each(e: PackedEntries, fn: (key: Uint8Array, value: Uint8Array, index: number) => void): void {
  for (let i = 0; i < e.count; i++) {
    fn(
      e.keys.subarray(i * e.keySize, (i + 1) * e.keySize),
      e.values.subarray(i * e.valueSize, (i + 1) * e.valueSize),
      i,
    );
  }
}

export function listFrontends(s: MapsSnapshot, profile: Lb4Profile, own: Ownership): ListedFrontend[] {
  const svcCodec = lb4ServiceCodec(profile);
  const beCodec = lb4BackendCodec(profile);
  const backends = new Map<number, Lb4Backend>();
  each(s.backends, (k, v) => backends.set(decode(backendIdCodec, k), decode(beCodec, v)));
  const revNats = new Map<number, Lb4ReverseNat>();
  each(s.revNat, (k, v) => revNats.set(decode(revNatKeyCodec, k), decode(lb4ReverseNatCodec, v)));
  const ranges = new Map<number, string[]>();
  if (s.sourceRange) {
    each(s.sourceRange, (k) => {
      const r = decode(sourceRangeKeyCodec, k);
      ranges.set(r.revNat, [...(ranges.get(r.revNat) ?? []), `${formatIPv4(r.address)}/${r.bits}`]);
    });
  }
  const masters: Array<{ key: Lb4Key; value: Lb4Service; ours: boolean }> = [];
  const slots = new Map<string, Array<{ slot: number; value: Lb4Service }>>();
  const frontendOf = (k: Lb4Key): string => `${k.address}/${k.port}/${k.proto}/${k.scope}`;
  each(s.services, (k, v, i) => {
    const key = decode(lb4KeyCodec, k);
    const value = decode(svcCodec, v);
    if (key.slot === 0) masters.push({ key, value, ours: own.ourServiceEntry[i] === 1 });
    else slots.set(frontendOf(key), [...(slots.get(frontendOf(key)) ?? []), { slot: key.slot, value }]);
  });
  masters.sort(
    (a, b) =>
      a.key.address - b.key.address ||
      a.key.port - b.key.port ||
      a.key.proto - b.key.proto ||
      a.key.scope - b.key.scope,
  );
  return masters.map(({ key, value, ours }) => {
    const rn = revNats.get(value.revNat);
    const listedBackends = (slots.get(frontendOf(key)) ?? [])
      .sort((a, b) => a.slot - b.slot)
      .map(({ slot, value: sv }): ListedBackend => {
        const b = backends.get(sv.union);
        return {
          slot,
          backendId: sv.union,
          address: b ? `${formatIPv4(b.address)}:${b.port}/${protocolName(b.proto)}` : undefined,
          state: b ? backendStateName(b.state) : undefined,
          active: slot <= value.count,
        };
      });
    return {
      frontend: `${formatIPv4(key.address)}:${key.port}/${protocolName(key.proto)}`,
      scope: key.scope === 0 ? 'external' : 'internal',
      serviceId: value.revNat,
      owner: ours ? 'kube-lb' : 'other',
      flags: describeServiceFlags(value.flags, value.flags2, profile),
      rawFlags: { flags: value.flags, flags2: value.flags2 },
      count: value.count,
      qcount: value.qcount,
      affinityTimeout:
        value.flags & SVC_FLAG.AFFINITY ? unpackAffinity(profile, value.union).timeoutSeconds : undefined,
      backends: listedBackends,
      reverseNat: rn ? `${formatIPv4(rn.address)}:${rn.port}` : undefined,
      sourceRanges: (ranges.get(value.revNat) ?? []).sort(),
      maglevTable: s.maglev ? s.maglev.has(value.revNat) : undefined,
    };
  });
}

/** The listing as text columns, one line per master and one per slot. */
export function formatListing(frontends: readonly ListedFrontend[]): string {
  const rows: Array<[string, string, string]> = [['SERVICE ADDRESS', 'BACKEND ADDRESS (REVNAT_ID) (SLOT)', 'OWNER']];
  for (const f of frontends) {
    const extras = [
      ...f.flags,
      ...(f.affinityTimeout !== undefined ? [`affinity ${f.affinityTimeout}s`] : []),
      ...(f.sourceRanges.length ? [`ranges ${f.sourceRanges.join(',')}`] : []),
      ...(f.maglevTable === false && f.count > 0 ? ['NO MAGLEV TABLE'] : []),
      `revnat ${f.reverseNat ?? 'MISSING'}`,
    ];
    const name = `${f.frontend}${f.scope === 'internal' ? '/i' : ''}`;
    rows.push([name, `0.0.0.0:0 (${f.serviceId}) (0) [${extras.join(', ')}]`, f.owner]);
    for (const b of f.backends) {
      const addr = b.address ?? `backend ${b.backendId} not found`;
      const state = b.active ? '' : ` [${b.state ?? 'unknown'}, not selectable]`;
      rows.push(['', `${addr} (${f.serviceId}) (${b.slot})${state}`, '']);
    }
  }
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return `${rows.map(([a, b, c]) => `${a.padEnd(w0)}   ${b.padEnd(w1)}   ${c}`.trimEnd()).join('\n')}\n`;
}
