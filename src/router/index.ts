// The router: Clash-style rule lines compiled into per-kind indexes (domain table, keyword
// automaton, CIDR table, port table); a match costs the same with 10 rules or 100,000.
//
//   target ──► domain table + keywords (host names) ┐
//          └─► CIDR table (IP literals) ────────────┼─► smallest entry id ─► rule ─► route name
//          └─► port table, MATCH ───────────────────┘
//   host names are resolved (hosts overrides, then system DNS) only when an IP rule without
//   no-resolve stands before the best match found without it.
import { isIPv4 } from 'node:net';
import { closest } from '../did-you-mean.js';
import type { Target } from '../address/index.js';
import { lookupFailure, type LookupFailure } from '../resolver.js';
import { NONE } from './domain-table.js';
import { explainMatch, type RouteExplanation } from './explain.js';
import { isError, RULE_KINDS } from './kinds.js';
import type { RuleSet } from './rule-set.js';
import { Tables } from './tables.js';

export { loadRuleSet, type RuleSet, type SourceError } from './rule-set.js';
export type { RouteExplanation } from './explain.js';

export interface RouteMatch {
  /** route name: DIRECT, REJECT, or a proxy, group or mirror name */
  target: string;
  /** the rule line that matched, as written; `(no rule matched)` when none did */
  rule: string;
  /** index of that rule, -1 when none matched */
  index: number;
  /** which rule-set entry matched, with its file and line */
  detail?: string;
  /** when an IP rule needed the host name's addresses: those the matching rule matched (see matchSync) */
  resolved?: string[];
  /** when that lookup failed: how (no such name, a DNS server that timed out or refused …); `resolved` is then [] */
  lookup?: LookupFailure;
}

/** A problem with one rule line; `column` is a 0-based character offset into the line. */
interface RuleError {
  rule: number;
  column: number;
  message: string;
}

export class RuleCompileError extends Error {
  constructor(readonly errors: RuleError[]) {
    super(errors.map((e) => `rule ${e.rule + 1}: ${e.message}`).join('\n'));
  }
}

interface CompileOptions {
  ruleSets?: Map<string, RuleSet>;
  /** route names a rule may send to; when given, any other target is an error */
  targets?: Set<string>;
}

export type Resolve = (host: string) => Promise<string[]>;

export class Router {
  readonly #tables: Tables;
  // rule index → the line as written, and its target: side by side rather than in an object per
  // rule, so that a match reads both at once instead of one after the other
  readonly #texts: string[];
  readonly #targets: string[];
  /** rule index → the set of a RULE-SET line, for explain */
  readonly #sets: ReadonlyMap<number, RuleSet>;

  constructor(tables: Tables, texts: string[], targets: string[], sets: ReadonlyMap<number, RuleSet>) {
    this.#tables = tables;
    this.#texts = texts;
    this.#targets = targets;
    this.#sets = sets;
  }

  get size(): number {
    return this.#texts.length;
  }

  /** each rule as written with its target, and a RULE-SET line's entries as written */
  rules(): Array<{ text: string; target: string; entries?: string[] }> {
    return this.#texts.map((text, i) => {
      const set = this.#sets.get(i);
      return { text, target: this.#targets[i]!, ...(set && { entries: set.entries.map((e) => e.text) }) };
    });
  }

  /**
   * First matching rule, using `resolved` (if any) for IP rules on a host-name target. Each address
   * is matched on its own; the rule is the first that matches the target or any of its addresses,
   * and `resolved` in the answer keeps only the addresses that rule matched: those, and no others,
   * may be dialled (an allowed address must not open the way to a forbidden one).
   */
  matchSync(target: Target, resolved?: string[]): RouteMatch {
    const base = this.#bestWithoutResolving(target);
    if (!resolved) return this.#result(base, undefined);
    const cidrs = this.#tables.resolvingCidrs;
    const each = resolved.map((a) => Math.min(base, cidrs.match(a)));
    const best = each.reduce((m, v) => Math.min(m, v), base);
    return this.#result(best, resolved.filter((_, i) => each[i] === best));
  }

  /**
   * First matching rule; resolves a host name only when an IP rule could still win. A name that
   * does not resolve matches no IP rule and comes back with `resolved: []` and `lookup` saying why
   * (a timeout, a refused DNS server and NXDOMAIN are different answers): nothing may be dialled
   * for it by the route, which must not resolve it again and reach an address no rule has seen.
   */
  async match(target: Target, resolve: Resolve): Promise<RouteMatch> {
    const best = this.#bestWithoutResolving(target);
    if (this.#tables.firstResolving >= best || isAddress(target.host)) return this.#result(best, undefined);
    let failure: LookupFailure | undefined;
    const addresses = await resolve(target.host).catch((err: unknown) => {
      failure = lookupFailure(err);
      return [] as string[];
    });
    const m = this.matchSync(target, addresses);
    if (failure) m.lookup = failure;
    return m;
  }

  /** Why `target` goes where it goes: the matching rule, each rule before it and why it did not match, and the addresses used. */
  async explain(target: Target, resolve: Resolve, options: { limit?: number } = {}): Promise<RouteExplanation> {
    let resolved: string[] | undefined;
    const m = await this.match(target, (host) => {
      resolved = []; // what match() makes of a failed lookup
      return resolve(host).then((addresses) => (resolved = addresses));
    });
    return explainMatch(m, { target, address: isAddress(target.host), resolved }, this.#texts, this.#sets, options.limit);
  }

  #bestWithoutResolving(target: Target): number {
    const t = this.#tables;
    let best = Math.min(t.matchAll, t.ports ? t.ports[target.port]! : NONE);
    if (isAddress(target.host)) best = Math.min(best, t.cidrs.match(target.host));
    else best = Math.min(best, t.domains.match(target.host), t.keywords.match(target.host));
    return best;
  }

  #result(id: number, resolved: string[] | undefined): RouteMatch {
    if (id === NONE) return { target: 'DIRECT', rule: '(no rule matched)', index: -1 };
    const index = this.#tables.ruleOf[id]!;
    const m: RouteMatch = { target: this.#targets[index]!, rule: this.#texts[index]!, index };
    const detail = this.#tables.details.size ? this.#tables.details.get(id) : undefined;
    if (detail) m.detail = detail;
    if (resolved) m.resolved = resolved;
    return m;
  }
}

