// The rule kinds: how each parses its payload and where it puts it. A new rule kind is one entry here.
import { normalizeHost, parseCidr, type Cidr } from '../address/index.js';
import type { Tables } from './tables.js';

export interface RuleKind<P = unknown> {
  /** payload text → parsed payload, or an error message */
  parse(value: string): P | { error: string };
  insert(tables: Tables, payload: P, id: number, noResolve: boolean): void;
  /** takes the no-resolve option (IP rules) */
  ip?: boolean;
}

function kind<P>(k: RuleKind<P>): RuleKind {
  return k as RuleKind;
}

function domain(value: string): string | { error: string } {
  const host = normalizeHost(value);
  return host && !host.includes(':') && !/^[\d.]+$/.test(host) ? host : { error: `"${value}" is not a domain name` };
}

function cidr(family?: 4 | 6) {
  return (value: string): Cidr | { error: string } => {
    const c = parseCidr(value);
    if (!c) return { error: `"${value}" is not an IP address or CIDR` };
    if (family && c.family !== family) return { error: `"${value}" is not an IPv${family} CIDR` };
    return c;
  };
}

export const RULE_KINDS: Record<string, RuleKind> = {
  DOMAIN: kind({ parse: domain, insert: (t, d, id) => t.domains.add(d, 'exact', id) }),
  'DOMAIN-SUFFIX': kind({
    parse: (v) => domain(v.replace(/^\./, '')),
    insert: (t, d, id) => t.domains.add(d, 'suffix', id),
  }),
  'DOMAIN-KEYWORD': kind({
    parse: (v) => (/^[a-z0-9_.-]+$/i.test(v) ? v.toLowerCase() : { error: `"${v}" is not a domain keyword` }),
    insert: (t, k, id) => t.keywords.add(k, id),
  }),
  'DOMAIN-WILDCARD': kind({
    parse: (v) =>
      /^[a-z0-9_.*?[\]-]{1,253}$/i.test(v) && !/\[[^\]]*$/.test(v) ? v.toLowerCase() : { error: `"${v}" is not a wildcard domain pattern` },
    insert: (t, p, id) => t.domains.addWildcard(p, id),
  }),
  'IP-CIDR': kind({ parse: cidr(), insert: (t, c, id, noResolve) => t.addCidr(c, id, noResolve), ip: true }),
  'IP-CIDR6': kind({ parse: cidr(6), insert: (t, c, id, noResolve) => t.addCidr(c, id, noResolve), ip: true }),
  'DST-PORT': kind({ parse: portRanges, insert: (t, ranges, id) => ranges.forEach(([a, b]) => t.addPorts(a, b, id)) }),
};

/** `22`, `8000-9000`, `80/443/8080-8090` */
function portRanges(value: string): Array<[number, number]> | { error: string } {
  const out: Array<[number, number]> = [];
  for (const part of value.split('/')) {
    const m = part.match(/^(\d{1,5})(?:-(\d{1,5}))?$/);
    const a = m ? Number(m[1]) : NaN;
    const b = m?.[2] ? Number(m[2]) : a;
    if (!m || a < 1 || b > 65535 || a > b) return { error: `"${value}" is not a port or port range (1-65535)` };
    out.push([a, b]);
  }
  return out;
}

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
