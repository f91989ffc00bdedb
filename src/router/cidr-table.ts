// IP-CIDR rules. IPv4: prefixes up to /16 are expanded into one table indexed by the top 16 bits,
// which also holds, per /16, the set of longer prefix lengths used inside it; those longer
// prefixes are in one open-addressing hash table keyed by (network, prefix length). A lookup is
// one table read plus one probe per prefix length used inside the address's /16, all in typed
// arrays: no allocation and no chain of Maps to chase. IPv6 (rare in rule lists): one hash map
// per prefix length. Never a cost per rule.
import { ipv6Bytes, maskBytes, type Cidr } from '../address/index.js';
import { NONE } from './domain-table.js';

// Long-prefix records: network number, prefix length (0 marks a free slot), smallest entry id.
const NET = 0;
const PREFIX = 1;
const ID = 2;
const RECORD = 4; // one unused field keeps records aligned in cache lines

export class CidrTable {
  /** per top 16 bits: [smallest id of a covering prefix of /16 or shorter, bit p-17 set when a /p (p > 16) is inside] */
  #top: Int32Array | undefined;
  #long = new Int32Array(16 * RECORD);
  #longMask = 15; // slots - 1
  #longCount = 0;
  #v6 = new Map<number, Map<string, number>>(); // prefix → network bytes as hex → id
  #v6Prefixes: number[] = [];

  add(cidr: Cidr, id: number): void {
    if (cidr.family === 6) {
      const key = Buffer.from(cidr.bytes).toString('hex');
      const byKey = mapFor(this.#v6, this.#v6Prefixes, cidr.prefix);
      byKey.set(key, Math.min(byKey.get(key) ?? NONE, id));
      return;
    }
    const b = cidr.bytes;
    const net = (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!;
    const top = net >>> 16;
    const table = (this.#top ??= newTopTable());
    if (cidr.prefix <= 16) {
      const span = 1 << (16 - cidr.prefix);
      for (let i = top; i < top + span; i++) table[2 * i] = Math.min(table[2 * i]!, id);
      return;
    }
    table[2 * top + 1]! |= 1 << (cidr.prefix - 17);
    const r = this.#slotOf(net, cidr.prefix);
    if (this.#long[r + PREFIX] === 0) {
      this.#long.set([net, cidr.prefix, NONE], r);
      if (2 * ++this.#longCount > this.#longMask + 1) this.#grow();
    }
    const at = this.#slotOf(net, cidr.prefix) + ID;
    this.#long[at] = Math.min(this.#long[at]!, id);
  }

  /** Smallest entry id whose network contains the address (canonical text: IPv4 or IPv6), or NONE. */
  match(address: string): number {
    if (address.includes(':')) return this.#matchV6(address);
    const table = this.#top;
    if (!table) return NONE;
    const n = ipv4Number(address);
    const top = n >>> 16;
    let best = table[2 * top]!;
    for (let lengths = table[2 * top + 1]!; lengths !== 0; lengths &= lengths - 1) {
      const prefix = 17 + 31 - Math.clz32(lengths & -lengths);
      const net = n & (-1 << (32 - prefix));
      const r = this.#slotOf(net, prefix);
      if (this.#long[r + PREFIX] !== 0) best = Math.min(best, this.#long[r + ID]!);
    }
    return best;
  }

  #matchV6(address: string): number {
    let best = NONE;
    if (this.#v6Prefixes.length === 0) return best;
    const bytes = ipv6Bytes(address);
    for (const p of this.#v6Prefixes) {
      const id = this.#v6.get(p)!.get(Buffer.from(maskBytes(bytes, p)).toString('hex'));
      if (id !== undefined && id < best) best = id;
    }
    return best;
  }

  /** The record of (net, prefix), or the free slot where it belongs. */
  #slotOf(net: number, prefix: number): number {
    const long = this.#long;
    for (let slot = hash(net, prefix) & this.#longMask; ; slot = (slot + 1) & this.#longMask) {
      const r = slot * RECORD;
      if (long[r + PREFIX] === 0 || (long[r + NET] === net && long[r + PREFIX] === prefix)) return r;
    }
  }

  #grow(): void {
    const old = this.#long;
    this.#long = new Int32Array(2 * old.length);
    this.#longMask = 2 * this.#longMask + 1;
    for (let r = 0; r < old.length; r += RECORD) {
      if (old[r + PREFIX] !== 0) this.#long.set(old.subarray(r, r + RECORD), this.#slotOf(old[r + NET]!, old[r + PREFIX]!));
    }
  }
}

function newTopTable(): Int32Array {
  const table = new Int32Array(2 * 65536);
  for (let i = 0; i < table.length; i += 2) table[i] = NONE;
  return table;
}

/** Dotted-quad text → 32-bit number (signed), without splitting the text. */
function ipv4Number(text: string): number {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      n = (n << 8) | octet;
      octet = 0;
    } else octet = octet * 10 + c - 48;
  }
  return (n << 8) | octet;
}

/** murmur3's fmix32 of the pair. */
function hash(net: number, prefix: number): number {
  let h = net ^ Math.imul(prefix, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function mapFor<K>(maps: Map<number, Map<K, number>>, prefixes: number[], prefix: number): Map<K, number> {
  let m = maps.get(prefix);
  if (!m) {
    maps.set(prefix, (m = new Map()));
    prefixes.push(prefix);
  }
  return m;
}
