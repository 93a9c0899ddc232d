// Writes a BGPPeer's status by server-side apply. Each node's entry of status.nodes goes under a field manager of
// that node's own: status.nodes is a list-map keyed by node, so every speaker owns exactly its entry, and applying
// an empty list releases (removes) it. The summary (status.established and the Established condition) goes under
// one manager whichever node writes it. No read-modify-write, no conflicts between nodes; only the entry of a node
// that no longer exists is removed by another, with a JSON patch that tests it first.
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURALS, VERSION } from '../../api/v1alpha1.ts';
import type { PeerNodeStatus, PeerStatusSink } from './speaker.ts';

export function peerStatusWriter(kubeConfig: k8s.KubeConfig, nodeName: string): PeerStatusSink {
  const api = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const ssa = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
  const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
  const patch = (peer: string, body: object, options: typeof ssa, fieldManager?: string) =>
    api.patchClusterCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURALS.BGPPeer,
        name: peer,
        body,
        ...(fieldManager ? { fieldManager, force: true } : {}),
      },
      options,
    );
  const apply = (peer: string, status: object, fieldManager: string) =>
    patch(
      peer,
      { apiVersion: `${GROUP}/${VERSION}`, kind: 'BGPPeer', metadata: { name: peer }, status },
      ssa,
      fieldManager,
    );
  return {
    async write(peer: string, entry: PeerNodeStatus | undefined): Promise<void> {
      await apply(peer, { nodes: entry ? [entry] : [] }, `kube-lb-speaker-${nodeName}`);
    },
    // One field manager for the summary whichever node writes it, so the next writer replaces it, never adds.
    async writeSummary(peer, summary): Promise<void> {
      await apply(peer, summary, 'kube-lb-speaker-summary');
    },
    // A JSON patch that holds only while the entry at `index` is still that node's (the test fails the patch).
    async removeEntry(peer, node, index): Promise<void> {
      const at = `/status/nodes/${index}`;
      await patch(
        peer,
        [
          { op: 'test', path: `${at}/node`, value: node },
          { op: 'remove', path: at },
        ],
        jsonPatch,
      );
    },
  };
}
