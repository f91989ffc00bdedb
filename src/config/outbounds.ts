// The `proxies:`, `groups:` and `mirrors:` sections: each entry is read by the kind its `type`
// (a mirror's `kind`) names (the kind knows its own options), then the names are checked
// together: unique, every reference (a `via`, a group member, a mirror's via and fallback)
// defined and able to carry connections, and no loop. Every problem at its FILE:LINE:COL.
import { isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap } from 'yaml';
import { closest } from '../did-you-mean.js';
import { BUILT_IN_OUTBOUNDS, outboundKind, typesOf, type DefinitionReader, type OutboundDef, type Reference } from '../outbound/index.js';
import { hint, list } from './nodes.js';
import type { Source } from './source.js';
import { parseCount, parseDuration } from './units.js';

type Section = 'proxies' | 'groups' | 'mirrors';

/** A read definition and the reader that knows where its options were written. */
export interface ReadDefinition {
  def: OutboundDef;
  reader: EntryReader;
  /** false when its options had problems: its name still counts (no cascade of "unknown" errors) */
  ok: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SINGULAR: Record<Section, string> = { proxies: 'proxy', groups: 'group', mirrors: 'mirror' };

/** Reads the entries of one section; problems are recorded in `src`. */
export function readSection(src: Source, node: Node, section: Section): ReadDefinition[] {
  const out: ReadDefinition[] = [];
  for (const item of list(src, node, section)) {
    if (!isMap(item)) {
      src.error(item, `${section}: each entry is a mapping ({ name: …, type: … })`);
      continue;
    }
    const types = typesOf(section);
    /** the key that names the kind: a mirror's `kind`, everything else's `type` */
    const kindKey = section === 'mirrors' ? 'kind' : 'type';
    const nameNode = item.get('name', true) as Node | undefined;
    const typeNode = item.get(kindKey, true) as Node | undefined;
    const name = isScalar(nameNode) ? String(nameNode.value) : undefined;
    const type = isScalar(typeNode) ? String(typeNode.value) : undefined;
    if (!name || !NAME.test(name)) {
      src.error(nameNode ?? item, `${section}: each entry needs a name (letters, digits, _ . -)${name ? ` (got "${name}")` : ''}`);
      continue;
    }
    const kind = type === undefined ? undefined : outboundKind(type);
    if (!kind || kind.section !== section) {
      const near = type === undefined ? undefined : closest(type, types);
      src.error(typeNode ?? item, type === undefined
        ? `${section}.${name}: needs ${kindKey}: ${types.join(' | ')}`
        : `${section}.${name}: unknown ${kindKey} "${type}"${near ? ` (did you mean "${near}"?)` : ` (known: ${types.join(', ')})`}`);
      // its name still counts: no cascade of "unknown member"/"unknown target" errors about it
      out.push({ def: { name, type: type ?? '' }, reader: new EntryReader(src, item, `${section}.${name}`, name, [], kindKey), ok: false });
      continue;
    }
    const reader = new EntryReader(src, item, `${section}.${name}`, name, kind.options ?? [], kindKey);
    const def = kind.parse?.(reader);
    reader.finish();
    out.push({ def: def ?? { name, type: type! }, reader, ok: def !== undefined });
  }
  return out;
}

/** Names unique, references defined and to dialers, no loops; the definitions in config order when all is well. */
export function checkReferences(read: ReadDefinition[]): OutboundDef[] {
  const builtIn = new Set(BUILT_IN_OUTBOUNDS.map((d) => d.name));
  const byName = new Map<string, ReadDefinition>();
  for (const r of read) {
    if (builtIn.has(r.def.name)) r.reader.problem('name', `"${r.def.name}" is built in; choose another name`);
    else if (byName.has(r.def.name)) r.reader.problem('name', `name "${r.def.name}" is already defined`);
    else byName.set(r.def.name, r);
  }
  const known = [...builtIn, ...byName.keys()];
  const refs = (r: ReadDefinition): Reference[] => (r.ok ? outboundKind(r.def.type)?.uses?.(r.def) ?? [] : []);
  for (const r of byName.values()) {
    for (const ref of refs(r)) {
      const used = byName.get(ref.name);
      const usedKind = used?.ok ? outboundKind(used.def.type) : undefined;
      if (usedKind && usedKind.builds !== 'dialer') {
        const key = ref.key === 'members' ? 'member' : ref.key;
        r.reader.problem(ref.key, `${key} "${ref.name}" is a ${SINGULAR[usedKind.section!]}, which answers requests itself and does not carry connections (name DIRECT, a proxy or a group)`, ref.index);
      }
      if (builtIn.has(ref.name) || used) continue;
      const near = closest(ref.name, known);
      const what = ref.key === 'via' ? 'proxy' : ref.key === 'fallback' ? 'route' : 'member';
      r.reader.problem(ref.key, `unknown ${what} "${ref.name}"${near ? ` (did you mean "${near}"?)` : ` (known: ${known.join(', ')})`}`, ref.index);
    }
  }
  // loops: a depth-first walk; the reference that closes a loop is reported, with the loop
  const state = new Map<string, 'walking' | 'done'>();
  const walk = (name: string, path: string[]): void => {
    const r = byName.get(name);
    if (!r || state.get(name) === 'done') return;
    state.set(name, 'walking');
    for (const ref of refs(r)) {
      if (state.get(ref.name) === 'walking') {
        const walked = [...path, name];
        const loop = [...walked.slice(walked.indexOf(ref.name)), ref.name];
        r.reader.problem(ref.key, `loop: ${loop.join(' → ')}`, ref.index);
      } else walk(ref.name, [...path, name]);
    }
    state.set(name, 'done');
  };
  for (const name of byName.keys()) walk(name, []);
  return [...byName.values()].filter((r) => r.ok).map((r) => r.def);
}

/** A DefinitionReader over one YAML mapping. */
class EntryReader implements DefinitionReader {
  readonly name: string;
  readonly #src: Source;
  readonly #node: YAMLMap;
  readonly #what: string;
  readonly #known: readonly string[];
  /** the key naming the kind of a top-level entry (`type`, a mirror's `kind`); undefined for a mapping nested in one */
  readonly #kindKey: string | undefined;
  readonly #fields = new Map<string, { key: Node; value: Node }>();

