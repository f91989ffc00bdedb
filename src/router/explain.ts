// Why a target goes where it goes (`proxyctl route`). match() finds the rule; this puts into words
// why each rule before it did not match. Nothing is matched again: match() takes the first rule
// that matches the target or any address its lookup returned, so every rule before that one failed
// on all of them, and the reason follows from the rule's kind and payload and from those facts.
import { formatTarget } from '../address/index.js';
import { NONE } from './domain-table.js';
import type { LookupFailure } from '../resolver.js';
import type { RouteMatch } from './index.js';
import { RULE_KINDS } from './kinds.js';
import type { Facts } from './rule-kind.js';
import type { RuleSet } from './rule-set.js';
import { Tables } from './tables.js';

interface RuleTrial {
  /** 0-based rule index */
  index: number;
  /** the rule line as written */
  rule: string;
  /** why it did not match, in words a user understands, e.g. "github.com is not example.com or below it",
   *  "IP rule skipped: no-resolve (github.com is a name)", "no address of github.com is in 10.0.0.0/8 (140.82.1.1)",
   *  "port 443 is not 22", "no entry of rule set internal-git (rules/x.txt) matches" */
  reason: string;
}

export interface RouteExplanation {
  /** the route the connection would take (DIRECT, REJECT, a proxy, group or mirror name) */
  route: string;
  /** the matching rule line, or "(no rule matched)" (then route is DIRECT) */
  rule: string;
  /** its index, -1 when none matched */
  index: number;
  /** which rule-set entry matched, with file and line (RouteMatch.detail) */
  detail?: string;
  /** rules before the match that did not match, in order; at most `limit` (default 50): the ones nearest the match */
  tried: RuleTrial[];
  /** rules before the match not listed in `tried` because of the limit */
  omitted: number;
  /** the host name's addresses, when an IP rule needed them (the same lookup `match` would do, through `resolve`); undefined when no lookup was needed */
  resolved?: string[];
  /** of those, the ones the matching rule allows to be dialled (RouteMatch.resolved) */
  addresses?: string[];
  /** when that lookup failed: how (RouteMatch.lookup) */
  lookup?: LookupFailure;
}

/** The explanation of `match`, listing up to `limit` of the rules before it (`texts` and, for RULE-SET lines, `sets`). */
export function explainMatch(
  match: RouteMatch,
  facts: Facts,
  texts: readonly string[],
  sets: ReadonlyMap<number, RuleSet>,
  limit = 50,
): RouteExplanation {
  const before = match.index < 0 ? texts.length : match.index;
  const first = before - Math.min(before, Math.max(0, limit));
  const tried: RuleTrial[] = [];
  for (let index = first; index < before; index++) {
    const rule = texts[index]!;
    tried.push({ index, rule, reason: whyNot(rule, sets.get(index), facts) });
  }
  const e: RouteExplanation = { route: match.target, rule: match.rule, index: match.index, tried, omitted: first };
  if (match.detail) e.detail = match.detail;
  if (facts.resolved) e.resolved = facts.resolved;
  if (match.resolved) e.addresses = match.resolved;
  if (match.lookup) e.lookup = match.lookup;
  return e;
}

/** Why a rule line that stands before the match (so compiled, and not MATCH) did not match. */
function whyNot(text: string, set: RuleSet | undefined, facts: Facts): string {
  const [kindName, value, , ...opts] = text.split(',').map((f) => f.trim()) as [string, string, string, ...string[]];
  const noResolve = opts.includes('no-resolve');
  if (set) return notInSet(set, noResolve, facts);
  const kind = kindName.toUpperCase();
  const rule = RULE_KINDS[kind]!;
  return rule.explain({ kind, value, payload: rule.parse(value), noResolve }, facts);
}

function notInSet(set: RuleSet, noResolve: boolean, { target, address, resolved }: Facts): string {
  const none = `no entry of rule set ${set.name} (${set.file}) matches ${formatTarget(target)}`;
  if (address) return none;
  const ip = ipEntries(set, noResolve);
  if (ip === 'resolving') return resolved?.length ? `${none} or its addresses (${resolved.join(', ')})` : `${none} (${target.host} did not resolve)`;
  return ip === 'skipped' ? `${none} (IP entries skipped: no-resolve)` : none;
}

/** Whether the set has IP entries and, on a line with or without no-resolve, whether a name's addresses meet any of them. */
function ipEntries(set: RuleSet, noResolve: boolean): 'none' | 'skipped' | 'resolving' {
  const tables = new Tables();
  for (const e of set.entries) e.insert(tables, 0, noResolve);
  return tables.firstResolving !== NONE ? 'resolving' : tables.hasCidrs ? 'skipped' : 'none';
}
