// Header rules of a forwarding proxy (RFC 9110 §7.6): hop-by-hop headers stop here, Via is added.
// Pure functions over Node's raw header lists ([name, value, name, value, …]).

/** Always hop-by-hop, plus whatever the Connection header names. */
const HOP_BY_HOP = new Set([
  'connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect',
]);

function connectionTokens(raw: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'connection' || name === 'proxy-connection') {
      for (const t of raw[i + 1]!.split(',')) if (t.trim()) named.add(t.trim().toLowerCase());
    }
  }
  return named;
}

/** The end-to-end headers of a message, as a flat list, with our Via appended. */
export function endToEndHeaders(raw: readonly string[], via: string): string[] {
  const named = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('Via', via);
  return out;
}

/**
 * The headers of a request forwarded in absolute form: end-to-end ones, with Host replaced by the
 * target's authority (RFC 9112 §3.2.2: a proxy ignores the received Host), so a client cannot name
 * one host in the URI and front another, perhaps rejected, one on a shared origin in Host.
 */
export function forwardedRequestHeaders(raw: readonly string[], via: string, authority: string): string[] {
  const out = endToEndHeaders(raw, via);
  for (let i = out.length - 2; i >= 0; i -= 2) if (out[i]!.toLowerCase() === 'host') out.splice(i, 2);
  out.unshift('Host', authority);
  return out;
}

/** undici's response headers (lower-case object, arrays for repeats) → a flat [name, value, …] list. */
export function flattenHeaders(headers: Record<string, string | string[] | undefined>): string[] {
  const raw: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) raw.push(name, v);
    else raw.push(name, value);
  }
  return raw;
}

/** True when a Via header (any of its entries) carries our pseudonym: the request came round again. */
export function viaHasLoop(via: string | undefined, pseudonym: string): boolean {
  if (!via) return false;
  return via.split(',').some((hop) => hop.trim().split(/\s+/)[1] === pseudonym);
}
