// HOST:PORT, the one way every program and flag reads it: the host is everything before the last colon (so an
// IPv6 address keeps its own colons), the port a whole number up to 65535. An empty host means every address, as
// ":9090" does in Go's net.Listen.
import type { OptionSpec } from './config.ts';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const HOST_PORT = /^(\S*):(\d{1,5})$/;

/** "10.0.0.1:9090" → { host: '10.0.0.1', port: 9090 }; ":9090" → host ''; undefined when it is not HOST:PORT. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = HOST_PORT.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? { host: m[1]!, port } : undefined;
}

/** Where a server listens for a HOST:PORT flag: an empty host is every IPv4 address. */
export function listenAddress(text: string): HostPort {
  const at = parseHostPort(text);
  if (!at) throw new TypeError(`not HOST:PORT: ${JSON.stringify(text)}`);
  return { host: at.host || '0.0.0.0', port: at.port };
}

/** The flag of a server's address: HOST:PORT, or "0" for no server at all. */
export function bindAddressOption(defaultValue: string, help: string) {
  return {
    kind: 'string',
    default: defaultValue,
    check: (v: string) => (v === '0' || parseHostPort(v) ? undefined : 'must be HOST:PORT or 0'),
    help,
  } satisfies OptionSpec;
}
