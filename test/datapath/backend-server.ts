// A consumer-cluster node stand-in, run inside a backend namespace: answers HTTP on the NodePort with its name,
// and UDP datagrams on another port with its name. Usage: backend-server.ts NAME TCP_PORT UDP_PORT
import { createServer } from 'node:http';
import { createSocket } from 'node:dgram';

const [name = 'backend', tcpPort = '30080', udpPort = '30053'] = process.argv.slice(2);

const http = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
  res.end(`${name}\n`);
});
http.listen(Number(tcpPort), '0.0.0.0');

const udp = createSocket('udp4');
udp.on('message', (_msg, rinfo) => udp.send(name, rinfo.port, rinfo.address));
udp.bind(Number(udpPort), '0.0.0.0');

const stop = (): void => {
  http.close();
  udp.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`${name} listening on tcp/${tcpPort} udp/${udpPort}`);
