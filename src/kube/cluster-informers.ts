// The informers several programs make the same way: one of kube-lb's own kinds cluster-wide, and the Nodes.
// Both page their LISTs (a speaker at 50,000 claims would otherwise ask for all of them in one response on every
// relist).
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.ts';
import { resourceClient, type Kind } from './custom-objects.ts';
import { createInformer, type TypedInformer } from './informer.ts';

type Custom<T> = T & k8s.KubernetesObject;

export interface ClusterInformerOptions<T> {
  logger: Logger;
  /** Replays the cache through onUpsert this often; 0 (the default) disables. */
  resyncMs?: number;
  /** What each object is trimmed to before it is cached (informer.ts). */
  transform?: (obj: T) => T;
  /** Objects per LIST page (informer.ts's default unless set). */
  pageSize?: number;
}

/** An informer of every object of one of kube-lb's kinds. */
export function customInformer<T extends { metadata: { name?: string } }>(
  kubeConfig: k8s.KubeConfig,
  kind: Kind,
  options: ClusterInformerOptions<Custom<T>>,
): TypedInformer<Custom<T>> {
  const client = resourceClient<Custom<T>>(kubeConfig, kind);
  return createInformer<Custom<T>>({
    kubeConfig,
    path: client.path(),
    list: (page) => client.list(undefined, undefined, page),
    ...options,
  });
}

/** An informer of the cluster's Nodes. */
export function nodeInformer(
  kubeConfig: k8s.KubeConfig,
  options: ClusterInformerOptions<k8s.V1Node>,
): TypedInformer<k8s.V1Node> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  return createInformer<k8s.V1Node>({
    kubeConfig,
    path: '/api/v1/nodes',
    list: (page) => core.listNode({ limit: page.limit, _continue: page.continue }),
    ...options,
  });
}
