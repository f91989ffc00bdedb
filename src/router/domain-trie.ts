// Domain rules indexed by label, from the right: matching walks the host's labels once, whatever
// the number of rules. Each node keeps the smallest entry id per way of matching, because the
// first rule (smallest id) wins.
//
// The trie lives in one open-addressing hash table of fixed-size records keyed by (parent node,
// label), in an Int32Array, with the labels' characters in a pool beside it. A level of a lookup
// is then one record read plus one label compare, where a tree of Maps and node objects costs
// several dependent reads all over the heap: with 100,000 rules those are cache misses, and were
// most of the time a match took. The host is never split or sliced: no allocation per match.

/** No entry: larger than any entry id, and fits an Int32Array. */
export const NONE = 0x7fffffff;

interface Glob {
  id: number;
  re: RegExp;
}

export type DomainHow = 'exact' | 'suffix' | 'below' | 'oneBelow';

// Record fields. KEY is the hash of the node's whole name (never 0: 0 marks a free slot); PARENT
// the parent's record offset, ROOT for a top-level label; LABEL the label's offset in the pool.
const KEY = 0;
const PARENT = 1;
const LABEL = 2;
const GLOBS = 3; // index into #globs + 1, 0 when none
const EXACT = 4; // DOMAIN: the host is this name
const SUFFIX = 5; // DOMAIN-SUFFIX / `+.name`: this name or any name below it
const BELOW = 6; // `.name`: any name below it, not the name itself
const ONE_BELOW = 7; // `*.name`: exactly one label below it
const RECORD = 8;
const FIELD: Record<DomainHow, number> = { exact: EXACT, suffix: SUFFIX, below: BELOW, oneBelow: ONE_BELOW };

const ROOT = -1;
const DOT = 46;

/** FNV-1a, one character at a time: a name's hash is built from its right end, label by label. */
function step(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}

/** The hash that keys a record: finalised (murmur3 fmix32) so that its low bits spread, never 0. */
function keyOf(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 1;
}

const SEED = 0x811c9dc5;

export class DomainTrie {
  #records = new Int32Array(64 * RECORD);
  #mask = 63; // slots - 1
  #count = 0;
  #pool = new Uint16Array(256); // each label: its length, then its characters
  #poolEnd = 0;
  #globs: Glob[][] = [];
  #rootGlobs: Glob[] | undefined;

  add(name: string, how: DomainHow, id: number): void {
    const r = this.#path(name);
    const field = r + FIELD[how];
    this.#records[field] = Math.min(this.#records[field]!, id);
  }

