// Small builders for BGPPeer, BGPAdvertisement and BFDProfile objects, as an API client writes them (no
// creationTimestamp, no status), for the webhook's unit and control-plane tests.
import type {
  BFDProfile,
  BFDProfileSpec,
  BGPAdvertisement,
  BGPAdvertisementSpec,
  BGPPeer,
  BGPPeerSpec,
} from '../../src/api/v1alpha1.ts';
import type { World } from '../../src/core/allocation/admission.ts';

/** A World's BGP objects when a test has none. */
export const NO_BGP: Pick<World, 'bgpPeers' | 'bgpAdvertisements' | 'bfdProfiles'> = {
  bgpPeers: [],
  bgpAdvertisements: [],
  bfdProfiles: [],
};

export function bgpPeer(name: string, peerAddress: string, spec: Partial<BGPPeerSpec> = {}): BGPPeer {
  return {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'BGPPeer',
    metadata: { name },
    spec: { myASN: 64512, peerASN: 64513, peerAddress, ...spec },
  };
}

export function bgpAdvertisement(name: string, spec: BGPAdvertisementSpec = {}): BGPAdvertisement {
  return { apiVersion: 'kube-lb.io/v1alpha1', kind: 'BGPAdvertisement', metadata: { name }, spec };
}

export function bfdProfile(name: string, spec: BFDProfileSpec = {}): BFDProfile {
  return { apiVersion: 'kube-lb.io/v1alpha1', kind: 'BFDProfile', metadata: { name }, spec };
}
