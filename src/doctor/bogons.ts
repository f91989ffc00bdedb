// Addresses that no public host name resolves to: a DNS answer in one of these ranges for a public
// name is what a poisoning resolver (or a fake-IP one) gives, or a stale /etc/hosts line.
import { cidrContains, parseCidr, type Cidr } from '../address/index.js';

const RANGES: Array<[string, string]> = [
  ['0.0.0.0/8', 'this host'],
  ['127.0.0.0/8', 'loopback'],
  ['10.0.0.0/8', 'private (RFC 1918)'],
  ['172.16.0.0/12', 'private (RFC 1918)'],
  ['192.168.0.0/16', 'private (RFC 1918)'],
  ['100.64.0.0/10', 'shared (RFC 6598, carrier-grade NAT)'],
  ['169.254.0.0/16', 'link-local'],
  ['198.18.0.0/15', 'benchmarking (RFC 2544; the fake-IP range of Clash and Surge)'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fc00::/7', 'unique local (private)'],
  ['fe80::/10', 'link-local'],
];

const BOGONS: Array<[Cidr, string, string]> = RANGES.map(([text, what]) => [parseCidr(text)!, text, what]);

/** The range a bogon address is in, in words ("private (RFC 1918) 10.0.0.0/8"); undefined for any other address. */
export function bogonRange(address: string): string | undefined {
  for (const [cidr, text, what] of BOGONS) if (cidrContains(cidr, address)) return `${what}, ${text}`;
  return undefined;
}

/** Names that belong to a local network, never to the public DNS. */
const LOCAL_NAME = /(^|\.)(localhost|local|internal|lan|home\.arpa|intranet|corp)$/;

export function isLocalName(host: string): boolean {
  return LOCAL_NAME.test(host);
}
