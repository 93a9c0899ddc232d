// Guessing the Cilium version from what its agent wrote. Map names and sizes are the same in 1.14–1.20, so only
// entries can tell, and only Cilium's own (never kube-lb's). Each piece of evidence rules versions out; the
// answer is the newest version left, with the reasons. No evidence, or evidence that rules everything out,
// yields no answer: the operator must then say which version runs.
import type { PackedEntries } from '../bpf/packed.ts';
import { getHost16, getHost32, viewOf } from '../lb4/bytes.ts';
import { LB4_BACKEND_OFFSETS } from '../lb4/backend.ts';
import { CILIUM_VERSIONS, PROFILES, type CiliumVersion, type Lb4Profile } from '../lb4/profile.ts';
import { LB4_KEY_OFFSETS } from '../lb4/service-key.ts';
import { LB4_SERVICE_OFFSETS } from '../lb4/service-value.ts';
import { frontendKeyOfServiceKey } from './id-table.ts';

export interface Detection {
  /** The profile to use, or undefined when the evidence does not decide. */
  readonly profile: Lb4Profile | undefined;
  /** Versions consistent with every piece of evidence. */
  readonly candidates: readonly CiliumVersion[];
  readonly reasons: readonly string[];
}

interface Evidence {
  readonly services: PackedEntries;
  readonly backends: PackedEntries;
  /** Indexes into `services` / backend IDs that are kube-lb's and must not count as evidence. */
  readonly ourServiceEntry?: Uint8Array;
  readonly ourBackendIds?: ReadonlySet<number>;
  /**
   * Cilium's bpf-lb-proto-diff as its configuration says (default true). With it off, 1.17 writes protocol-less
   * keys too, so such keys no longer point at 1.14–1.16.
   */
  readonly protoDiff?: boolean;
}

const atLeast = (v: CiliumVersion): CiliumVersion[] => CILIUM_VERSIONS.filter((x) => x >= v);
const atMost = (v: CiliumVersion): CiliumVersion[] => CILIUM_VERSIONS.filter((x) => x <= v);

export function detectCiliumVersion(e: Evidence): Detection {
  let candidates = new Set<CiliumVersion>(CILIUM_VERSIONS);
  const reasons: string[] = [];
  const rule = (allowed: CiliumVersion[], reason: string): void => {
    candidates = new Set([...candidates].filter((v) => allowed.includes(v)));
    reasons.push(reason);
  };

  const svc = e.services;
  const k = viewOf(svc.keys);
  const v = viewOf(svc.values);
  const masterFlags = new Map<string, number>();
  let masters = 0;
  let protoMasters = 0;
  let protoLessPorts = 0;
  let qcount = false;
  let slotsCopyFlags = 0;
  let slotsZeroFlags = 0;
  for (let i = 0; i < svc.count; i++) {
    if (e.ourServiceEntry?.[i]) continue;
    const ko = i * svc.keySize;
    const vo = i * svc.valueSize;
    if (getHost16(k, ko + LB4_KEY_OFFSETS.backendSlot) !== 0) continue;
    const frontend = frontendKeyOfServiceKey(svc.keys, ko);
    masters++;
    const proto = k.getUint8(ko + LB4_KEY_OFFSETS.proto);
    const port = k.getUint16(ko + LB4_KEY_OFFSETS.dport);
    if (proto !== 0) protoMasters++;
    else if (port !== 0) protoLessPorts++;
    if (getHost16(v, vo + LB4_SERVICE_OFFSETS.tail) !== 0) qcount = true;
    masterFlags.set(frontend, v.getUint16(vo + LB4_SERVICE_OFFSETS.flags));
  }
  for (let i = 0; i < svc.count; i++) {
    if (e.ourServiceEntry?.[i]) continue;
    const ko = i * svc.keySize;
    if (getHost16(k, ko + LB4_KEY_OFFSETS.backendSlot) === 0) continue;
    const mf = masterFlags.get(frontendKeyOfServiceKey(svc.keys, ko));
    if (mf === undefined || mf === 0) continue;
    const sf = v.getUint16(i * svc.valueSize + LB4_SERVICE_OFFSETS.flags);
    if (sf === mf) slotsCopyFlags++;
    else if (sf === 0) slotsZeroFlags++;
  }

  if (protoMasters > 0) rule(atLeast('1.17'), `${protoMasters} Cilium service key(s) carry an L4 protocol (1.17+)`);
  if (protoLessPorts > 0 && e.protoDiff !== false) {
    rule(atMost('1.16'), `${protoLessPorts} Cilium service key(s) with a port have protocol 0 (1.14–1.16)`);
  }
  if (qcount) rule(atLeast('1.17'), 'a Cilium master has a non-zero qcount (1.17+)');
  if (slotsCopyFlags > 0) rule(atLeast('1.18'), "Cilium slots carry their master's flags (1.18+)");
  if (slotsZeroFlags > 0) rule(atMost('1.17'), 'Cilium slots have zero flags under flagged masters (up to 1.17)');

  const be = e.backends;
  const bk = viewOf(be.keys);
  const bv = viewOf(be.values);
  let beProto = false;
  let wideCluster = false;
  let zone = false;
  for (let i = 0; i < be.count; i++) {
    if (e.ourBackendIds?.has(getHost32(bk, i * be.keySize))) continue;
    const o = i * be.valueSize;
    if (bv.getUint8(o + LB4_BACKEND_OFFSETS.proto) !== 0) beProto = true;
    if (bv.getUint8(o + LB4_BACKEND_OFFSETS.clusterId + 1) !== 0) wideCluster = true;
    if (bv.getUint8(o + LB4_BACKEND_OFFSETS.zone) !== 0) zone = true;
  }
  if (beProto) rule(atLeast('1.17'), 'Cilium backends carry an L4 protocol (1.17+)');
  if (wideCluster) rule(atLeast('1.15'), 'a Cilium backend has a cluster ID above 255 (1.15+)');
  if (zone) rule(atLeast('1.16'), 'a Cilium backend has a zone (1.16+)');

  const left = CILIUM_VERSIONS.filter((x) => candidates.has(x));
  if (masters === 0 && be.count === 0) reasons.push('the maps hold no Cilium entries to learn from');
  const decided = left.length > 0 && reasons.length > 0 && sameWrites(left);
  return { profile: decided ? PROFILES[left[left.length - 1]!] : undefined, candidates: left, reasons };
}

/** Whether every candidate makes kube-lb write the same key protocol (the one difference that breaks traffic). */
function sameWrites(versions: readonly CiliumVersion[]): boolean {
  return new Set(versions.map((x) => PROFILES[x].keyProto)).size === 1;
}
