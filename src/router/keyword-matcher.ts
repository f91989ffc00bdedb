// DOMAIN-KEYWORD rules as one Aho-Corasick automaton, compiled to a DFA table: a host is scanned
// once, one table read per character, however many keywords there are.
import { NONE } from './domain-trie.js';

/** Characters a normalised host name can hold; anything else maps to symbol 0 (matches nothing). */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789-._';
const SYMBOLS = ALPHABET.length + 1;
const SYMBOL = new Uint8Array(128);
for (let i = 0; i < ALPHABET.length; i++) SYMBOL[ALPHABET.charCodeAt(i)] = i + 1;

interface Pending {
  next: Map<number, number>[]; // trie edges per state, while keywords are added
  out: number[]; // smallest entry id of a keyword ending in each state
}

export class KeywordMatcher {
  #pending: Pending | undefined;
  /** state × symbol → next state; built on first match after keywords were added */
  #table: Int32Array | undefined;
  #out: Float64Array | undefined;

  add(keyword: string, id: number): void {
    const p = (this.#pending ??= { next: [new Map()], out: [NONE] });
    let s = 0;
    for (let i = 0; i < keyword.length; i++) {
      const sym = SYMBOL[keyword.charCodeAt(i)] ?? 0;
      let n = p.next[s]!.get(sym);
      if (n === undefined) {
        n = p.next.length;
        p.next.push(new Map());
        p.out.push(NONE);
        p.next[s]!.set(sym, n);
      }
      s = n;
    }
    p.out[s] = Math.min(p.out[s]!, id);
    this.#table = undefined;
  }

  match(host: string): number {
    if (!this.#pending) return NONE;
    if (!this.#table) this.#build(this.#pending);
    const table = this.#table!;
    const out = this.#out!;
    let best = NONE;
    let s = 0;
    for (let i = 0; i < host.length; i++) {
      const c = host.charCodeAt(i);
      s = table[s * SYMBOLS + (c < 128 ? SYMBOL[c]! : 0)]!;
      if (out[s]! < best) best = out[s]!;
    }
    return best;
  }

  /** Breadth-first: fail links fill the missing transitions, and each state inherits its fail state's best id. */
  #build(p: Pending): void {
    const states = p.next.length;
    const table = new Int32Array(states * SYMBOLS);
    const out = Float64Array.from(p.out);
    const fail = new Int32Array(states);
    const queue: number[] = [];
    for (let sym = 0; sym < SYMBOLS; sym++) {
      const n = p.next[0]!.get(sym);
      if (n !== undefined && sym !== 0) {
        table[sym] = n;
        queue.push(n);
      }
    }
    for (let q = 0; q < queue.length; q++) {
      const s = queue[q]!;
      out[s] = Math.min(out[s]!, out[fail[s]!]!);
      for (let sym = 0; sym < SYMBOLS; sym++) {
        const n = sym === 0 ? undefined : p.next[s]!.get(sym);
        if (n === undefined) table[s * SYMBOLS + sym] = table[fail[s]! * SYMBOLS + sym]!;
        else {
          table[s * SYMBOLS + sym] = n;
          fail[n] = table[fail[s]! * SYMBOLS + sym]!;
          queue.push(n);
        }
      }
    }
    this.#table = table;
    this.#out = out;
  }
}
