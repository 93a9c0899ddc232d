// The BGP objects the speaker watches: BGPPeers, BGPAdvertisements and BFDProfiles (cluster-scoped), and the
// Secrets in the speakers' namespace that hold peer passwords, read by name (the speaker may get a Secret, never
// list or watch them): when the peers change and every SECRET_REFRESH_MS, so a rotated password is applied. Converted to the plan's inputs with the CRD's
// defaults filled in, so an object written before a default existed plans the same as a new one.
import * as k8s from '@kubernetes/client-node';
import type { BFDProfile, BGPAdvertisement, BGPPeer } from '../../api/v1alpha1.ts';
import type { AdvertisementInput, BfdProfileInput } from '../../core/bgp/plan.ts';
import type { TypedInformer } from '../../kube/informer.ts';
import { customInformer } from '../../kube/cluster-informers.ts';
import type { Logger } from '../../shared/logger.ts';
import type { BgpObjects } from './speaker.ts';

type Custom<T> = T & k8s.KubernetesObject;

const SECRET_REFRESH_MS = 30_000;

export class BgpObjectsView implements BgpObjects {
  readonly #peers: TypedInformer<Custom<BGPPeer>>;
  readonly #ads: TypedInformer<Custom<BGPAdvertisement>>;
  readonly #bfd: TypedInformer<Custom<BFDProfile>>;
  readonly #core: k8s.CoreV1Api;
  readonly #namespace: string;
  readonly #logger: Logger;
  /** Secret name → its data (base64), for the Secrets some peer names; missing Secrets are absent. */
  #secrets = new Map<string, Record<string, string>>();
  #secretTimer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;
  #notifyAgain = false;
  readonly #listeners: (() => void)[] = [];

  constructor(kubeConfig: k8s.KubeConfig, namespace: string, logger: Logger) {
    this.#namespace = namespace;
    this.#logger = logger;
    const replay = { logger, resyncMs: 60_000 };
    this.#peers = customInformer<BGPPeer>(kubeConfig, 'BGPPeer', replay);
    this.#ads = customInformer<BGPAdvertisement>(kubeConfig, 'BGPAdvertisement', replay);
    this.#bfd = customInformer<BFDProfile>(kubeConfig, 'BFDProfile', replay);
    this.#core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  }

  async start(): Promise<void> {
    await Promise.all([this.#peers.start(), this.#ads.start(), this.#bfd.start()]);
    // A peer change is passed on only once the Secrets it names are read: planning it before would drop a peer
    // whose password is not loaded yet, and reset its session.
    this.#peers.on({
      onUpsert: () => void this.#refreshSecrets(true),
      onDelete: () => void this.#refreshSecrets(true),
    });
    await this.#refreshSecrets();
    const tick = (): void => {
      this.#secretTimer = setTimeout(() => void this.#refreshSecrets().finally(tick), SECRET_REFRESH_MS);
    };
    tick();
  }

  async stop(): Promise<void> {
    if (this.#secretTimer) clearTimeout(this.#secretTimer);
    this.#secretTimer = undefined;
    await Promise.all([this.#peers.stop(), this.#ads.stop(), this.#bfd.stop()]);
  }

  onChange(fn: () => void): void {
    for (const i of [this.#ads, this.#bfd] as TypedInformer<k8s.KubernetesObject>[]) {
      i.on({ onUpsert: fn, onDelete: fn });
    }
    this.#listeners.push(fn);
  }

  /** Reads the Secrets the peers name; tells the listeners when what they hold changed (or always, `notify`). */
  #refreshSecrets(notify = false): Promise<void> {
    if (this.#refreshing) {
      // A read in flight may have listed the peers before this change: one more pass after it.
      this.#refreshAgain ||= true;
      this.#notifyAgain ||= notify;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      const names = new Set(
        this.#peers.list().flatMap((p) => (p.spec?.passwordSecret ? [p.spec.passwordSecret.name] : [])),
      );
      const next = new Map<string, Record<string, string>>();
      for (const name of names) {
        try {
          const s = await this.#core.readNamespacedSecret({ name, namespace: this.#namespace });
          next.set(name, s.data ?? {});
        } catch (err) {
          if ((err as { code?: number }).code !== 404) {
            // Unknown is not absent: keep what was read last rather than drop a working password.
            const had = this.#secrets.get(name);
            if (had) next.set(name, had);
            this.#logger.warn({ err, secret: name }, 'BGP password Secret not read');
          }
        }
      }
      const changed = JSON.stringify([...next].sort()) !== JSON.stringify([...this.#secrets].sort());
      this.#secrets = next;
      if (changed || notify) for (const fn of this.#listeners) fn();
    })().finally(() => {
      this.#refreshing = undefined;
      if (this.#refreshAgain) {
        const again = this.#notifyAgain;
        this.#refreshAgain = false;
        this.#notifyAgain = false;
        void this.#refreshSecrets(again);
      }
    });
    return this.#refreshing;
  }

  peers(): ReturnType<BgpObjects['peers']> {
    return this.#peers.list().flatMap((p) => {
      const s = p.spec;
      if (!s || p.metadata.deletionTimestamp) return [];
      return [
        {
          name: p.metadata.name ?? '',
          myASN: s.myASN,
          peerASN: s.peerASN,
          peerAddress: s.peerAddress,
          peerPort: s.peerPort ?? 179,
          sourceAddress: s.sourceAddress,
          holdTimeSeconds: s.holdTimeSeconds ?? 90,
          keepaliveTimeSeconds: s.keepaliveTimeSeconds ?? 30,
          connectTimeSeconds: s.connectTimeSeconds,
          ebgpMultiHop: s.ebgpMultiHop ?? false,
          nodeSelector: s.nodeSelector,
          bfdProfile: s.bfdProfile,
          ...(s.passwordSecret
            ? { passwordSecret: { name: s.passwordSecret.name, key: s.passwordSecret.key ?? 'password' } }
            : {}),
        },
      ];
    });
  }

  statuses(): ReturnType<BgpObjects['statuses']> {
    return this.#peers.list().map((p) => ({
      name: p.metadata.name ?? '',
      nodes: p.status?.nodes ?? [],
      established: p.status?.established,
      conditions: p.status?.conditions,
    }));
  }

  advertisements(): AdvertisementInput[] {
    return this.#ads.list().flatMap((a) => {
      const s = a.spec;
      if (!s || a.metadata.deletionTimestamp) return [];
      return [
        {
          name: a.metadata.name ?? '',
          poolSelector: s.poolSelector,
          nodeSelector: s.nodeSelector,
          peers: s.peers ?? [],
          aggregationLength: s.aggregationLength ?? 32,
          aggregationLengthV6: s.aggregationLengthV6 ?? 128,
          communities: s.communities ?? [],
          largeCommunities: s.largeCommunities ?? [],
          localPref: s.localPref,
        },
      ];
    });
  }

  bfdProfiles(): BfdProfileInput[] {
    return this.#bfd.list().map((b) => {
      const s = b.spec ?? {};
      return {
        name: b.metadata.name ?? '',
        receiveIntervalMs: s.receiveIntervalMs ?? 300,
        transmitIntervalMs: s.transmitIntervalMs ?? 300,
        detectMultiplier: s.detectMultiplier ?? 3,
        echoMode: s.echoMode ?? false,
        echoIntervalMs: s.echoIntervalMs ?? 50,
        passiveMode: s.passiveMode ?? false,
        minimumTtl: s.minimumTtl ?? 254,
      };
    });
  }

  secretValue(name: string, key: string): string | undefined {
    const data = this.#secrets.get(name)?.[key];
    return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
  }
}
