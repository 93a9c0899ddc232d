// kube-lb's share of a map it shares with Cilium (planner.ts kubeLbBudget): what is kept for Cilium's own Services.
import t from 'tap';
import { kubeLbBudget } from '../../../src/core/dataplane/planner.ts';

t.test('a tenth of the map is kept for Cilium, at least 1,024, at most half', async (t) => {
  t.equal(kubeLbBudget(65536, 0), 65536 - 6554, "Cilium's default 64k map: 6,554 kept");
  t.equal(kubeLbBudget(1 << 18, 0), (1 << 18) - 26215);
  t.equal(kubeLbBudget(4096, 0), 4096 - 1024, 'at least 1,024');
  t.equal(kubeLbBudget(100, 0), 50, 'half of a small map');
});

t.test(
  "Cilium's own entries shrink the share only when less than a quarter of what is kept would stay free",
  async (t) => {
    t.equal(kubeLbBudget(65536, 4000), 65536 - 6554, "4,000 of Cilium's: 2,554 still free in its part");
    t.equal(kubeLbBudget(65536, 6000), 65536 - 6000 - 1639, '6,000: a quarter of the part (1,639) stays free');
    t.equal(kubeLbBudget(65536, 70000), 0, 'nothing when Cilium fills the map');
  },
);
