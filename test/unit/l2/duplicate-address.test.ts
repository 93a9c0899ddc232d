// Duplicate-address detection: which ARP frames count as another host claiming a VIP (src/core/l2/duplicate-address.ts),
// the probe/backoff bookkeeping, the probe itself over fake sockets and the gate the speaker applies
// (src/speaker/l2/dad.ts), and the Announced condition it leads to.
import t from 'tap';
import {
  ARP_REPLY,
  ARP_REQUEST,
  decodeArp,
  encodeArp,
  probeRequest,
  ZERO_MAC,
  BROADCAST_MAC,
} from '../../../src/core/l2/arp-frame.ts';
import { claimantOf, DuplicateAddressBook, retryDelayMs } from '../../../src/core/l2/duplicate-address.ts';
import { announcedStatus } from '../../../src/core/l2/report.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { DuplicateAddressGate, probeAddress, type FrameSource } from '../../../src/speaker/l2/dad.ts';
import type { LinkInfo } from '../../../src/core/l2/interfaces.ts';

const VIP = '192.0.2.10';
const OURS = new Set(['02:00:00:00:00:01', '02:00:00:00:00:02']);
const FOREIGN = '02:aa:bb:cc:dd:ee';

const reply = (mac: string, ip: string, to = '02:00:00:00:00:01') =>
  decodeArp(
    encodeArp({
      ethDst: to,
      ethSrc: mac,
      op: ARP_REPLY,
      senderMac: mac,
      senderIp: ip,
      targetMac: to,
      targetIp: '0.0.0.0',
    }),
  )!;

t.test('a probe is a broadcast request with sender IP 0.0.0.0 for the VIP', async (t) => {
  const p = decodeArp(probeRequest('02:00:00:00:00:01', VIP))!;
  t.same(p, {
    ethDst: BROADCAST_MAC,
    ethSrc: '02:00:00:00:00:01',
    op: ARP_REQUEST,
    senderMac: '02:00:00:00:00:01',
    senderIp: '0.0.0.0',
    targetMac: ZERO_MAC,
    targetIp: VIP,
  });
});

t.test(
  'claimants: a foreign answer, announcement or simultaneous probe counts; kube-lb nodes and other addresses do not',
  async (t) => {
    t.equal(claimantOf(reply(FOREIGN, VIP), VIP, OURS), FOREIGN, 'a reply for the VIP from a foreign MAC');
    t.equal(claimantOf(reply(FOREIGN.toUpperCase(), VIP), VIP, OURS), FOREIGN, 'MACs compare in lower case');
    t.equal(
      claimantOf(reply('02:00:00:00:00:02', VIP), VIP, OURS),
      undefined,
      "another LB node's answer (a peer still announcing it) is ours",
    );
    t.equal(claimantOf(reply(FOREIGN, '192.0.2.11'), VIP, OURS), undefined, 'an answer about another address');
    const announce = decodeArp(
      encodeArp({
        ethDst: BROADCAST_MAC,
        ethSrc: FOREIGN,
        op: ARP_REQUEST,
        senderMac: FOREIGN,
        senderIp: VIP,
        targetMac: ZERO_MAC,
        targetIp: VIP,
      }),
    )!;
    t.equal(claimantOf(announce, VIP, OURS), FOREIGN, "the host's own gratuitous ARP");
    t.equal(
      claimantOf(decodeArp(probeRequest(FOREIGN, VIP))!, VIP, OURS),
      FOREIGN,
      'another host probing for the same address',
    );
    t.equal(
      claimantOf(decodeArp(probeRequest('02:00:00:00:00:01', VIP))!, VIP, OURS),
      undefined,
      'our own probe, seen going out',
    );
    const asking = decodeArp(
      encodeArp({
        ethDst: BROADCAST_MAC,
        ethSrc: FOREIGN,
        op: ARP_REQUEST,
        senderMac: FOREIGN,
        senderIp: '192.0.2.99',
        targetMac: ZERO_MAC,
        targetIp: VIP,
      }),
    )!;
    t.equal(claimantOf(asking, VIP, OURS), undefined, 'a client asking who has the VIP does not hold it');
  },
);

