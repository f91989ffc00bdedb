// Addresses, below every stage of the data path: targets (`host:port`), IP text and bytes, CIDRs.
export { formatTarget, normalizeHost, parseHostPort, type Target } from './target.js';
export {
  canonicalAddress, cidrContains, reachedAddress, formatIPv6, ipv6Bytes, isHostLocal, isLoopback, maskBytes, parseCidr, unmapIPv4, type Cidr,
} from './ip.js';
