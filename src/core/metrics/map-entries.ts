// Entries in Cilium's lb4 maps by owner (kube-lb's or Cilium's), for the map-entries gauge: how much of each
// map kube-lb uses, and how close the node is to --bpf-lb-map-max. Pure: decodes a snapshot with the same
// ownership rules the planner uses.
import { getHost32, getNet16, viewOf } from '../lb4/bytes.ts';
import type { MapsSnapshot, Ownership } from '../dataplane/ownership.ts';
import type { PackedEntries } from '../bpf/packed.ts';

export interface MapEntryCount {
  map: 'services' | 'backends' | 'revNat';
  owner: 'kube-lb' | 'other';
  count: number;
}

function split(entries: PackedEntries, ours: (i: number) => boolean, map: MapEntryCount['map']): MapEntryCount[] {
  let mine = 0;
  for (let i = 0; i < entries.count; i++) if (ours(i)) mine++;
  return [
    { map, owner: 'kube-lb', count: mine },
    { map, owner: 'other', count: entries.count - mine },
  ];
}

export function mapEntryCounts(snapshot: MapsSnapshot, own: Ownership): MapEntryCount[] {
  const backendKeys = viewOf(snapshot.backends.keys);
  const revNatKeys = viewOf(snapshot.revNat.keys);
  return [
    ...split(snapshot.services, (i) => own.ourServiceEntry[i] === 1, 'services'),
    ...split(
      snapshot.backends,
      (i) => own.ourBackendIds.has(getHost32(backendKeys, i * snapshot.backends.keySize)),
      'backends',
    ),
    ...split(
      snapshot.revNat,
      (i) => own.ourServiceIds.has(getNet16(revNatKeys, i * snapshot.revNat.keySize)),
      'revNat',
    ),
  ];
}
