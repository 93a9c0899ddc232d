// Through the test datapath with Cilium 1.18 rules and maglev selection; and loadBalancerSourceRanges.
import t from 'tap';
import { trafficStory } from './traffic-story.ts';
import { labFor, reconcilerFor, VIP, web } from './helpers.ts';

trafficStory('1.18', true);

t.test('source ranges: clients inside answer, clients outside are dropped', async (t) => {
  const lab = await labFor(t, 'traffic-ranges', { version: '1.18' });
  const { reconciler } = reconcilerFor(t, lab);
  reconciler.setDesired([
    { ...web(lab, 80), sourceRanges: ['10.10.0.0/24'] },
    { ...web(lab, 81), sourceRanges: ['192.168.0.0/16'] },
  ]);
  t.equal(reconciler.reconcileOnce().error, undefined);
  t.equal((await lab.request('tcp', VIP, 80, 5)).ok, 5, 'client 10.10.0.10 is inside 10.10.0.0/24');
  t.equal((await lab.request('tcp', VIP, 81, 3, 1000)).fail, 3, 'and outside 192.168.0.0/16');
});