t.test('backoff doubles from the minimum up to the maximum', async (t) => {
  const retry = { minMs: 1000, maxMs: 30_000 };
  t.same(
    [1, 2, 3, 4, 5, 6, 50].map((n) => retryDelayMs(n, retry)),
    [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
  );
});

t.test(
  'the book: probe, wait, announce when free; in use with backoff, re-probe still reporting the conflict',
  async (t) => {
    const book = new DuplicateAddressBook({ minMs: 1000, maxMs: 30_000 });
    t.same(book.step(VIP, 0), { action: 'probe' });
    book.started(VIP);
    t.same(book.step(VIP, 10), { action: 'wait', inUse: undefined });
    const c = book.taken(VIP, FOREIGN, 'eth0', 200)!;
    t.match(c, { vip: VIP, mac: FOREIGN, ifname: 'eth0', conflicts: 1, retryAt: 1200 });
    t.equal(book.nextRetryAt(), 1200);
    t.match(book.step(VIP, 1199), { action: 'wait', inUse: { mac: FOREIGN } });
    t.match(book.step(VIP, 1200), { action: 'probe', inUse: { mac: FOREIGN } });
    book.started(VIP);
    t.match(
      book.step(VIP, 1300),
      { action: 'wait', inUse: { mac: FOREIGN } },
      'the conflict is still reported while probing again',
    );
    t.match(book.taken(VIP, FOREIGN, 'eth0', 1400), { conflicts: 2, retryAt: 3400 });
    book.started(VIP);
    book.free(VIP);
    t.same(book.step(VIP, 3500), { action: 'announce' });
    book.retain(new Set());
    t.same(book.step(VIP, 3600), { action: 'probe' }, 'a VIP no longer wanted is forgotten');
    t.equal(
      book.taken(VIP, FOREIGN, 'eth0', 0),
      undefined,
      'a probe that ends after the VIP was forgotten changes nothing',
    );
  },
);

/** A fake segment: each probe sent may be answered by the hosts listed. */
function segment(answerers: (vip: string) => string[]) {
  const queues = new Map<number, Uint8Array[]>();
  const sent: Uint8Array[] = [];
  let open = 0;
  return {
    sent,
    open: () => open,
    sender: {
      send(ifindex: number, _etherType: number, frame: Uint8Array) {
        sent.push(frame);
        const p = decodeArp(frame)!;
        const q = queues.get(ifindex);
        q?.push(frame); // a packet socket sees our own frames going out
        for (const mac of answerers(p.targetIp))
          q?.push(
            encodeArp({
              ethDst: p.senderMac,
              ethSrc: mac,
              op: ARP_REPLY,
              senderMac: mac,
              senderIp: p.targetIp,
              targetMac: p.senderMac,
              targetIp: '0.0.0.0',
            }),
          );
      },
    },
    listen(ifindex: number): FrameSource {
      const q: Uint8Array[] = [];
      queues.set(ifindex, q);
      open++;
      return {
        next: () => q.shift(),
        close: () => {
          queues.delete(ifindex);
          open--;
        },
      };
    },
  };
}

const cfg = { probes: 3, intervalMs: 10, waitMs: 30 };
const target = { ifname: 'eth0', ifindex: 7, mac: '02:00:00:00:00:01' };

t.test(
  'probeAddress: free after all probes and the wait; in use at the first foreign answer; peers ignored; sockets closed',
  async (t) => {
    const quiet = segment(() => []);
    const t0 = performance.now();
    t.equal(await probeAddress(VIP, [target], OURS, cfg, quiet), undefined);
    const took = performance.now() - t0;
    t.equal(quiet.sent.length, 3, 'three probes');
    t.ok(took >= 45 && took < 400, `took the probes' span plus the wait (${took.toFixed(0)} ms)`);
    t.equal(quiet.open(), 0, 'receive socket closed');

    const taken = segment((vip) => (vip === VIP ? [FOREIGN] : []));
    t.same(await probeAddress(VIP, [target], OURS, cfg, taken), { mac: FOREIGN, ifname: 'eth0' });
    t.equal(taken.sent.length, 1, 'stops at the first answer');
    t.equal(taken.open(), 0);

    const peer = segment(() => ['02:00:00:00:00:02']);
    t.equal(await probeAddress(VIP, [target], OURS, cfg, peer), undefined, "an LB node's answer is not a conflict");
  },
);

t.test(
  'probeAddress: a stalled event loop delays the probes, never skips one or cuts the wait after the last',
  async (t) => {
    const quiet = segment(() => []);
    const sender = {
      send(ifindex: number, etherType: number, frame: Uint8Array) {
        quiet.sender.send(ifindex, etherType, frame);
        if (quiet.sent.length === 1) for (const until = performance.now() + 120; performance.now() < until; ); // a long pass
      },
    };
    const t0 = performance.now();
    t.equal(await probeAddress(VIP, [target], OURS, cfg, { sender, listen: (i) => quiet.listen(i) }), undefined);
    t.equal(quiet.sent.length, 3, 'all three probes');
    const took = performance.now() - t0;
    // The second probe is due during the stall and goes right after it; the third an interval later; then the wait.
    t.ok(
      took >= 120 + cfg.intervalMs + cfg.waitMs - 2,
      `the wait still follows the last probe (${took.toFixed(0)} ms)`,
    );
  },
);

const link: LinkInfo = { name: 'eth0', index: 7, mac: '02:00:00:00:00:01', up: true, arpCapable: true };

t.test(
  'the gate: takeovers and announced VIPs pass at once; a new VIP passes after a free probe; a VIP in use is held back',
  async (t) => {
    let inUseVip = true;
    const seg = segment((vip) => (vip === VIP && inUseVip ? [FOREIGN] : []));
    let now = 0;
    let settled = 0;
    const conflicts: string[] = [];
    const gate = new DuplicateAddressGate({
      config: { ...cfg, retry: { minMs: 1000, maxMs: 30_000 } },
      sender: seg.sender,
      listen: (i) => seg.listen(i),
      logger: createLogger({ level: 'silent', program: 'test' }),
      now: () => now,
      onSettled: () => settled++,
      onInUse: (c) => conflicts.push(`${c.vip} ${c.mac}`),
    });
    t.teardown(() => gate.stop());
    const desired = new Map([
      [VIP, ['eth0']],
      ['192.0.2.11', ['eth0']],
      ['192.0.2.12', ['eth0']],
    ]);
    const announced = new Map([['192.0.2.12', ['eth0']]]);
    const held = (vip: string) => vip === '192.0.2.11';
    let r = gate.gate(desired, announced, held, [link], OURS);
    t.same(
      [...r.desired.keys()].sort(),
      ['192.0.2.11', '192.0.2.12'],
      'the takeover and the announced VIP pass, the new one waits',
    );
    await new Promise((res) => setTimeout(res, 100));
    t.equal(settled, 1, 'the probe end asks for a reconcile');
    t.same(conflicts, [`${VIP} ${FOREIGN}`]);
    r = gate.gate(desired, announced, held, [link], OURS);
    t.notOk(r.desired.has(VIP), 'in use: not announced');
    t.match(r.inUse.get(VIP), { mac: FOREIGN, ifname: 'eth0' });
    const probes = seg.sent.length;
    r = gate.gate(desired, announced, held, [link], OURS);
    t.equal(seg.sent.length, probes, 'no new probe before the backoff ran out');
    inUseVip = false;
    now = 1000;
    r = gate.gate(desired, announced, held, [link], OURS);
    t.ok(r.inUse.has(VIP), 'the conflict is still reported while probing again');
    await new Promise((res) => setTimeout(res, 100));
    r = gate.gate(desired, announced, held, [link], OURS);
    t.ok(r.desired.has(VIP), 'free now: announced');
    t.equal(r.inUse.size, 0);
  },
);

t.test('the Announced condition names the VIP, the MAC and the node, and stays the same across retries', async (t) => {
  const s = announcedStatus(
    {
      vip: VIP,
      reason: 'addressInUse',
      owner: 'lb-1',
      interfaces: ['eth0'],
      eligible: 3,
      inUse: { mac: FOREIGN, ifname: 'eth0' },
    },
    'p',
  );
  t.equal(s.announcedBy, undefined);
  t.match(s.condition, { type: 'Announced', status: 'False', reason: 'AddressInUse' });
  t.match(
    s.condition.message,
    new RegExp(
      `^${VIP.replace(/\./g, '\\.')} is in use on the segment: ${FOREIGN} answered the duplicate-address probe of node lb-1 on eth0`,
    ),
  );
});
