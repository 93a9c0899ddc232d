// The two narrow ports the reconciler writes through: consumer Services (finalizers, status) and VIPClaims in the
// tenant namespace. Every write carries the resourceVersion it was computed from, so a concurrent change makes it
// fail with a conflict instead of overwriting what the agent has not seen.
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURALS, VERSION, type VIPClaim } from '../api/v1alpha1.ts';
import { resourceClient } from '../kube/custom-objects.ts';
import type { JsonPatchOp } from '../core/agent/plan.ts';
import type { ServiceStatusView, ServiceView } from '../core/agent/views.ts';

export interface ServicePort {
  get(namespace: string, name: string): Promise<ServiceView>;
  setFinalizers(svc: ServiceView, finalizers: string[]): Promise<ServiceView>;
  setStatus(svc: ServiceView, status: ServiceStatusView): Promise<ServiceView>;
}

export interface ClaimPort {
  get(name: string): Promise<VIPClaim>;
  create(claim: VIPClaim): Promise<VIPClaim>;
  patch(name: string, patch: JsonPatchOp[]): Promise<VIPClaim>;
  delete(name: string): Promise<void>;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** Typed reads give Dates, watch events strings: the core compares condition times as strings. */
export function serviceView(svc: k8s.V1Service): ServiceView {
  const view = svc as unknown as ServiceView;
  const conditions = view.status?.conditions;
  if (!conditions?.some((c) => (c.lastTransitionTime as unknown) instanceof Date)) return view;
  return {
    ...view,
    status: {
      ...view.status,
      conditions: conditions.map((c) => ({
        ...c,
        lastTransitionTime: toTime(c.lastTransitionTime as unknown),
      })),
    },
  };
}

const toTime = (t: unknown): string => (t instanceof Date ? t.toISOString().replace(/\.\d{3}Z$/, 'Z') : String(t));

export function servicePort(kc: k8s.KubeConfig): ServicePort {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const meta = (svc: ServiceView): { name: string; namespace: string } => ({
    name: svc.metadata?.name ?? '',
    namespace: svc.metadata?.namespace ?? '',
  });
  return {
    get: async (namespace, name) => serviceView(await core.readNamespacedService({ name, namespace })),
    async setFinalizers(svc, finalizers) {
      const body = { metadata: { resourceVersion: svc.metadata?.resourceVersion, finalizers } };
      return serviceView(await core.patchNamespacedService({ ...meta(svc), body }, mergePatch));
    },
    async setStatus(svc, status) {
      const body = {
        metadata: { resourceVersion: svc.metadata?.resourceVersion },
        status: { loadBalancer: status.loadBalancer ?? {}, conditions: status.conditions ?? [] },
      };
      return serviceView(await core.patchNamespacedServiceStatus({ ...meta(svc), body }, mergePatch));
    },
  };
}

export function claimPort(kc: k8s.KubeConfig, tenantNamespace: string): ClaimPort {
  const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  return {
    get: (name) => claims.get(name, tenantNamespace),
    create: (claim) => claims.create(claim),
    patch: async (name, patch) =>
      (await custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, plural: PLURALS.VIPClaim, namespace: tenantNamespace, name, body: patch },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
      )) as VIPClaim,
    delete: (name) => claims.delete(name, tenantNamespace),
  };
}
