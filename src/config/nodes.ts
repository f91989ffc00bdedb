// Reading YAML nodes with every problem recorded at its position: the helpers every section uses.
import { isMap, isScalar, isSeq, type Node, type Pair } from 'yaml';
import { closest } from '../did-you-mean.js';
import type { Source } from './source.js';

export function hint(key: string, known: string[]): string {
  const near = closest(key, known);
  return near ? ` (did you mean "${near}"?)` : ` (known keys: ${known.join(', ')})`;
}

/** [key, value node, key node] of a mapping; unknown keys (when `allowed` is given) are reported. */
export function entries(src: Source, node: Node, what: string, allowed?: string[]): Array<[string, Node, Node]> {
  if (!isMap(node)) {
    src.error(node, `${what}: expected a mapping (key: value)`);
    return [];
  }
  const out: Array<[string, Node, Node]> = [];
  for (const pair of node.items as Pair<Node, Node>[]) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
    if (key === undefined) {
      src.error(pair.key, `${what}: keys must be plain names`);
      continue;
    }
    if (allowed && !allowed.includes(key)) {
      src.error(pair.key, `${what}: unknown key "${key}"${hint(key, allowed)}`);
      continue;
    }
    out.push([key, pair.value ?? pair.key, pair.key]);
  }
  return out;
}

export function list(src: Source, node: Node, what: string): Node[] {
  if (isSeq(node)) return node.items as Node[];
  src.error(node, `${what}: expected a list`);
  return [];
}

export function string(src: Source, node: Node, what: string): string | undefined {
  if (isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number')) return String(node.value);
  src.error(node, `${what}: expected a string`);
  return undefined;
}