  /** `*` matches any run of characters (dots too), `?` one character, `[...]` a class. */
  addWildcard(pattern: string, id: number): void {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    // Index the pattern under the whole labels of its literal tail, so only hosts ending that way test it.
    const lastWild = Math.max(pattern.lastIndexOf('*'), pattern.lastIndexOf('?'), pattern.lastIndexOf(']'));
    const tail = pattern.slice(lastWild + 1);
    const dot = tail.indexOf('.');
    const glob = { id, re };
    if (dot < 0 || tail.length === dot + 1) {
      (this.#rootGlobs ??= []).push(glob);
      return;
    }
    const r = this.#path(tail.slice(dot + 1));
    const records = this.#records;
    if (records[r + GLOBS] === 0) records[r + GLOBS] = this.#globs.push([]);
    this.#globs[records[r + GLOBS]! - 1]!.push(glob);
  }

  /** Smallest entry id that matches the host, or NONE. */
  match(host: string): number {
    const records = this.#records;
    let best = this.#rootGlobs ? testGlobs(this.#rootGlobs, host, NONE) : NONE;
    let parent = ROOT;
    let h = SEED;
    let end = host.length;
    for (let i = end - 1; i >= -1; i--) {
      const c = i >= 0 ? host.charCodeAt(i) : DOT;
      if (c !== DOT) {
        h = step(h, c);
        continue;
      }
      const start = i + 1; // the label is host[start, end)
      if (start === 0 && parent !== ROOT) best = Math.min(best, records[parent + ONE_BELOW]!);
      const r = this.#find(keyOf(h), parent, host, start, end);
      if (r < 0) break;
      best = Math.min(best, records[r + SUFFIX]!, records[r + (start === 0 ? EXACT : BELOW)]!);
      if (records[r + GLOBS] !== 0) best = testGlobs(this.#globs[records[r + GLOBS]! - 1]!, host, best);
      parent = r;
      h = step(h, DOT);
      end = i;
    }
    return best;
  }

  /** The record of (parent, host[start, end)), or -1. */
  #find(key: number, parent: number, host: string, start: number, end: number): number {
    const records = this.#records;
    const pool = this.#pool;
    for (let slot = (key >>> 1) & this.#mask; ; slot = (slot + 1) & this.#mask) {
      const r = slot * RECORD;
      const k = records[r + KEY]!;
      if (k === 0) return -1;
      if (k !== key || records[r + PARENT] !== parent) continue;
      let p = records[r + LABEL]!;
      if (pool[p] !== end - start) continue;
      let i = start;
      while (i < end && pool[++p] === host.charCodeAt(i)) i++;
      if (i === end) return r;
    }
  }

  /** The record of a name, created with its ancestors as needed. */
  #path(name: string): number {
    let parent = ROOT;
    let h = SEED;
    let end = name.length;
    for (let i = end - 1; i >= -1; i--) {
      const c = i >= 0 ? name.charCodeAt(i) : DOT;
      if (c !== DOT) {
        h = step(h, c);
        continue;
      }
      const key = keyOf(h);
      let r = this.#find(key, parent, name, i + 1, end);
      if (r < 0) r = this.#insert(key, parent, name.slice(i + 1, end));
      parent = r;
      h = step(h, DOT);
      end = i;
    }
    return parent;
  }

  #insert(key: number, parent: number, label: string): number {
    if (2 * (this.#count + 1) > this.#mask + 1) {
      parent = this.#grow(parent);
    }
    this.#count++;
    const records = this.#records;
    let slot = (key >>> 1) & this.#mask;
    while (records[slot * RECORD + KEY] !== 0) slot = (slot + 1) & this.#mask;
    const r = slot * RECORD;
    records.set([key, parent, this.#addLabel(label), 0, NONE, NONE, NONE, NONE], r);
    return r;
  }

  #addLabel(label: string): number {
    if (this.#poolEnd + label.length + 1 > this.#pool.length) {
      const pool = new Uint16Array(Math.max(2 * this.#pool.length, this.#poolEnd + label.length + 1));
      pool.set(this.#pool);
      this.#pool = pool;
    }
    const at = this.#poolEnd;
    this.#pool[at] = label.length;
    for (let i = 0; i < label.length; i++) this.#pool[at + 1 + i] = label.charCodeAt(i);
    this.#poolEnd += label.length + 1;
    return at;
  }

  /** Doubles the table; records move, so parents are renumbered. Returns where `parent` went. */
  #grow(parent: number): number {
    const old = this.#records;
    const slots = 2 * (this.#mask + 1);
    const records = new Int32Array(slots * RECORD);
    const moved = new Int32Array(old.length / RECORD);
    for (let r = 0; r < old.length; r += RECORD) {
      if (old[r + KEY] === 0) continue;
      let slot = (old[r + KEY]! >>> 1) & (slots - 1);
      while (records[slot * RECORD + KEY] !== 0) slot = (slot + 1) & (slots - 1);
      records.set(old.subarray(r, r + RECORD), slot * RECORD);
      moved[r / RECORD] = slot * RECORD;
    }
    for (let r = 0; r < records.length; r += RECORD) {
      if (records[r + KEY] !== 0 && records[r + PARENT] !== ROOT) records[r + PARENT] = moved[records[r + PARENT]! / RECORD]!;
    }
    this.#records = records;
    this.#mask = slots - 1;
    return parent === ROOT ? ROOT : moved[parent / RECORD]!;
  }
}

function testGlobs(globs: Glob[], host: string, best: number): number {
  for (const g of globs) if (g.id < best && g.re.test(host)) best = g.id;
  return best;
}
