// The speaker's BGP part, wired from its flags (BGP_OPTIONS): the BGP objects, FRR beside the speaker, and the
// BgpSpeaker that decides. It starts after the dataplane's first pass, so a restarted speaker never announces
// less than it serves because its programming is not known yet.
import type * as k8s from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { ConfigOf } from '../../shared/config.ts';
import type { Logger } from '../../shared/logger.ts';
import { metricsOn } from '../../shared/metrics.ts';
import type { SpeakerController } from '../controller.ts';
import type { DataplaneSink } from '../controller.ts';
import type { L2Inputs } from '../l2/inputs.ts';
import type { BGP_OPTIONS } from './config.ts';
import { Frr } from './frr.ts';
import { BgpObjectsView } from './inputs.ts';
import { peerStatusWriter } from './peer-status.ts';
import { servedVips } from './served.ts';
import { BgpSpeaker } from './speaker.ts';

export type BgpConfig = ConfigOf<typeof BGP_OPTIONS> & { readonly namespace: string; readonly 'node-name': string };

export interface BgpParts {
  readonly kubeConfig: k8s.KubeConfig;
  readonly controller: SpeakerController;
  readonly view: Pick<L2Inputs, 'vips' | 'nodeLabels' | 'onChange'>;
  readonly dataplane: Pick<DataplaneSink, 'onPass'>;
  readonly metrics: BgpMetrics;
  /** The LB nodes alive in the L2 membership's view (the BGPPeer summaries count only those). */
  readonly liveNodes: () => readonly string[];
  /** Whether the LB cluster has this Node. */
  readonly nodeExists: (name: string) => boolean;
}

/** The BGP metrics, declared whether or not BGP runs (a scrape shows them at zero without it). */
export function bgpMetrics(registry: Registry) {
  const metrics = metricsOn(registry);
  return {
    applies: metrics.counter('kube_lb_speaker_bgp_config_applies_total', 'FRR configuration applies, by result.', [
      'result',
    ]),
    prefixes: metrics.gauge('kube_lb_speaker_bgp_prefixes', 'Prefixes this node announces to some BGP peer.', []),
  };
}
export type BgpMetrics = ReturnType<typeof bgpMetrics>;

export async function buildBgpSpeaker(cfg: BgpConfig, logger: Logger, parts: BgpParts): Promise<BgpSpeaker> {
  const nodeName = cfg['node-name'];
  const frr = new Frr({
    vtySocketDir: cfg['frr-vty-socket'],
    binDir: cfg['frr-bin-dir'],
    reloadScript: cfg['frr-reload'],
    workDir: cfg['frr-work-dir'],
    logger: logger.child({ part: 'frr' }),
  });
  // Held for the process's lifetime: when it closes (any exit, SIGKILL too) FRR's guard drops every session.
  await frr.holdAlive(cfg['bgp-alive-fifo']);
  const objects = new BgpObjectsView(parts.kubeConfig, cfg.namespace, logger.child({ part: 'bgp-objects' }));
  const { applies, prefixes } = parts.metrics;
  const speaker = new BgpSpeaker({
    nodeName,
    objects,
    daemon: frr,
    served: () => servedVips(parts.controller, parts.view),
    nodeLabels: () => parts.view.nodeLabels(nodeName),
    routerId: cfg['bgp-router-id'] || undefined,
    status: peerStatusWriter(parts.kubeConfig, nodeName),
    statusPeriodMs: cfg['bgp-status-period'],
    liveNodes: parts.liveNodes,
    nodeExists: parts.nodeExists,
    logger,
    onApplied: (r) => {
      applies.inc({ result: r.ok ? 'ok' : 'error' });
      if (r.ok) prefixes.set(r.prefixes);
    },
  });
  await objects.start();
  objects.onChange(() => speaker.schedule());
  parts.view.onChange(() => speaker.schedule());
  // After the dataplane's first pass the controller knows what this node holds; before it, nothing is announced
  // that a previous speaker announced, so waiting costs nothing and avoids withdrawing what is served.
  await new Promise<void>((resolve) => {
    const off = parts.dataplane.onPass(() => {
      off();
      resolve();
    });
  });
  speaker.start();
  return speaker;
}