/** For a normalised host (see normalizeHost): is it an IP address rather than a name? */
function isAddress(host: string): boolean {
  const last = host.charCodeAt(host.length - 1);
  return host.includes(':') || (last >= 48 && last <= 57 && isIPv4(host));
}

/** Compiles rule lines (`KIND,VALUE,TARGET[,no-resolve]`, `MATCH,TARGET`); throws RuleCompileError. */
export function compileRules(lines: readonly string[], options: CompileOptions = {}): Router {
  const tables = new Tables();
  const texts: string[] = [];
  const targets: string[] = [];
  const sets = new Map<number, RuleSet>();
  const errors: RuleError[] = [];
  lines.forEach((text, index) => {
    const err = (field: number, message: string) => errors.push({ rule: index, column: fieldOffset(text, field), message });
    const fields = text.split(',').map((f) => f.trim());
    const kindName = fields[0]!.toUpperCase();
    if (kindName === 'MATCH') {
      if (fields.length !== 2) return err(0, 'MATCH takes only a target: MATCH,TARGET');
      if (!checkTarget(fields[1]!, options, (m) => err(1, m))) return;
      texts.push(text);
      targets.push(fields[1]!);
      tables.matchAll = Math.min(tables.matchAll, tables.newEntry(index));
      return;
    }
    if (fields.length < 3) return err(0, `a rule is KIND,VALUE,TARGET (got "${text}")`);
    const [, value, target, ...opts] = fields as [string, string, string, ...string[]];
    const isSet = kindName === 'RULE-SET';
    const kind = RULE_KINDS[kindName];
    if (!kind && !isSet) return err(0, `unknown rule kind "${fields[0]}"${suggest(fields[0]!)}`);
    for (const [i, o] of opts.entries()) {
      if (o !== 'no-resolve') return err(3 + i, `unknown rule option "${o}" (only no-resolve)`);
      if (!isSet && !kind!.ip) return err(3 + i, `no-resolve applies only to IP rules`);
    }
    const noResolve = opts.includes('no-resolve');
    if (isSet) {
      const set = options.ruleSets?.get(value);
      if (!set) return err(1, `unknown rule set "${value}"${options.ruleSets?.size ? ` (known: ${[...options.ruleSets.keys()].join(', ')})` : ''}`);
      if (!checkTarget(target, options, (m) => err(2, m))) return;
      texts.push(text);
      targets.push(target);
      sets.set(index, set);
      for (const e of set.entries) e.insert(tables, tables.newEntry(index, e.detail), noResolve);
      return;
    }
    const payload = kind!.parse(value);
    if (isError(payload)) return err(1, payload.error);
    if (!checkTarget(target, options, (m) => err(2, m))) return;
    texts.push(text);
    targets.push(target);
    kind!.insert(tables, payload, tables.newEntry(index), noResolve);
  });
  if (errors.length) throw new RuleCompileError(errors);
  tables.keywords.build();
  return new Router(tables, texts, targets, sets);
}

function checkTarget(target: string, options: CompileOptions, err: (m: string) => void): boolean {
  if (!target) return err('missing target'), false;
  if (options.targets && !options.targets.has(target)) {
    const known = [...options.targets];
    const near = closest(target, known);
    err(`unknown target "${target}"${near ? ` (did you mean "${near}"?)` : ` (known: ${known.join(', ')})`}`);
    return false;
  }
  return true;
}

function suggest(kind: string): string {
  const near = closest(kind.toUpperCase(), [...Object.keys(RULE_KINDS), 'RULE-SET', 'MATCH']);
  return near ? ` (did you mean ${near}?)` : '';
}

/** Character offset of the n-th comma-separated field (its first non-blank character). */
function fieldOffset(text: string, field: number): number {
  let offset = 0;
  for (let i = 0; i < field; i++) {
    const comma = text.indexOf(',', offset);
    if (comma < 0) return text.length;
    offset = comma + 1;
  }
  while (text[offset] === ' ') offset++;
  return offset;
}
