// Watches what says which addresses are never backends (src/core/allocation/deny-list.ts): the LB cluster's
// ServiceCIDRs (networking.k8s.io/v1, GA since Kubernetes 1.33), the `kubernetes` EndpointSlice in `default` (the
// apiservers' addresses) and the operator's deny-list ConfigMap in kube-lb's namespace. The allocator (its
// controller and webhook) and every speaker each run one, so all of them refuse the same addresses, and an edit of
// the ConfigMap applies everywhere within a watch event, without restarts. The EndpointSlice and the ConfigMap
// are watched by name (a metadata.name field selector, which RBAC matches against resourceNames). An LB cluster
// before 1.33 does not serve ServiceCIDRs (docs/compatibility.md): that source is left out, with a warning that the
// Service CIDR then belongs in the ConfigMap.
import * as k8s from '@kubernetes/client-node';
import {
  DENY_LIST_CONFIGMAP,
  DENY_LIST_KEY,
  lbClusterDenyList,
  splitEntries,
  type DeniedRange,
} from '../core/allocation/deny-list.ts';
import type { Logger } from '../shared/logger.ts';
import { createInformer, type TypedInformer } from './informer.ts';

export interface BackendDenySource {
  /** The ranges denied now. */
  denied(): readonly DeniedRange[];
  onChange(fn: () => void): void;
}

export class BackendDenyList implements BackendDenySource {
  readonly #logger: Logger;
  readonly #namespace: string;
  readonly #serviceCIDRs: TypedInformer<k8s.V1ServiceCIDR>;
  readonly #networking: k8s.NetworkingV1Api;
  /** Whether the API server serves ServiceCIDRs (decided at start). */
  #withServiceCIDRs = true;
  readonly #apiserver: TypedInformer<k8s.V1EndpointSlice>;
  readonly #configMap: TypedInformer<k8s.V1ConfigMap>;
  readonly #listeners: (() => void)[] = [];
  #denied: readonly DeniedRange[] | undefined;
  #lastInvalid = '';

  constructor(kubeConfig: k8s.KubeConfig, namespace: string, logger: Logger) {
    this.#logger = logger;
    this.#namespace = namespace;
    const networking = kubeConfig.makeApiClient(k8s.NetworkingV1Api);
    this.#networking = networking;
    const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
    const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.#serviceCIDRs = createInformer<k8s.V1ServiceCIDR>({
      kubeConfig,
      path: '/apis/networking.k8s.io/v1/servicecidrs',
      list: () => networking.listServiceCIDR(),
      logger: logger.child({ informer: 'ServiceCIDR' }),
    });
    const byName = (name: string) => `metadata.name=${name}`;
    this.#apiserver = createInformer<k8s.V1EndpointSlice>({
      kubeConfig,
      path: '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices',
      fieldSelector: byName('kubernetes'),
      list: () => discovery.listNamespacedEndpointSlice({ namespace: 'default', fieldSelector: byName('kubernetes') }),
      logger: logger.child({ informer: 'EndpointSlice' }),
    });
    this.#configMap = createInformer<k8s.V1ConfigMap>({
      kubeConfig,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      fieldSelector: byName(DENY_LIST_CONFIGMAP),
      list: () => core.listNamespacedConfigMap({ namespace, fieldSelector: byName(DENY_LIST_CONFIGMAP) }),
      logger: logger.child({ informer: 'ConfigMap' }),
    });
    for (const inf of this.#all()) {
      inf.on({ onUpsert: () => this.#changed(), onDelete: () => this.#changed() });
    }
  }

  /** Starts watching and resolves once every source was listed: until then nothing may be judged. */
  async start(): Promise<void> {
    this.#withServiceCIDRs = await this.#servesServiceCIDRs();
    if (!this.#withServiceCIDRs) {
      this.#logger.warn(
        { configMap: `${this.#namespace}/${DENY_LIST_CONFIGMAP}` },
        'this cluster serves no ServiceCIDRs (networking.k8s.io/v1, Kubernetes 1.33+): add its Service CIDR to the backend deny-list ConfigMap',
      );
    }
    await Promise.all(this.#all().map((inf) => inf.start()));
    await Promise.all(this.#all().map((inf) => inf.synced));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#all().map((inf) => inf.stop()));
  }

  denied(): readonly DeniedRange[] {
    if (this.#denied) return this.#denied;
    const cm = this.#configMap.get(DENY_LIST_CONFIGMAP, this.#namespace);
    const list = lbClusterDenyList({
      serviceCIDRs: (this.#withServiceCIDRs ? this.#serviceCIDRs.list() : []).map((s) => ({
        name: s.metadata?.name ?? '',
        cidrs: s.spec?.cidrs ?? [],
      })),
      apiservers: this.#apiserver.list().flatMap((slice) => (slice.endpoints ?? []).flatMap((e) => e.addresses)),
      configured: cm
        ? {
            source: `ConfigMap ${this.#namespace}/${DENY_LIST_CONFIGMAP} key ${DENY_LIST_KEY}`,
            entries: splitEntries(cm.data?.[DENY_LIST_KEY] ?? ''),
          }
        : undefined,
    });
    const invalid = list.invalid.join('; ');
    if (invalid && invalid !== this.#lastInvalid)
      this.#logger.warn({ invalid: list.invalid }, 'backend deny-list entries ignored');
    this.#lastInvalid = invalid;
    this.#denied = list.denied;
    return this.#denied;
  }

  onChange(fn: () => void): void {
    this.#listeners.push(fn);
  }

  #all(): TypedInformer<never>[] {
    const all = [this.#apiserver, this.#configMap] as TypedInformer<never>[];
    return this.#withServiceCIDRs ? [this.#serviceCIDRs as TypedInformer<never>, ...all] : all;
  }

  /** Discovery of networking.k8s.io/v1; an error other than "not there" counts as served (the informer retries). */
  async #servesServiceCIDRs(): Promise<boolean> {
    try {
      const list = await this.#networking.getAPIResources();
      return list.resources.some((r) => r.name === 'servicecidrs');
    } catch (err) {
      return (err as { code?: number }).code !== 404;
    }
  }

  #changed(): void {
    this.#denied = undefined;
    for (const fn of this.#listeners) fn();
  }
}
