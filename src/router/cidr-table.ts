// IP-CIDR rules as one hash map per prefix length: a lookup costs one map probe per distinct
// prefix length in use (at most 33 for IPv4, 129 for IPv6), never one per rule.
import { isIP } from 'node:net';
import { ipv4Number, ipv6Bytes, maskBytes, unmapIPv4, type Cidr } from '../ip.js';
import { NONE } from './domain-trie.js';

export class CidrTable {
  #v4 = new Map<number, Map<number, number>>(); // prefix → network number → id
  #v6 = new Map<number, Map<string, number>>(); // prefix → network bytes as hex → id
  #v4Prefixes: number[] = [];
  #v6Prefixes: number[] = [];

  add(cidr: Cidr, id: number): void {
    if (cidr.family === 4) {
      const key = ipv4Key(numberOf(cidr.bytes), cidr.prefix);
      const byKey = mapFor(this.#v4, this.#v4Prefixes, cidr.prefix);
      byKey.set(key, Math.min(byKey.get(key) ?? NONE, id));
    } else {
      const key = Buffer.from(cidr.bytes).toString('hex');
      const byKey = mapFor(this.#v6, this.#v6Prefixes, cidr.prefix);
      byKey.set(key, Math.min(byKey.get(key) ?? NONE, id));
    }
  }

  /** Smallest entry id whose network contains the address, or NONE. */
  match(address: string): number {
    const a = unmapIPv4(address);
    let best = NONE;
    const family = isIP(a);
    if (family === 4) {
      const n = ipv4Number(a);
      for (const p of this.#v4Prefixes) {
        const id = this.#v4.get(p)!.get(ipv4Key(n, p));
        if (id !== undefined && id < best) best = id;
      }
    } else if (family === 6 && this.#v6Prefixes.length > 0) {
      const bytes = ipv6Bytes(a);
      for (const p of this.#v6Prefixes) {
        const id = this.#v6.get(p)!.get(Buffer.from(maskBytes(bytes, p)).toString('hex'));
        if (id !== undefined && id < best) best = id;
      }
    }
    return best;
  }
}

function numberOf(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

function ipv4Key(n: number, prefix: number): number {
  return prefix === 0 ? 0 : (n & (0xffffffff << (32 - prefix))) >>> 0;
}

function mapFor<K>(maps: Map<number, Map<K, number>>, prefixes: number[], prefix: number): Map<K, number> {
  let m = maps.get(prefix);
  if (!m) {
    maps.set(prefix, (m = new Map()));
    prefixes.push(prefix);
  }
  return m;
}
