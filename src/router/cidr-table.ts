// IP-CIDR rules. IPv4: prefixes up to /16 are expanded into one table indexed by the top 16 bits;
// longer ones hang off their /16 in a small map per prefix length, so a lookup is one array read
// plus the few prefix lengths used inside that /16. IPv6 (rare in rule lists): one hash map per
// prefix length. Never a cost per rule.
import { ipv4Number, ipv6Bytes, maskBytes, type Cidr } from '../address/index.js';
import { NONE } from './domain-trie.js';

/** The prefixes longer than /16 inside one /16: prefix → network number → id. */
type Long = Map<number, Map<number, number>>;

export class CidrTable {
  #short: Float64Array | undefined; // top 16 bits → smallest id of a covering prefix of /16 or shorter
  #long = new Map<number, Long>(); // top 16 bits → longer prefixes inside it
  #v6 = new Map<number, Map<string, number>>(); // prefix → network bytes as hex → id
  #v6Prefixes: number[] = [];

  add(cidr: Cidr, id: number): void {
    if (cidr.family === 4) {
      const net = numberOf(cidr.bytes);
      const top = net >>> 16;
      if (cidr.prefix <= 16) {
        const short = (this.#short ??= new Float64Array(65536).fill(NONE));
        const span = 1 << (16 - cidr.prefix);
        for (let i = top; i < top + span; i++) if (id < short[i]!) short[i] = id;
        return;
      }
      let long = this.#long.get(top);
      if (!long) this.#long.set(top, (long = new Map()));
      let byNet = long.get(cidr.prefix);
      if (!byNet) long.set(cidr.prefix, (byNet = new Map()));
      byNet.set(net, Math.min(byNet.get(net) ?? NONE, id));
    } else {
      const key = Buffer.from(cidr.bytes).toString('hex');
      const byKey = mapFor(this.#v6, this.#v6Prefixes, cidr.prefix);
      byKey.set(key, Math.min(byKey.get(key) ?? NONE, id));
    }
  }

  /** Smallest entry id whose network contains the address (canonical text: IPv4 or IPv6), or NONE. */
  match(address: string): number {
    let best = NONE;
    if (!address.includes(':')) {
      const n = ipv4Number(address);
      const top = n >>> 16;
      if (this.#short) best = this.#short[top]!;
      const long = this.#long.get(top);
      if (long) {
        for (const [prefix, byNet] of long) {
          const id = byNet.get(ipv4Key(n, prefix));
          if (id !== undefined && id < best) best = id;
        }
      }
    } else if (this.#v6Prefixes.length > 0) {
      const bytes = ipv6Bytes(address);
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
