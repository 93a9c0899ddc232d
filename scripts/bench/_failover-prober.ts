// The failover benchmark's client (run inside the client namespace): every INTERVAL ms it sends one UDP request
// to VIP:PORT from a fresh socket (a new flow each time) and prints "ok SENT_MS RECV_MS ANSWER" for every reply,
// with wall-clock times the benchmark compares with the moment it killed the owner.
// Usage: _failover-prober.ts VIP PORT INTERVAL_MS TIMEOUT_MS
import { createSocket } from 'node:dgram';

const [vip = '', port = '53', intervalMs = '10', timeoutMs = '2000'] = process.argv.slice(2);

function probe(): void {
  const sent = Date.now();
  const sock = createSocket('udp4');
  const timer = setTimeout(() => sock.close(), Number(timeoutMs));
  sock.on('message', (msg) => {
    clearTimeout(timer);
    process.stdout.write(`ok ${sent} ${Date.now()} ${msg.toString('utf8').trim()}\n`);
    sock.close();
  });
  sock.on('error', () => {
    clearTimeout(timer);
    sock.close();
  });
  sock.send('ping', Number(port), vip);
}

setInterval(probe, Number(intervalMs));
process.on('SIGTERM', () => process.exit(0));
console.log(`probing ${vip}:${port} every ${intervalMs} ms`);
