// Writes this node's entry of a BGPPeer's status.nodes by server-side apply, as a field manager of this node's
// own: status.nodes is a list-map keyed by node, so every speaker owns exactly its entry, and applying an empty
// list releases (removes) it. No read-modify-write, no conflicts between nodes.
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURALS, VERSION } from '../../api/v1alpha1.ts';
import type { PeerNodeStatus, PeerStatusSink } from './speaker.ts';

export function peerStatusWriter(kubeConfig: k8s.KubeConfig, nodeName: string): PeerStatusSink {
  const api = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const ssa = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
  return {
    async write(peer: string, entry: PeerNodeStatus | undefined): Promise<void> {
      await api.patchClusterCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURALS.BGPPeer,
          name: peer,
          body: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'BGPPeer',
            metadata: { name: peer },
            status: { nodes: entry ? [entry] : [] },
          },
          fieldManager: `kube-lb-speaker-${nodeName}`,
          force: true,
        },
        ssa,
      );
    },
  };
}
