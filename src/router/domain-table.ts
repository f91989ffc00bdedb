// Domain rules, keyed by whole name: matching looks up each suffix of the host (`a.b.com`,
// `b.com`, `com`) once, whatever the number of rules. Each name keeps the smallest entry id per
// way of matching, because the first rule (smallest id) wins.
//
// With 100,000 rules a match is bound by memory reads, not instructions, and a read beyond the
// last-level cache and the TLB's reach (about 8 MB on the 2-core bench machine) costs ten times
// one within. So:
// - the suffixes' hashes are computed from the host's characters as it is scanned from the right,
//   without splitting or slicing it: no allocation per match;
// - a Bloom filter small enough to stay in cache tells, for most suffixes, that no rule has that
//   name (the table is not read) and that no rule's name ends with it (the scan stops there);
// - the table is open addressing over one Int32Array of 48-byte records, up to three quarters
//   full, that hold the name too (up to 30 characters; longer ones are in a pool beside it), so
//   a suffix that is there costs one record read, 6 MB for 100,000 rules: a tree of Maps and
//   node objects took several cache misses per label.

/** No entry: larger than any entry id, and fits an Int32Array. */
export const NONE = 0x7fffffff;

interface Glob {
  id: number;
  re: RegExp;
}

export type DomainHow = 'exact' | 'suffix' | 'below' | 'oneBelow';

// Record fields.
const KEY = 0; // the name's hash, never 0: 0 marks a free slot
const AT_NAME = 1; // smallest id that matches the host when it is this name (DOMAIN, DOMAIN-SUFFIX)
const UNDER = 2; // smallest id that matches a host below this name (DOMAIN-SUFFIX, `.name`)
const POOL = 3; // where the name is in #pool when it is too long to be inline, else -1
const NAME = 4; // bytes: the name's length, 1 when the name has #extras (else 0), its characters if inline
const RECORD = 12;
const INLINE = (RECORD - NAME) * 4 - 2;

/** What few names have: `*.name` entries (exactly one label below) and DOMAIN-WILDCARD patterns. */
interface Extras {
  oneBelow: number;
  globs: Glob[];
}

const DOT = 46;
const SEED = 0x811c9dc5;
/** table slots per 32-bit word of the Bloom filter: 8 bits per slot, the table being 3/8 to 3/4 full */
const SLOTS_PER_BLOOM_WORD = 4;

/** FNV-1a, one character at a time: a name's hash is built from its right end, label by label. */
function step(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}

/** The hash that keys a record: finalised (murmur3 fmix32) so that all its bits spread, never 0. */
function keyOf(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 1;
}

// A key's Bloom filter word is chosen by bits 11 and up; in it, two bits say "a rule has this name"
// and two others "a rule's name ends with .this, or there is a `*.this` entry".
function bloomWord(key: number, words: number): number {
  return (key >>> 11) & words;
}

function nameBits(key: number): number {
  return (1 << ((key >>> 1) & 31)) | (1 << ((key >>> 6) & 31));
}

function ancestorBits(key: number): number {
  const h = Math.imul(key, 0x9e3779b1);
  return (1 << (h >>> 27)) | (1 << ((h >>> 22) & 31));
}

/** The keys of a name's suffixes that follow a dot, longest last, then the name's own key. */
function suffixKeys(name: string): number[] {
  const keys: number[] = [];
  let h = SEED;
  for (let i = name.length - 1; i >= 0; i--) {
    const c = name.charCodeAt(i);
    if (c === DOT) keys.push(keyOf(h));
    h = step(h, c);
  }
  keys.push(keyOf(h));
  return keys;
}

export class DomainTable {
  #records = new Int32Array(64 * RECORD);
  #bytes = new Uint8Array(this.#records.buffer);
  #mask = 63; // slots - 1
  #count = 0;
  #bloom = new Int32Array(64 / SLOTS_PER_BLOOM_WORD);
  #pool = new Uint8Array(0); // long names' characters (normalised names are ASCII)
  #poolEnd = 0;
  #extras = new Map<string, Extras>();
  #rootGlobs: Glob[] | undefined;

