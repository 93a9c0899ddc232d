// L2 metrics from the announcer hook: ownership changes counted per VIP, announced VIPs, GARP frames.
import t from 'tap';
import { Registry } from 'prom-client';
import { createL2Metrics } from '../../../src/speaker/l2/metrics.ts';

t.test('acquired and released VIPs, announced count, gratuitous ARP frames', async (t) => {
  const registry = new Registry();
  const garp = { sent: 0 };
  const m = createL2Metrics(registry, garp);
  const result = { added: [], removed: [], errors: [] };
  m.applied(result, new Map([['192.0.2.1', ['eth0']], ['192.0.2.2', ['eth0']]]));
  garp.sent = 12;
  m.applied(result, new Map([['192.0.2.2', ['eth0', 'eth1']], ['192.0.2.3', ['eth0']]]));
  const text = await registry.metrics();
  t.match(text, /kube_lb_l2_ownership_changes_total\{change="acquired"\} 3/);
  t.match(text, /kube_lb_l2_ownership_changes_total\{change="released"\} 1/);
  t.match(text, /kube_lb_l2_announced_vips 2/);
  t.match(text, /kube_lb_l2_gratuitous_arp_frames_total 12/);
  garp.sent = 20;
  t.match(await registry.metrics(), /kube_lb_l2_gratuitous_arp_frames_total 20/, 'counts the frames since the last scrape once');
});