  constructor(src: Source, node: YAMLMap, what: string, name: string, known: readonly string[], kindKey: string | undefined) {
    this.#kindKey = kindKey;
    this.#src = src;
    this.#node = node;
    this.#what = what;
    this.name = name;
    this.#known = known;
    for (const pair of node.items as Pair<Node, Node>[]) {
      if (isScalar(pair.key)) this.#fields.set(String(pair.key.value), { key: pair.key, value: pair.value ?? pair.key });
    }
  }

  string(key: string): string | undefined {
    const f = this.#fields.get(key);
    if (!f) return undefined;
    if (isScalar(f.value) && (typeof f.value.value === 'string' || typeof f.value.value === 'number')) return String(f.value.value);
    this.problem(key, `${key}: expected a string`);
    return undefined;
  }

  strings(key: string): string[] | undefined {
    const f = this.#fields.get(key);
    if (!f) return undefined;
    if (isScalar(f.value)) return [String(f.value.value)];
    if (!isSeq(f.value)) return void this.problem(key, `${key}: expected a list`);
    return (f.value.items as Node[]).map((item, i) => {
      if (isScalar(item)) return String(item.value);
      this.problem(key, `${key}: expected a name`, i);
      return '';
    });
  }

  duration(key: string): number | undefined {
    return this.#number(key, parseDuration);
  }

  boolean(key: string): boolean | undefined {
    const f = this.#fields.get(key);
    if (!f) return undefined;
    if (isScalar(f.value) && typeof f.value.value === 'boolean') return f.value.value;
    return void this.problem(key, `${key}: expected true or false`);
  }

  count(key: string): number | undefined {
    return this.#number(key, parseCount);
  }

  section(key: string, options: readonly string[]): DefinitionReader | undefined {
    const f = this.#fields.get(key);
    if (!f) return undefined;
    if (!isMap(f.value)) return void this.problem(key, `${key}: expected a mapping`);
    const nested = new EntryReader(this.#src, f.value, `${this.#what}.${key}`, this.name, options, undefined);
    nested.finish();
    return nested;
  }

  problem(key: string | undefined, message: string, index?: number): void {
    const f = key === undefined ? undefined : this.#fields.get(key);
    let at: Node = f?.value ?? this.#node;
    if (f && index !== undefined && isSeq(f.value)) at = (f.value.items as Node[])[index] ?? at;
    this.#src.error(at, `${this.#what}: ${message}`);
  }

  /** Reports the options this entry's kind does not know. */
  finish(): void {
    for (const [key, f] of this.#fields) {
      if (this.#kindKey && (key === 'name' || key === this.#kindKey)) continue;
      if (!this.#known.includes(key)) this.#src.error(f.key, `${this.#what}: unknown option "${key}"${hint(key, [...this.#known])}`);
    }
  }

  #number(key: string, parse: (v: unknown) => number | string): number | undefined {
    const f = this.#fields.get(key);
    if (!f) return undefined;
    const parsed = parse(isScalar(f.value) ? f.value.value : undefined);
    if (typeof parsed === 'string') return void this.problem(key, `${key}: ${parsed}`);
    return parsed;
  }
}
