// The lab's BGP side (TopologyOptions.bgp): a router between a remote client and the LB nodes, running BIRD 2
// (a different implementation from the speakers' FRR, as in a real data centre), and FRR on every LB node under
// the guard the speaker Pod's sidecar runs (deploy/frr/frr-guard.sh).
//
//   remote client 203.0.113.10 ── remote segment 203.0.113.0/24 ── .1 router .254 ── client segment (LB nodes' eth0)
//
// The router peers with every LB node over iBGP (AS 64512 on both sides, so localPref travels), installs the VIP
// routes with one next hop per announcing node (ECMP, hashed on L4 ports) through resilient nexthop groups
// (lab/resilient-fib.ts: a next hop that goes moves only its own flows), and runs BFD with them. The LB nodes
// reach the remote segment through the router by a static route; they take no routes from BGP.
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { BFDProfile, BGPAdvertisement, BGPPeer } from '../src/api/v1alpha1.ts';
import { resourceClient } from '../src/kube/custom-objects.ts';
import { startBirdRouter, type BirdRouter } from './bird-router.ts';
import { eventually } from './eventually.ts';
import { startFrrNode, type FrrNode } from './frr.ts';
import type { Ledger } from './ledger.ts';
import { L2Segment, Netns } from './netns.ts';
import { startResilientFib, type ResilientFib } from './resilient-fib.ts';

export const ROUTER_FRONT_IP = '198.51.100.254';
export const REMOTE_CLIENT_IP = '203.0.113.10';
export const REMOTE_CIDR = '203.0.113.0/24';
export const LAB_ASN = 64512;
/** BIRD's kernel table in the router; the resilient mirror forwards from main (lab/resilient-fib.ts). */
const BIRD_TABLE = 100;

export interface BgpLab {
  readonly router: Netns;
  readonly bird: BirdRouter;
  readonly remote: Netns;
  /** The remote client's agent socket (test/datapath/client-agent.ts). */
  readonly remoteSocket: string;
  /** FRR on each LB node, by node name. */
  readonly frr: Map<string, FrrNode>;
  /** The router's forwarding plane: BIRD's multipath routes mirrored as resilient groups. */
  readonly fib: ResilientFib;
}

export interface BgpLabNode {
  readonly name: string;
  readonly ns: Netns;
  readonly frontIp: string;
}

/** The lab's BFD interval both ways (× 3): steady on a busy two-core machine running the whole suite. */
export const LAB_BFD_INTERVAL_MS = 100;

export async function buildBgpLab(
  ledger: Ledger,
  front: L2Segment,
  nodes: readonly BgpLabNode[],
  logDir: string,
  startClientAgent: (ns: Netns, socket: string) => Promise<void>,
  cleanups: (() => Promise<void> | void)[],
  bfdIntervalMs = LAB_BFD_INTERVAL_MS,
): Promise<BgpLab> {
  const remoteSegment = await L2Segment.create(ledger, 'rs');
  cleanups.push(() => remoteSegment.destroy());
  const router = await Netns.create(ledger, 'rt');
  cleanups.push(() => router.destroy());
  await front.attach(router, `${ROUTER_FRONT_IP}/24`, 'eth0');
  await remoteSegment.attach(router, '203.0.113.1/24', 'eth1');
  await router.sysctl('net.ipv4.conf.all.forwarding', 1);
  const remote = await Netns.create(ledger, 'rc');
  cleanups.push(() => remote.destroy());
  await remoteSegment.attach(remote, `${REMOTE_CLIENT_IP}/24`, 'eth0');
  await remote.addRoute('default', '203.0.113.1', 'eth0');

  const frr = new Map<string, FrrNode>();
  for (const n of nodes) {
    await n.ns.addRoute(REMOTE_CIDR, ROUTER_FRONT_IP, 'eth0');
    // A directory of its own in the ledger: FRR's daemons run as FRR's user and must traverse every parent.
    const node = await startFrrNode({ ledger, netns: n.ns, name: n.name });
    cleanups.push(() => node.stop());
    frr.set(n.name, node);
  }
  const bird = await startBirdRouter({
    ledger,
    netns: router,
    routerId: ROUTER_FRONT_IP,
    localAs: LAB_ASN,
    peers: nodes.map((n) => ({ address: n.frontIp, as: LAB_ASN, bfd: true })),
    exportPrefixes: [],
    bfd: { rxMs: bfdIntervalMs, txMs: bfdIntervalMs, multiplier: 3 },
    kernelTable: BIRD_TABLE,
  });
  cleanups.push(() => bird.stop());
  const fib = await startResilientFib(router, BIRD_TABLE, logDir);
  cleanups.push(() => fib.stop());

  const remoteSocket = join(logDir, 'remote-client.sock');
  await startClientAgent(remote, remoteSocket);
  return { router, bird, remote, remoteSocket, frr, fib };
}

