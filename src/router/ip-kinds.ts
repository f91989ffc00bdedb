// The rule kinds that match addresses: IP-CIDR and IP-CIDR6, against an IP-literal target or,
// without no-resolve, against the addresses a host name resolves to.
import { parseCidr, type Cidr } from '../address/index.js';
import type { Facts, RuleKind, RuleLine } from './rule-kind.js';

export const IP_CIDR: RuleKind<Cidr> = {
  parse: cidr(),
  insert: (t, c, id, noResolve) => t.addCidr(c, id, noResolve),
  explain: notInCidr,
  ip: true,
};

export const IP_CIDR6: RuleKind<Cidr> = {
  parse: cidr(6),
  insert: (t, c, id, noResolve) => t.addCidr(c, id, noResolve),
  explain: notInCidr,
  ip: true,
};

function cidr(family?: 4 | 6) {
  return (value: string): Cidr | { error: string } => {
    const c = parseCidr(value);
    if (!c) return { error: `"${value}" is not an IP address or CIDR` };
    if (family && c.family !== family) return { error: `"${value}" is not an IPv${family} CIDR` };
    return c;
  };
}

function notInCidr({ value: cidr, noResolve }: RuleLine<Cidr>, { target, address, resolved }: Facts): string {
  if (address) return `${target.host} is not in ${cidr}`;
  if (noResolve) return `IP rule skipped: no-resolve (${target.host} is a name)`;
  // a resolving IP rule before the match made match() look the name up
  return resolved?.length
    ? `no address of ${target.host} is in ${cidr} (${resolved.join(', ')})`
    : `${target.host} did not resolve, so no address of it is in ${cidr}`;
}
