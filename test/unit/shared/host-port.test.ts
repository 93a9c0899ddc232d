// HOST:PORT is read one way by every flag and annotation: the host is what stands before the last colon, the
// port a whole number up to 65535; an empty host listens on every address.
import t from 'tap';
import { parseConfig } from '../../../src/shared/config.ts';
import { bindAddressOption, listenAddress, parseHostPort } from '../../../src/shared/host-port.ts';
import { parsePeerAddress } from '../../../src/speaker/l2/probe-wire.ts';

t.test('parseHostPort', async (t) => {
  t.same(parseHostPort('10.0.0.1:9090'), { host: '10.0.0.1', port: 9090 });
  t.same(parseHostPort(':9474'), { host: '', port: 9474 });
  t.same(parseHostPort('fe80::1:80'), { host: 'fe80::1', port: 80 }, 'the last colon splits');
  t.same(parseHostPort('localhost:0'), { host: 'localhost', port: 0 }, 'port 0: any free port');
  for (const bad of ['10.0.0.1', '10.0.0.1:', '10.0.0.1:70000', '10.0.0.1:123456', 'a b:80', '10.0.0.1:80 ', '']) {
    t.equal(parseHostPort(bad), undefined, JSON.stringify(bad));
  }
});

t.test('listenAddress: an empty host is every address', async (t) => {
  t.same(listenAddress(':9090'), { host: '0.0.0.0', port: 9090 });
  t.same(listenAddress('127.0.0.1:9090'), { host: '127.0.0.1', port: 9090 });
  t.throws(() => listenAddress('0'));
});

t.test('a bind-address flag takes HOST:PORT or 0', async (t) => {
  const specs = { bind: bindAddressOption('0.0.0.0:9090', 'where') };
  t.equal(parseConfig(specs, [], {}).bind, '0.0.0.0:9090');
  t.equal(parseConfig(specs, ['--bind=0'], {}).bind, '0');
  t.equal(parseConfig(specs, ['--bind=127.0.0.1:1'], {}).bind, '127.0.0.1:1');
  t.throws(() => parseConfig(specs, ['--bind=9090'], {}), /must be HOST:PORT or 0/);
  t.throws(() => parseConfig(specs, ['--bind=:99999'], {}), /must be HOST:PORT or 0/);
});

t.test('a peer address is HOST:PORT with an IPv4 host and a port other than 0', async (t) => {
  t.same(parsePeerAddress('lb-1', '10.0.0.11:7473'), { name: 'lb-1', host: '10.0.0.11', port: 7473 });
  t.equal(parsePeerAddress('lb-1', 'lb-1:7473'), undefined);
  t.equal(parsePeerAddress('lb-1', ':7473'), undefined);
  t.equal(parsePeerAddress('lb-1', ''), undefined);
});
