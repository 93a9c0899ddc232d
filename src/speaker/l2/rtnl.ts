// The rtnetlink operations L2 announcement needs, over the `netlink` package, in the speaker's network namespace.
// Everything kube-lb installs carries its own protocol number (KUBE_LB_RTPROTO) so that it can find and remove
// its own proxy entries and routes after a restart without touching anyone else's.
import { createRtNetlink, FlagsNew, type rt, type RtNetlinkSocket } from 'netlink';
import { KubeLbError } from '../../shared/errors.ts';
import type { LinkInfo } from '../../core/l2/interfaces.ts';
import { ipv4FromBytes, ipv4ToBytes, macFromBytes } from '../../core/l2/arp-frame.ts';

/** rtm_protocol / NDA_PROTOCOL value marking kube-lb's routes and proxy neighbour entries ("ip route show proto 196"). */
export const KUBE_LB_RTPROTO = 196;
// The package types rtm_protocol as its enum of well-known values; ours is a private number outside it.
const OUR_PROTOCOL = KUBE_LB_RTPROTO as unknown as rt.RouteProtocol;
const AF_INET = 2;
const RT_TABLE_MAIN = 254;

export class NetlinkError extends KubeLbError {
  readonly op: string;
  constructor(op: string, cause: unknown) {
    super('L2_NETLINK', `${op}: ${(cause as Error)?.message ?? String(cause)}`, { cause, transient: true });
    this.op = op;
  }
}

export interface ProxyEntry {
  readonly ifindex: number;
  readonly ip: string;
  /** Installed by kube-lb (carries KUBE_LB_RTPROTO). */
  readonly ours: boolean;
}

/** The narrow port the announcer and the link watcher use; tests and other code see nothing of netlink. */
export interface Rtnl {
  links(): Promise<LinkInfo[]>;
  /** Name of the link of the IPv4 default route in the main table, if any. */
  defaultRouteInterface(): Promise<string | undefined>;
  /** First IPv4 address on the link, if any. */
  firstAddress(ifindex: number): Promise<string | undefined>;
  /** Brings a link up with ARP off (the sink answers nothing itself). */
  setUpNoArp(ifindex: number): Promise<void>;
  proxyEntries(): Promise<ProxyEntry[]>;
  addProxy(ifindex: number, ip: string): Promise<void>;
  delProxy(ifindex: number, ip: string): Promise<void>;
  /** kube-lb's /32 routes out of `oif`. */
  routes(oif: number): Promise<string[]>;
  addRoute(ip: string, oif: number): Promise<void>;
  delRoute(ip: string, oif: number): Promise<void>;
  /** Calls `onChange` on every link change and IPv4 route change; returns an unsubscribe function. */
  watch(onChange: () => void): () => void;
  close(): void;
}

async function wrap<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new NetlinkError(op, err);
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && err.message.includes(code);
}

/** Creates an entry that must not exist yet: one that does is someone else's (kube-lb's own are listed first). */
async function notOverForeign(what: string, create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    throw new KubeLbError(
      'L2_FOREIGN_ENTRY',
      `${what} exists that kube-lb did not make (EEXIST); not replacing it, not announcing this VIP here`,
      { cause: err },
    );
  }
}