/**
 * Waits until the router has `n` next hops for `vip` and forwards by every one of them, each with its share of the
 * hash buckets: BIRD's table first, then the resilient mirror, which forwards one pass later. Traffic started
 * between the two reaches the VIP through its L2 owner (the router's connected route) and moves once the mirror
 * lands, so every story that starts traffic waits for this. Returns the gateways.
 */
export async function waitForwarded(lab: BgpLab, vip: string, n: number, timeoutMs = 60_000): Promise<string[]> {
  const prefix = `${vip}/32`;
  return eventually(
    `${prefix} forwarded over ${n} next hops`,
    async () => {
      if ((await lab.bird.kernelNexthops(prefix)).length !== n) return undefined;
      const gateways = await lab.fib.forwarding(prefix);
      return gateways.length === n ? gateways : undefined;
    },
    timeoutMs,
  );
}

/** The speaker flags that point it at its node's FRR. */
export function speakerBgpArgs(node: FrrNode): string[] {
  return [
    '--bgp',
    ...node.speakerFlags,
    `--frr-work-dir=${node.workDir}`,
    // The lab drains quickly: tests stop speakers often.
    '--bgp-drain-delay=1s',
    '--bgp-status-period=500ms',
  ];
}

/**
 * The LB cluster's side of the lab's peering: BGPPeer `router` (iBGP with the lab router, hold 9 s, keepalive 3 s),
 * with BFDProfile `fast` (LAB_BFD_INTERVAL_MS × 3 unless said) when `bfd`, and BGPAdvertisement `default` with `advertisement` as its spec.
 */
export async function createLabBgpObjects(
  kubeConfig: k8s.KubeConfig,
  opts: {
    readonly bfd: boolean;
    /** The BFD profile's intervals; the router's must match (TopologyOptions.bgp). */
    readonly bfdIntervalMs?: number;
    readonly advertisement?: NonNullable<BGPAdvertisement['spec']>;
  },
): Promise<void> {
  const ms = opts.bfdIntervalMs ?? LAB_BFD_INTERVAL_MS;
  const apiVersion = 'kube-lb.io/v1alpha1';
  if (opts.bfd) {
    await resourceClient<BFDProfile>(kubeConfig, 'BFDProfile').create({
      apiVersion,
      kind: 'BFDProfile',
      metadata: { name: 'fast' },
      spec: { receiveIntervalMs: ms, transmitIntervalMs: ms, detectMultiplier: 3 },
    });
  }
  await resourceClient<BGPPeer>(kubeConfig, 'BGPPeer').create({
    apiVersion,
    kind: 'BGPPeer',
    metadata: { name: 'router' },
    spec: {
      myASN: LAB_ASN,
      peerASN: LAB_ASN,
      peerAddress: ROUTER_FRONT_IP,
      holdTimeSeconds: 9,
      keepaliveTimeSeconds: 3,
      ...(opts.bfd ? { bfdProfile: 'fast' } : {}),
    },
  });
  await resourceClient<BGPAdvertisement>(kubeConfig, 'BGPAdvertisement').create({
    apiVersion,
    kind: 'BGPAdvertisement',
    metadata: { name: 'default' },
    spec: opts.advertisement ?? {},
  });
}
