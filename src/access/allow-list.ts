// The client allow list (`allow:` CIDRs), checked on every accepted connection.
import { BlockList, isIP } from 'node:net';
import { formatIPv6, unmapIPv4, type Cidr } from '../address/index.js';

export class AllowList {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly Cidr[]) {
    for (const c of cidrs) {
      const text = c.family === 4 ? Array.from(c.bytes).join('.') : formatIPv6(c.bytes);
      this.#list.addSubnet(text, c.prefix, c.family === 4 ? 'ipv4' : 'ipv6');
    }
    this.size = cidrs.length;
  }

  /** An empty list allows everyone (loopback binds only: config refuses an open proxy). */
  allows(address: string): boolean {
    if (this.size === 0) return true;
    const a = unmapIPv4(address);
    const family = isIP(a);
    return family !== 0 && this.#list.check(a, family === 4 ? 'ipv4' : 'ipv6');
  }
}
