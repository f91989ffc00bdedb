// DOMAIN-KEYWORD rules as one Aho-Corasick automaton: a host is scanned once, character by
// character, however many keywords there are.
import { NONE } from './domain-trie.js';

interface State {
  next: Map<string, State>;
  fail: State | undefined;
  /** smallest entry id among keywords that end here (or in a state on the fail chain) */
  out: number;
}

function state(): State {
  return { next: new Map(), fail: undefined, out: NONE };
}

export class KeywordMatcher {
  #root = state();
  #built = true;
  #empty = true;

  add(keyword: string, id: number): void {
    let s = this.#root;
    for (const ch of keyword) {
      let n = s.next.get(ch);
      if (!n) s.next.set(ch, (n = state()));
      s = n;
    }
    s.out = Math.min(s.out, id);
    this.#built = false;
    this.#empty = false;
  }

  match(host: string): number {
    if (this.#empty) return NONE;
    if (!this.#built) this.#build();
    let best = NONE;
    let s = this.#root;
    for (const ch of host) {
      let n = s.next.get(ch);
      while (!n && s !== this.#root) {
        s = s.fail!;
        n = s.next.get(ch);
      }
      s = n ?? this.#root;
      if (s.out < best) best = s.out;
    }
    return best;
  }

  /** Breadth-first fail links; each state inherits the best id of its fail state. */
  #build(): void {
    const queue: State[] = [];
    for (const child of this.#root.next.values()) {
      child.fail = this.#root;
      queue.push(child);
    }
    for (let i = 0; i < queue.length; i++) {
      const s = queue[i]!;
      for (const [ch, child] of s.next) {
        let f = s.fail!;
        while (f !== this.#root && !f.next.has(ch)) f = f.fail!;
        const target = f.next.get(ch);
        child.fail = target && target !== child ? target : this.#root;
        child.out = Math.min(child.out, child.fail.out);
        queue.push(child);
      }
    }
    this.#built = true;
  }
}
