// Where a connection goes: a host (name or canonical IP literal) and a port, parsed from and
// formatted to the `host:port` / `[v6]:port` text that clients, configs and logs use.
import { isIP } from 'node:net';
import { canonicalAddress } from './ip.js';

export interface Target {
  /** a host name (lower case, no trailing dot) or a canonical IP literal without brackets */
  host: string;
  port: number;
}

/** `host:port`, with brackets around IPv6 literals. */
export function formatTarget(t: Target): string {
  return isIP(t.host) === 6 ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$/;

/**
 * Lower-cases a host, strips brackets and one trailing dot; undefined when it is not a host.
 * Addresses come out canonical (see canonicalAddress), so rules and logs see the address that
 * will be dialled; numeric IPv4 spellings that resolvers accept (`127.1`, `0x7f.0.0.1`,
 * `2130706433`, `0`) become dotted quads; IPv6 zone ids (`%eth0`) are refused.
 * (Whether `0.0.0.0` means "every address" or "this host" depends on the use: see reachedAddress.)
 */
export function normalizeHost(raw: string): string | undefined {
  let h = raw.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) {
    h = h.slice(1, -1);
    return isIP(h) === 6 ? canonicalAddress(h) : undefined;
  }
  if (isIP(h)) return canonicalAddress(h);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (!HOST_NAME.test(h)) return undefined;
  // a name whose last label is a number is an IPv4 address in some spelling (WHATWG URL rules)
  if (/(?:^|\.)(?:\d+|0x[0-9a-f]*)$/.test(h)) {
    try {
      const v4 = new URL(`http://${h}/`).hostname;
      return isIP(v4) === 4 ? canonicalAddress(v4) : undefined;
    } catch {
      return undefined;
    }
  }
  return h;
}

/** Parses `host:port` / `[v6]:port` (port required unless defaultPort is given; 0 only for binds). */
export function parseHostPort(raw: string, defaultPort?: number, allowPortZero = false): Target | undefined {
  const s = raw.trim();
  let hostPart: string;
  let portPart: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return undefined;
    hostPart = s.slice(0, close + 1);
    const rest = s.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portPart = rest ? rest.slice(1) : undefined;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0 && s.indexOf(':') !== colon) return undefined; // bare IPv6 needs brackets
    hostPart = colon >= 0 ? s.slice(0, colon) : s;
    portPart = colon >= 0 ? s.slice(colon + 1) : undefined;
  }
  const host = normalizeHost(hostPart);
  if (!host) return undefined;
  let port = defaultPort;
  if (portPart !== undefined) {
    if (!/^\d{1,5}$/.test(portPart)) return undefined;
    port = Number(portPart);
  }
  if (port === undefined || port < (allowPortZero ? 0 : 1) || port > 65535) return undefined;
  return { host, port };
}
