// DOMAIN-KEYWORD rules as one Aho-Corasick automaton, compiled to a DFA table: a host is scanned
// once, one table read per character, however many keywords there are.
//
// The table is kept small, because with many keywords its rows are what a match waits for: a
// row has a column only for the characters the keywords use (one more for all others), entries
// are 16-bit while there are fewer than 32,768 states, states are numbered breadth-first so the
// shallow ones every host walks through share cache lines, and an entry has `ends` added when its
// state ends a keyword, so the scan reads nothing else per character.
import { NONE } from './domain-table.js';

interface Pending {
  next: Map<number, number>[]; // trie edges per state (char code → state), while keywords are added
  out: number[]; // smallest entry id of a keyword ending in each state
}

interface Dfa {
  /** char code (< 128) → column; 0, the column of every character no keyword uses */
  column: Uint8Array;
  width: number;
  /** state × width + column → next state, plus `ends` when the next state ends a keyword */
  table: Uint16Array | Int32Array;
  ends: number;
  /** state → smallest entry id of a keyword ending there */
  out: Int32Array;
}

export class KeywordMatcher {
  #pending: Pending | undefined;
  #dfa: Dfa | undefined;

  add(keyword: string, id: number): void {
    const p = (this.#pending ??= { next: [new Map()], out: [NONE] });
    let s = 0;
    for (let i = 0; i < keyword.length; i++) {
      const c = keyword.charCodeAt(i);
      let n = p.next[s]!.get(c);
      if (n === undefined) {
        n = p.next.length;
        p.next.push(new Map());
        p.out.push(NONE);
        p.next[s]!.set(c, n);
      }
      s = n;
    }
    p.out[s] = Math.min(p.out[s]!, id);
    this.#dfa = undefined;
  }

  /** Builds the automaton now rather than on the first match (compileRules does: no connection waits for it). */
  build(): void {
    if (this.#pending) this.#dfa ??= compile(this.#pending);
  }

  match(host: string): number {
    if (!this.#pending) return NONE;
    const { column, width, table, ends, out } = (this.#dfa ??= compile(this.#pending));
    let best = NONE;
    let s = 0;
    for (let i = 0; i < host.length; i++) {
      const c = host.charCodeAt(i);
      s = table[s * width + (c < 128 ? column[c]! : 0)]!;
      if (s >= ends) {
        s -= ends;
        best = Math.min(best, out[s]!);
      }
    }
    return best;
  }
}

/**
 * Breadth-first over the trie: states are renumbered in that order, fail links fill the missing
 * transitions, and each state inherits its fail state's smallest id.
 */
function compile(p: Pending): Dfa {
  const column = new Uint8Array(128);
  let width = 1;
  for (const edges of p.next) for (const c of edges.keys()) if (c < 128 && column[c] === 0) column[c] = width++;

  const order = [0]; // trie states in breadth-first order
  const number = new Int32Array(p.next.length); // trie state → new state number
  for (let q = 0; q < order.length; q++) {
    for (const n of p.next[order[q]!]!.values()) {
      number[n] = order.length;
      order.push(n);
    }
  }
  const states = order.length;
  const goto = new Int32Array(states * width); // state × column → state
  const fail = new Int32Array(states);
  const out = new Int32Array(states);
  for (let s = 0; s < states; s++) {
    const row = s * width;
    const f = fail[s]! * width; // a shallower state: its row is complete
    if (s !== 0) goto.copyWithin(row, f, f + width);
    for (const [c, n] of p.next[order[s]!]!) {
      const col = c < 128 ? column[c]! : 0;
      if (col === 0) continue; // no host character reaches it
      const child = number[n]!;
      goto[row + col] = child;
      if (s !== 0) fail[child] = goto[f + col]!;
    }
    out[s] = s === 0 ? p.out[0]! : Math.min(p.out[order[s]!]!, out[fail[s]!]!);
  }
  const ends = states < 0x8000 ? 0x8000 : 0x40000000;
  const table = ends === 0x8000 ? new Uint16Array(states * width) : goto;
  for (let i = 0; i < table.length; i++) {
    const n = goto[i]!;
    table[i] = out[n]! < NONE ? n + ends : n;
  }
  return { column, width, table, ends, out };
}
