// Writes the allocator's part of a status with server-side apply on the status subresource. Claims' status is
// shared with the speakers (programmedNodes, announcedBy, Programmed/Announced conditions) and tenants' with
// their agent (lastHeartbeatTime): conditions are a list-map keyed by type, so applying only the fields and
// condition types the allocator owns leaves everybody else's alone, in one request, without conflicts.
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, PLURALS, VERSION } from '../api/v1alpha1.ts';
import type { Kind } from '../kube/custom-objects.ts';

export const FIELD_MANAGER = 'kube-lb-allocator';

export interface StatusWriter {
  /** Resolves to the new resourceVersion. Throws the API error (404 when the object is gone). */
  apply(kind: Kind, name: string, namespace: string | undefined, status: object): Promise<string | undefined>;
}

export function createStatusWriter(kc: k8s.KubeConfig): StatusWriter {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const ssa = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
  return {
    async apply(kind, name, namespace, status) {
      const body = { apiVersion: API_VERSION, kind, metadata: { name, ...(namespace ? { namespace } : {}) }, status };
      const common = {
        group: GROUP,
        version: VERSION,
        plural: PLURALS[kind],
        name,
        body,
        fieldManager: FIELD_MANAGER,
        force: true,
      };
      const res = (
        namespace
          ? await api.patchNamespacedCustomObjectStatus({ ...common, namespace }, ssa)
          : await api.patchClusterCustomObjectStatus(common, ssa)
      ) as { metadata?: { resourceVersion?: string } };
      return res.metadata?.resourceVersion;
    },
  };
}