  add(name: string, how: DomainHow, id: number): void {
    const r = this.#recordOf(name);
    const records = this.#records;
    if (how === 'oneBelow') {
      const extras = this.#extrasOf(name, r);
      extras.oneBelow = Math.min(extras.oneBelow, id);
    }
    if (how === 'exact' || how === 'suffix') records[r + AT_NAME] = Math.min(records[r + AT_NAME]!, id);
    if (how === 'below' || how === 'suffix') records[r + UNDER] = Math.min(records[r + UNDER]!, id);
  }

  /** `*` matches any run of characters (dots too), `?` one character, `[...]` a class. */
  addWildcard(pattern: string, id: number): void {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    // Index the pattern under the whole labels of its literal tail, so only hosts ending that way test it.
    const lastWild = Math.max(pattern.lastIndexOf('*'), pattern.lastIndexOf('?'), pattern.lastIndexOf(']'));
    const tail = pattern.slice(lastWild + 1);
    const dot = tail.indexOf('.');
    const glob = { id, re };
    if (dot < 0 || tail.length === dot + 1) (this.#rootGlobs ??= []).push(glob);
    else {
      const name = tail.slice(dot + 1);
      this.#extrasOf(name, this.#recordOf(name)).globs.push(glob);
    }
  }

  /** Smallest entry id that matches the host, or NONE. */
  match(host: string): number {
    const records = this.#records;
    const bloom = this.#bloom;
    const words = bloom.length - 1;
    let best = this.#rootGlobs ? testGlobs(this.#rootGlobs, host, NONE) : NONE;
    let oneBelow = NONE; // of the suffix one label shorter: matches if this suffix is the whole host
    let h = SEED;
    for (let i = host.length - 1; i >= -1; i--) {
      const c = i >= 0 ? host.charCodeAt(i) : DOT;
      if (c !== DOT) {
        h = step(h, c);
        continue;
      }
      const start = i + 1; // the suffix host[start..] ends here
      if (start === 0) best = Math.min(best, oneBelow);
      const key = keyOf(h);
      const word = bloom[bloomWord(key, words)]!;
      const bits = nameBits(key);
      const r = (word & bits) === bits ? this.#find(key, host, start) : -1;
      oneBelow = NONE;
      if (r >= 0) {
        best = Math.min(best, records[r + (start === 0 ? AT_NAME : UNDER)]!);
        if (this.#bytes[(r + NAME) * 4 + 1] !== 0) {
          const extras = this.#extras.get(host.slice(start))!; // rare: a slice only here
          oneBelow = extras.oneBelow;
          best = testGlobs(extras.globs, host, best);
        }
      }
      const more = ancestorBits(key);
      if ((word & more) !== more) break;
      h = step(h, DOT);
    }
    return best;
  }

  /** The record of the name host[start..], or -1. */
  #find(key: number, host: string, start: number): number {
    const records = this.#records;
    for (let slot = (key >>> 1) & this.#mask; ; slot = (slot + 1) & this.#mask) {
      const r = slot * RECORD;
      const k = records[r + KEY]!;
      if (k === 0) return -1;
      if (k === key && this.#sameName(r, host, start)) return r;
    }
  }

  #sameName(r: number, host: string, start: number): boolean {
    const name = (r + NAME) * 4;
    if (this.#bytes[name] !== host.length - start) return false;
    const pool = this.#records[r + POOL]!;
    const chars = pool < 0 ? this.#bytes : this.#pool;
    const at = (pool < 0 ? name + 2 : pool) - start;
    for (let i = start; i < host.length; i++) if (chars[at + i] !== host.charCodeAt(i)) return false;
    return true;
  }

  /** The name of a record, read back. */
  #nameAt(r: number): string {
    const length = this.#bytes[(r + NAME) * 4]!;
    const pool = this.#records[r + POOL]!;
    const at = pool < 0 ? (r + NAME) * 4 + 2 : pool;
    return String.fromCharCode(...(pool < 0 ? this.#bytes : this.#pool).subarray(at, at + length));
  }

  /** The record of a name, created if need be. */
  #recordOf(name: string): number {
    // normalised names are ASCII and at most 253 characters (DOMAIN-WILDCARD patterns too: see kinds)
    if (name.length > 255 || /[^\x00-\x7f]/.test(name)) throw new Error(`not a normalised domain name: ${name}`);
    const keys = suffixKeys(name);
    const key = keys[keys.length - 1]!;
    const found = this.#find(key, name, 0);
    if (found >= 0) return found;
    if (4 * (this.#count + 1) > 3 * (this.#mask + 1)) this.#grow();
    this.#count++;
    const r = this.#freeSlot(key);
    const inline = name.length <= INLINE;
    this.#records.set([key, NONE, NONE, inline ? -1 : this.#addToPool(name)], r);
    const at = (r + NAME) * 4;
    this.#bytes[at] = name.length;
    if (inline) for (let i = 0; i < name.length; i++) this.#bytes[at + 2 + i] = name.charCodeAt(i);
    this.#markName(keys, false);
    return r;
  }

  #extrasOf(name: string, r: number): Extras {
    let extras = this.#extras.get(name);
    if (!extras) {
      this.#extras.set(name, (extras = { oneBelow: NONE, globs: [] }));
      this.#bytes[(r + NAME) * 4 + 1] = 1;
      this.#markName(suffixKeys(name), true);
    }
    return extras;
  }

  /**
   * Sets a name's bits in the Bloom filter (`keys` from suffixKeys): the name, the suffixes it ends
   * with, and, for a name with extras, the name as a suffix too (a `*.name` entry needs the scan to go on).
   */
  #markName(keys: number[], extras: boolean): void {
    const bloom = this.#bloom;
    const words = bloom.length - 1;
    const key = keys[keys.length - 1]!;
    bloom[bloomWord(key, words)]! |= nameBits(key) | (extras ? ancestorBits(key) : 0);
    for (let i = 0; i < keys.length - 1; i++) bloom[bloomWord(keys[i]!, words)]! |= ancestorBits(keys[i]!);
  }

  #freeSlot(key: number): number {
    let slot = (key >>> 1) & this.#mask;
    while (this.#records[slot * RECORD + KEY] !== 0) slot = (slot + 1) & this.#mask;
    return slot * RECORD;
  }

  #addToPool(name: string): number {
    if (this.#poolEnd + name.length > this.#pool.length) {
      const pool = new Uint8Array(2 * (this.#poolEnd + name.length));
      pool.set(this.#pool);
      this.#pool = pool;
    }
    const at = this.#poolEnd;
    for (let i = 0; i < name.length; i++) this.#pool[at + i] = name.charCodeAt(i);
    this.#poolEnd += name.length;
    return at;
  }

  /** Doubles the table and its Bloom filter, which is filled again from the records' names. */
  #grow(): void {
    const old = this.#records;
    this.#mask = 2 * this.#mask + 1;
    this.#records = new Int32Array(2 * old.length);
    this.#bytes = new Uint8Array(this.#records.buffer);
    this.#bloom = new Int32Array(2 * this.#bloom.length);
    for (let r = 0; r < old.length; r += RECORD) {
      const key = old[r + KEY]!;
      if (key === 0) continue;
      const moved = this.#freeSlot(key);
      this.#records.set(old.subarray(r, r + RECORD), moved);
      this.#markName(suffixKeys(this.#nameAt(moved)), this.#bytes[(moved + NAME) * 4 + 1] !== 0);
    }
  }
}

function testGlobs(globs: Glob[], host: string, best: number): number {
  for (const g of globs) if (g.id < best && g.re.test(host)) best = g.id;
  return best;
}
