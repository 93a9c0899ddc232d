// The little address handling the agent needs on user input: is this a dotted-quad IPv4 address, and the
// network address of an IPv4 CIDR (Kubernetes accepts "10.0.0.7/24" in loadBalancerSourceRanges and means the
// network; the VIPClaim schema wants it written as "10.0.0.0/24").

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

/** "10.0.0.7/24" → "10.0.0.0/24"; undefined when `text` is not an IPv4 CIDR. */
export function ipv4Network(text: string): string | undefined {
  const slash = text.indexOf('/');
  if (slash === -1) return undefined;
  const ip = text.slice(0, slash);
  const bitsText = text.slice(slash + 1);
  if (!isIPv4(ip) || !/^(3[0-2]|[12]?[0-9])$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  const value = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - bits);
  const network = value - (value % size);
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256);
  return `${octets.join('.')}/${bits}`;
}
