// The host names a CA may sign, as X.509 name constraints (RFC 5280 §4.2.1.10), and our own
// reading of them: the one openssl and Go's crypto/x509 apply (test/unit/ca-verify.test.ts).
import { isIP } from 'node:net';

/** dNSName subtrees: `a.example` is that name and every name below it; `.a.example` only the names below */
export interface Constraints {
  permitted: string[];
  excluded: string[];
}

/** a host name as the CA handles it (lower case, no trailing dot), or undefined for an IP address or a non-name */
export function hostName(name: string): string | undefined {
  const host = name.toLowerCase().replace(/\.$/, '');
  if (isIP(host) || !/^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/.test(host)) return undefined;
  return host;
}

/**
 * Permits exactly `names`. A permitted dNSName also permits every name below it, so a CA for
 * pypi.org could sign upload.pypi.org (where twine sends its tokens); each name's subdomains are
 * excluded (`.pypi.org`, which openssl, Go, NSS and BoringSSL read as "below only"), so a stolen key
 * cannot impersonate them. Only when another configured name lies below one are that one's
 * subdomains left permitted: an exclusion beats every permission, and RFC 5280 has no "except".
 * IP addresses are not named here: the certificate excludes them all (certificate.ts).
 */
export function constraintsFor(names: readonly string[]): Constraints {
  const permitted = [...new Set(names)].sort();
  const excluded = permitted.filter((n) => !permitted.some((other) => other.endsWith(`.${n}`))).map((n) => `.${n}`);
  return { permitted, excluded };
}

export function permits(c: Constraints, name: string): boolean {
  return c.permitted.some((base) => matches(name, base)) && !c.excluded.some((base) => matches(name, base));
}

function matches(name: string, base: string): boolean {
  return base.startsWith('.') ? name.endsWith(base) : name === base || name.endsWith(`.${base}`);
}
