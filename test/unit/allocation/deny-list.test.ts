// The backend deny-list (src/core/allocation/deny-list.ts): what the LB cluster's objects and the operator's
// ConfigMap turn into, and how a configured list is read.
import t from 'tap';
import { deniedBy, lbClusterDenyList, splitEntries } from '../../../src/core/allocation/deny-list.ts';
import { parseIP } from '../../../src/core/ip/index.ts';

t.test('a configured list: commas, spaces, newlines and comments', async (t) => {
  t.same(splitEntries('10.0.0.0/8, 192.0.2.7\n# the storage network\n198.51.100.0/24  # backups\n\n2001:db8::/64'), [
    '10.0.0.0/8',
    '192.0.2.7',
    '198.51.100.0/24',
    '2001:db8::/64',
  ]);
  t.same(splitEntries(''), []);
});

t.test('ServiceCIDRs, apiservers and configured entries become ranges that say where they come from', async (t) => {
  const list = lbClusterDenyList({
    serviceCIDRs: [
      { name: 'kubernetes', cidrs: ['10.96.0.0/12'] },
      { name: 'extra', cidrs: ['10.112.0.0/16'] },
    ],
    apiservers: ['172.18.0.2', '172.18.0.3', 'not-an-ip'],
    configured: {
      source: 'ConfigMap x/y key cidrs',
      entries: ['10.250.0.1/24', '2001:db8::1', 'bogus', '10.0.0.0/33'],
    },
  });
  const at = (ip: string) => deniedBy(parseIP(ip)!, list.denied)?.what;
  t.equal(at('10.100.1.1'), "in the LB cluster's Service range 10.96.0.0/12 (ServiceCIDR kubernetes)");
  t.equal(at('10.112.3.3'), "in the LB cluster's Service range 10.112.0.0/16 (ServiceCIDR extra)");
  t.equal(at('172.18.0.3'), "the LB cluster's apiserver 172.18.0.3 (EndpointSlice default/kubernetes)");
  t.equal(
    at('10.250.0.200'),
    'in 10.250.0.1/24, denied by ConfigMap x/y key cidrs',
    'host bits in a configured CIDR are forgiven',
  );
  t.equal(at('2001:db8::1'), 'in 2001:db8::1, denied by ConfigMap x/y key cidrs');
  t.equal(at('172.18.0.4'), undefined);
  t.equal(list.invalid.length, 2, 'bad configured entries are reported, not applied');
  t.match(list.invalid[0], /^ConfigMap x\/y key cidrs: bogus is neither a CIDR nor an IP address/);
  t.same(lbClusterDenyList({ serviceCIDRs: [], apiservers: [], configured: undefined }), { denied: [], invalid: [] });
});