export function openRtnl(): Rtnl {
  const sock: RtNetlinkSocket = createRtNetlink();
  const watchers: RtNetlinkSocket[] = [];
  const route = (ip: string, oif: number) =>
    [
      { family: AF_INET, dstLen: 32, table: RT_TABLE_MAIN, protocol: OUR_PROTOCOL, scope: 'UNIVERSE', type: 'UNICAST' },
      { dst: Buffer.from(ipv4ToBytes(ip)), oif },
    ] as const;
  const proxy = (ifindex: number) => ({ family: AF_INET, ifindex, flags: { proxy: true as const } });

  return {
    links: () =>
      wrap('list links', async () =>
        (await sock.getLinks()).map((l) => ({
          index: l.data.index ?? 0,
          name: l.attrs.ifname ?? '',
          up: Boolean(l.data.flags?.up && l.data.flags?.lowerUp),
          arpCapable: l.data.type === 'ETHER' && !l.data.flags?.noarp && !l.data.flags?.loopback,
          mac: l.attrs.address ? macFromBytes(l.attrs.address) : '00:00:00:00:00:00',
        })),
      ),
    defaultRouteInterface: () =>
      wrap('find default route', async () => {
        const routes = await sock.getRoutes({ family: AF_INET });
        const def = routes.find(
          (r) => r.data.dstLen === 0 && r.data.table === RT_TABLE_MAIN && r.data.type === 'UNICAST',
        );
        const oif = def?.attrs.oif;
        if (oif === undefined) return undefined;
        const links = await sock.getLinks();
        return links.find((l) => l.data.index === oif)?.attrs.ifname;
      }),
    firstAddress: (ifindex) =>
      wrap('list addresses', async () => {
        const addrs = await sock.getAddresses({ family: AF_INET });
        const a = addrs.find((x) => x.data.index === ifindex && x.attrs.local);
        return a?.attrs.local ? ipv4FromBytes(a.attrs.local) : undefined;
      }),
    setUpNoArp: (ifindex) =>
      wrap(`bring up link ${ifindex}`, async () => {
        await sock.setLink({ index: ifindex, change: { up: true, noarp: true }, flags: { up: true, noarp: true } });
      }),
    proxyEntries: () =>
      wrap('list proxy neighbours', async () =>
        (await sock.getNeighbors({ family: AF_INET, flags: { proxy: true } }))
          .filter((n) => n.data.flags?.proxy && n.attrs.dst)
          .map((n) => ({
            ifindex: n.data.ifindex ?? 0,
            ip: ipv4FromBytes(n.attrs.dst!),
            ours: n.attrs.protocol?.[0] === KUBE_LB_RTPROTO,
          })),
      ),
    addProxy: (ifindex, ip) =>
      wrap(`add proxy neighbour ${ip} on ${ifindex}`, async () => {
        // Never over someone else's entry (the announcer re-adopts its own from the dump, not by replacing).
        await notOverForeign(`a proxy neighbour entry for ${ip} on link ${ifindex}`, () =>
          sock.newNeighbor(
            proxy(ifindex),
            { dst: Buffer.from(ipv4ToBytes(ip)), protocol: Buffer.from([KUBE_LB_RTPROTO]) },
            { flags: FlagsNew.CREATE | FlagsNew.EXCL },
          ),
        );
      }),
    delProxy: (ifindex, ip) =>
      wrap(`delete proxy neighbour ${ip} on ${ifindex}`, async () => {
        try {
          await sock.delNeighbor(proxy(ifindex), { dst: Buffer.from(ipv4ToBytes(ip)) });
        } catch (err) {
          // Already gone (the kernel flushes proxy entries when their link goes down): the goal is reached.
          if (!isErrno(err, 'ENOENT')) throw err;
        }
      }),
    routes: (oif) =>
      wrap('list routes', async () =>
        (await sock.getRoutes({ family: AF_INET }))
          .filter(
            (r) =>
              Number(r.data.protocol) === KUBE_LB_RTPROTO && r.data.dstLen === 32 && r.attrs.oif === oif && r.attrs.dst,
          )
          .map((r) => ipv4FromBytes(r.attrs.dst!)),
      ),
    addRoute: (ip, oif) =>
      wrap(`add route ${ip}/32 via ${oif}`, async () => {
        const [data, attrs] = route(ip, oif);
        await notOverForeign(`a route to ${ip}/32 in the main table`, () =>
          sock.newRoute(data, attrs, { flags: FlagsNew.CREATE | FlagsNew.EXCL }),
        );
      }),
    delRoute: (ip, oif) =>
      wrap(`delete route ${ip}/32 via ${oif}`, async () => {
        const [data, attrs] = route(ip, oif);
        try {
          await sock.delRoute(data, attrs);
        } catch (err) {
          if (!isErrno(err, 'ESRCH') && !isErrno(err, 'ENOENT')) throw err;
        }
      }),
    watch(onChange) {
      // A burst of link events must not overflow the socket: give it room.
      const mon = createRtNetlink({ ref: false, recvBufferSize: 1 << 20, sendBufferSize: 1 << 16 });
      mon.addMembership('LINK');
      mon.addMembership('IPV4_ROUTE');
      mon.addMembership('IPV4_IFADDR');
      mon.on('message', () => onChange());
      watchers.push(mon);
      return () => {
        const i = watchers.indexOf(mon);
        if (i !== -1) watchers.splice(i, 1);
        mon.socket.close();
      };
    },
    close() {
      for (const w of watchers.splice(0)) w.socket.close();
      sock.socket.close();
    },
  };
}
