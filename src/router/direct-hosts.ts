// The names and networks that the rules send DIRECT, in the forms tools take for "no proxy here"
// (NO_PROXY, git's http.<url>.proxy "", GOPRIVATE): internal hosts that need not pass through proxyd.
// Only what such a setting can say exactly is taken: names, names below a suffix, CIDRs; keywords,
// wildcards, ports and MATCH are left to proxyd, which sends them DIRECT all the same.
import { normalizeHost, parseCidr } from '../address/index.js';

export const DIRECT_HOST_KINDS = ['name', 'suffix', 'below', 'cidr'] as const;

export interface DirectHost {
  /** a host name, or a CIDR */
  value: string;
  /** name: exactly it; suffix: it and every name below it; below: only the names below it */
  kind: (typeof DIRECT_HOST_KINDS)[number];
  /** the rule line, or `RULE-SET line: entry` */
  rule: string;
}

/** rule lines in order, a RULE-SET's entries as written (Router.rules()) */
type RuleLines = ReadonlyArray<{ text: string; target: string; entries?: readonly string[] }>;

/** The DIRECT names and networks, in rule order, at most `limit` of them; `omitted` counts the rest. */
export function directHosts(rules: RuleLines, limit: number): { hosts: DirectHost[]; omitted: number } {
  const hosts: DirectHost[] = [];
  const seen = new Set<string>();
  let omitted = 0;
  const add = (host: Omit<DirectHost, 'rule'> | undefined, rule: string) => {
    if (!host || seen.has(`${host.kind} ${host.value}`)) return;
    seen.add(`${host.kind} ${host.value}`);
    if (hosts.length < limit) hosts.push({ ...host, rule });
    else omitted++;
  };
  for (const r of rules) {
    if (r.target !== 'DIRECT') continue;
    const [kind, value] = r.text.split(',').map((f) => f.trim());
    if (kind?.toUpperCase() === 'RULE-SET') for (const entry of r.entries ?? []) add(setEntry(entry), `${r.text}: ${entry}`);
    else add(classical(kind ?? '', value ?? ''), r.text);
  }
  return { hosts, omitted };
}

/** `KIND,VALUE`: DOMAIN, DOMAIN-SUFFIX, IP-CIDR, IP-CIDR6 */
function classical(kind: string, value: string): Omit<DirectHost, 'rule'> | undefined {
  switch (kind.toUpperCase()) {
    case 'DOMAIN':
      return name(value, 'name');
    case 'DOMAIN-SUFFIX':
      return name(value.replace(/^\./, ''), 'suffix');
    case 'IP-CIDR':
    case 'IP-CIDR6':
      return cidr(value);
    default:
      return undefined;
  }
}

/** a rule-set entry: `+.name`, `.name`, `name`, a CIDR, or a classical line (`*.name`, one label below, is not taken) */
function setEntry(entry: string): Omit<DirectHost, 'rule'> | undefined {
  if (entry.includes(',')) {
    const [kind, value] = entry.split(',').map((f) => f.trim());
    return classical(kind ?? '', value ?? '');
  }
  if (parseCidr(entry)) return cidr(entry);
  if (entry.startsWith('+.')) return name(entry.slice(2), 'suffix');
  if (entry.startsWith('.')) return name(entry.slice(1), 'below');
  if (entry.startsWith('*')) return undefined;
  return name(entry, 'name');
}

function name(value: string, kind: 'name' | 'suffix' | 'below'): Omit<DirectHost, 'rule'> | undefined {
  const host = normalizeHost(value);
  return host && /^[a-z0-9_.-]+$/.test(host) && !/^[\d.]+$/.test(host) ? { value: host, kind } : undefined;
}

/** a network; `/0` would be every address, which no tool should be told to reach without proxyd */
function cidr(value: string): Omit<DirectHost, 'rule'> | undefined {
  const c = parseCidr(value);
  return c && c.prefix > 0 ? { value: value.includes('/') ? value : `${value}/${c.prefix}`, kind: 'cidr' } : undefined;
}
