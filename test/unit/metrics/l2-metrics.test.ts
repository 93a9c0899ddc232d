// The L2 observer on the announcer hook: ownership changes counted per VIP, announced VIPs, GARP frames, and the
// acquired VIPs handed to the speaker for Events.
import t from 'tap';
import { Registry } from 'prom-client';
import { createL2Observer } from '../../../src/speaker/l2/metrics.ts';

t.test('acquired and released VIPs, announced count, gratuitous ARP frames', async (t) => {
  const registry = new Registry();
  const garp = { sent: 0 };
  const acquired: string[][] = [];
  const m = createL2Observer({ garp, registry, onAcquired: (vips) => acquired.push([...vips]) });
  const result = { added: [], removed: [], errors: [] };
  m.applied(
    result,
    new Map([
      ['192.0.2.1', ['eth0']],
      ['192.0.2.2', ['eth0']],
    ]),
  );
  garp.sent = 12;
  m.applied(
    result,
    new Map([
      ['192.0.2.2', ['eth0', 'eth1']],
      ['192.0.2.3', ['eth0']],
    ]),
  );
  const text = await registry.metrics();
  t.match(text, /kube_lb_l2_ownership_changes_total\{change="acquired"\} 3/);
  t.match(text, /kube_lb_l2_ownership_changes_total\{change="released"\} 1/);
  t.match(text, /kube_lb_l2_announced_vips 2/);
  t.match(text, /kube_lb_l2_gratuitous_arp_frames_total 12/);
  t.same(acquired, [['192.0.2.1', '192.0.2.2'], ['192.0.2.3']], 'acquisitions reported for Events');
  garp.sent = 20;
  t.match(
    await registry.metrics(),
    /kube_lb_l2_gratuitous_arp_frames_total 20/,
    'counts the frames since the last scrape once',
  );
});
