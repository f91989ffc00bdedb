// The rule kinds by name: the registry that rule lines, rule-set entries and explanations look a
// kind up in. A new rule kind is one entry here, a RuleKind with its explain (rule-kind.ts).
import { parseCidr } from '../address/index.js';
import { domain, DOMAIN, DOMAIN_KEYWORD, DOMAIN_SUFFIX, DOMAIN_WILDCARD } from './domain-kinds.js';
import { IP_CIDR, IP_CIDR6 } from './ip-kinds.js';
import { DST_PORT } from './port-kind.js';
import type { RuleKind } from './rule-kind.js';
import type { Tables } from './tables.js';

export const RULE_KINDS: Readonly<Record<string, RuleKind>> = {
  DOMAIN,
  'DOMAIN-SUFFIX': DOMAIN_SUFFIX,
  'DOMAIN-KEYWORD': DOMAIN_KEYWORD,
  'DOMAIN-WILDCARD': DOMAIN_WILDCARD,
  'IP-CIDR': IP_CIDR,
  'IP-CIDR6': IP_CIDR6,
  'DST-PORT': DST_PORT,
};

export type Insert = (tables: Tables, id: number, noResolve: boolean) => void;

/**
 * An entry of a rule-set file, in Clash's syntax: `+.name` (the name and everything below),
 * `.name` (only below), `*.name` (one label below), `name` (exactly), a CIDR, or a classical
 * `KIND,VALUE[,no-resolve]` line.
 */
export function parseSetEntry(text: string): Insert | { error: string } {
  if (text.includes(',')) {
    const [k, value, ...opts] = text.split(',').map((s) => s.trim());
    const ruleKind = RULE_KINDS[k!.toUpperCase()];
    if (!ruleKind) return { error: `unknown rule kind "${k}" in a rule set` };
    const payload = ruleKind.parse(value ?? '');
    if (isError(payload)) return payload;
    const own = opts.includes('no-resolve');
    return (t, id, noResolve) => ruleKind.insert(t, payload, id, noResolve || own);
  }
  const c = parseCidr(text);
  if (c) return (t, id, noResolve) => t.addCidr(c, id, noResolve);
  const prefixed = text.match(/^(\+\.|\.|\*\.)(.*)$/);
  const d = domain(prefixed ? prefixed[2]! : text);
  if (isError(d)) return d;
  const how = prefixed?.[1] === '+.' ? 'suffix' : prefixed?.[1] === '.' ? 'below' : prefixed?.[1] === '*.' ? 'oneBelow' : 'exact';
  return (t, id) => t.domains.add(d, how, id);
}

export function isError(v: unknown): v is { error: string } {
  return typeof v === 'object' && v !== null && 'error' in v;
}
