// Domain rules indexed by label, from the right: matching walks the host's labels once, whatever
// the number of rules. Each node keeps the smallest entry id per way of matching, because the
// first rule (smallest id) wins.

export const NONE = Number.MAX_SAFE_INTEGER;

interface Glob {
  id: number;
  re: RegExp;
}

class Node {
  children = new Map<string, Node>();
  exact = NONE; // DOMAIN: the host is this name
  suffix = NONE; // DOMAIN-SUFFIX / `+.name`: this name or any name below it
  below = NONE; // `.name`: any name below it, not the name itself
  oneBelow = NONE; // `*.name`: exactly one label below it
  globs: Glob[] | undefined; // DOMAIN-WILDCARD patterns whose literal tail ends at this node
}

export type DomainHow = 'exact' | 'suffix' | 'below' | 'oneBelow';

export class DomainTrie {
  #root = new Node();

  add(name: string, how: DomainHow, id: number): void {
    const node = this.#path(name.split('.'));
    node[how] = Math.min(node[how], id);
  }

  /** `*` matches any run of characters (dots too), `?` one character, `[...]` a class. */
  addWildcard(pattern: string, id: number): void {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    // Index the pattern under the whole labels of its literal tail, so only hosts ending that way test it.
    const lastWild = Math.max(pattern.lastIndexOf('*'), pattern.lastIndexOf('?'), pattern.lastIndexOf(']'));
    const tail = pattern.slice(lastWild + 1);
    const dot = tail.indexOf('.');
    const labels = dot >= 0 && tail.length > dot + 1 ? tail.slice(dot + 1).split('.') : [];
    const node = this.#path(labels);
    (node.globs ??= []).push({ id, re });
  }

  /** Smallest entry id that matches the host, or NONE. */
  match(host: string): number {
    const labels = host.split('.');
    let best = NONE;
    let node: Node | undefined = this.#root;
    best = this.#globs(node, host, best);
    for (let i = labels.length - 1; i >= 0; i--) {
      node = node.children.get(labels[i]!);
      if (!node) break;
      if (i === 0) best = Math.min(best, node.exact, node.suffix);
      else {
        best = Math.min(best, node.suffix, node.below);
        if (i === 1) best = Math.min(best, node.oneBelow);
      }
      best = this.#globs(node, host, best);
    }
    return best;
  }

  #globs(node: Node, host: string, best: number): number {
    if (!node.globs) return best;
    for (const g of node.globs) if (g.id < best && g.re.test(host)) best = g.id;
    return best;
  }

  #path(labels: string[]): Node {
    let node = this.#root;
    for (let i = labels.length - 1; i >= 0; i--) {
      const label = labels[i]!;
      let next = node.children.get(label);
      if (!next) node.children.set(label, (next = new Node()));
      node = next;
    }
    return node;
  }
}
