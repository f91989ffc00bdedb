// The rule kinds that match host names: DOMAIN, DOMAIN-SUFFIX, DOMAIN-KEYWORD, DOMAIN-WILDCARD.
import { normalizeHost } from '../address/index.js';
import type { Facts, RuleKind, RuleLine } from './rule-kind.js';

export const DOMAIN: RuleKind<string> = {
  parse: domain,
  insert: (t, d, id) => t.domains.add(d, 'exact', id),
  explain: names((host, name) => `${host} is not ${name}`),
};

export const DOMAIN_SUFFIX: RuleKind<string> = {
  parse: (v) => domain(v.replace(/^\./, '')),
  insert: (t, d, id) => t.domains.add(d, 'suffix', id),
  explain: names((host, name) => `${host} is not ${name} or below it`),
};

export const DOMAIN_KEYWORD: RuleKind<string> = {
  parse: (v) => (/^[a-z0-9_.-]+$/i.test(v) ? v.toLowerCase() : { error: `"${v}" is not a domain keyword` }),
  insert: (t, k, id) => t.keywords.add(k, id),
  explain: names((host, keyword) => `${host} does not contain "${keyword}"`),
};

export const DOMAIN_WILDCARD: RuleKind<string> = {
  parse: (v) =>
    /^[a-z0-9_.*?[\]-]{1,253}$/i.test(v) && !/\[[^\]]*$/.test(v) ? v.toLowerCase() : { error: `"${v}" is not a wildcard domain pattern` },
  insert: (t, p, id) => t.domains.addWildcard(p, id),
  explain: names((host, pattern) => `${host} does not match ${pattern}`),
};

/** A domain name, normalised (lower case, no trailing dot), that is not an IP address. */
export function domain(value: string): string | { error: string } {
  const host = normalizeHost(value);
  return host && !host.includes(':') && !/^[\d.]+$/.test(host) ? host : { error: `"${value}" is not a domain name` };
}

/** A domain rule never matches an IP literal; its payload is shown as parsed (lower case, no leading dot). */
function names(say: (host: string, payload: string) => string): (rule: RuleLine<string>, facts: Facts) => string {
  return ({ kind, payload }, { target, address }) =>
    address ? `${target.host} is an IP address; ${kind} matches names only` : say(target.host, payload);
}
