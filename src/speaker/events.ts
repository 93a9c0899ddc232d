// Events the speaker records on claims: when this node takes over answering ARP for a claim's VIP (a new VIP, or
// a failover onto it), so `kubectl describe vipclaim` shows where the VIP has been. Best effort, aggregated by
// the recorder; one Event per claim sharing the VIP.
import { API_VERSION, type VIPClaim } from '../api/v1alpha1.ts';
import type { AddressInUse } from '../core/l2/duplicate-address.ts';
import type { EventRecorder } from '../kube/events.ts';

export function announcementEvents(
  recorder: EventRecorder,
  node: string,
  claims: () => readonly VIPClaim[],
): (vips: readonly string[]) => void {
  return (vips) => {
    const wanted = new Set(vips);
    for (const c of claims()) {
      const vip = c.status?.vip;
      if (!vip || !wanted.has(vip)) continue;
      void recorder.record(
        {
          apiVersion: API_VERSION,
          kind: 'VIPClaim',
          name: c.metadata.name ?? '',
          namespace: c.metadata.namespace,
          uid: c.metadata.uid,
        },
        'Normal',
        'Announcing',
        `LB node ${node} answers ARP for ${vip}`,
      );
    }
  };
}

/** A Warning on every claim of a VIP this node's duplicate-address probe found in use by another host. */
export function addressInUseEvents(
  recorder: EventRecorder,
  node: string,
  claims: () => readonly VIPClaim[],
): (conflict: AddressInUse) => void {
  return (conflict) => {
    for (const c of claims()) {
      if (c.status?.vip !== conflict.vip) continue;
      void recorder.record(
        {
          apiVersion: API_VERSION,
          kind: 'VIPClaim',
          name: c.metadata.name ?? '',
          namespace: c.metadata.namespace,
          uid: c.metadata.uid,
        },
        'Warning',
        'AddressInUse',
        `${conflict.vip} is in use on the segment: ${conflict.mac} answered the duplicate-address probe of LB node ${node} on ${conflict.ifname}; not announced until it is free`,
      );
    }
  };
}
