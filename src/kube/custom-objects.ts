// Typed access to kube-lb's custom resources through client-node's CustomObjectsApi.
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION, PLURALS } from '../api/v1alpha1.ts';
import type { ListPage } from './paging.ts';
import { updateWithRetry, type UpdateOutcome } from './update.ts';
import { invariant } from '../shared/errors.ts';

export type Kind = keyof typeof PLURALS;

interface Named {
  metadata: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface ResourceClient<T extends Named> {
  readonly kind: Kind;
  /** API path for watches: /apis/kube-lb.io/v1alpha1[/namespaces/NS]/PLURAL */
  path(namespace?: string): string;
  /** One LIST request; with `page`, one page of it (see paging.ts to read them all). */
  list(
    namespace?: string,
    labelSelector?: string,
    page?: ListPage,
  ): Promise<{ items: T[]; metadata?: { resourceVersion?: string; continue?: string } }>;
  get(name: string, namespace?: string): Promise<T>;
  create(obj: T): Promise<T>;
  replace(obj: T): Promise<T>;
  replaceStatus(obj: T): Promise<T>;
  delete(name: string, namespace?: string): Promise<void>;
  /** Re-reads and re-applies `mutate` on conflict; no write when mutate returns undefined. */
  updateStatus(
    name: string,
    namespace: string | undefined,
    mutate: (cur: T) => T | undefined,
  ): Promise<UpdateOutcome<T>>;
  update(name: string, namespace: string | undefined, mutate: (cur: T) => T | undefined): Promise<UpdateOutcome<T>>;
}

export function resourceClient<T extends Named>(kc: k8s.KubeConfig, kind: Kind): ResourceClient<T> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const plural = PLURALS[kind];
  const base = { group: GROUP, version: VERSION, plural };
  const ns = (namespace: string | undefined): string => {
    invariant(namespace, () => `${kind} is namespaced: a namespace is required`);
    return namespace;
  };
  const namespaced = kind === 'VIPClaim';
  const client: ResourceClient<T> = {
    kind,
    path: (namespace) =>
      `/apis/${GROUP}/${VERSION}${namespaced && namespace ? `/namespaces/${namespace}` : ''}/${plural}`,
    async list(namespace, labelSelector, page) {
      const paging = page ? { limit: page.limit, _continue: page.continue } : {};
      const res: unknown =
        namespaced && namespace
          ? await api.listNamespacedCustomObject({ ...base, namespace, labelSelector, ...paging })
          : await api.listClusterCustomObject({ ...base, labelSelector, ...paging });
      return res as { items: T[] };
    },
    async get(name, namespace) {
      const res: unknown = namespaced
        ? await api.getNamespacedCustomObject({ ...base, namespace: ns(namespace), name })
        : await api.getClusterCustomObject({ ...base, name });
      return res as T;
    },
    async create(obj) {
      const res: unknown = namespaced
        ? await api.createNamespacedCustomObject({ ...base, namespace: ns(obj.metadata.namespace), body: obj })
        : await api.createClusterCustomObject({ ...base, body: obj });
      return res as T;
    },
    async replace(obj) {
      const name = obj.metadata.name!;
      const res: unknown = namespaced
        ? await api.replaceNamespacedCustomObject({ ...base, namespace: ns(obj.metadata.namespace), name, body: obj })
        : await api.replaceClusterCustomObject({ ...base, name, body: obj });
      return res as T;
    },
    async replaceStatus(obj) {
      const name = obj.metadata.name!;
      const res: unknown = namespaced
        ? await api.replaceNamespacedCustomObjectStatus({
            ...base,
            namespace: ns(obj.metadata.namespace),
            name,
            body: obj,
          })
        : await api.replaceClusterCustomObjectStatus({ ...base, name, body: obj });
      return res as T;
    },
    async delete(name, namespace) {
      if (namespaced) await api.deleteNamespacedCustomObject({ ...base, namespace: ns(namespace), name });
      else await api.deleteClusterCustomObject({ ...base, name });
    },
    updateStatus: (name, namespace, mutate) =>
      updateWithRetry({ read: () => client.get(name, namespace), mutate, write: (o) => client.replaceStatus(o) }),
    update: (name, namespace, mutate) =>
      updateWithRetry({ read: () => client.get(name, namespace), mutate, write: (o) => client.replace(o) }),
  };
  return client;
}
