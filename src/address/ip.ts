// IP address text ↔ bytes, canonical forms, and CIDR prefixes: shared by the SOCKS5 codec, the
// router, the resolver, the loop guard and the allow list.
import { isIP } from 'node:net';

/** 16 bytes → canonical (RFC 5952) text, via the WHATWG URL formatter. */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Valid IPv6 text (any form, including an embedded IPv4 tail) → 16 bytes. */
export function ipv6Bytes(text: string): Uint8Array {
  let s = text;
  const v4 = s.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    s = s.slice(0, -v4[1]!.length) + `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const double = s.indexOf('::');
  const head = (double >= 0 ? s.slice(0, double) : s).split(':').filter(Boolean);
  const tail = double >= 0 ? s.slice(double + 2).split(':').filter(Boolean) : [];
  const groups = double >= 0 ? [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/** An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, `::ffff:102:304`) → `1.2.3.4`; anything else unchanged. */
export function unmapIPv4(address: string): string {
  if (isIP(address) !== 6 || !/ffff/i.test(address)) return address;
  const b = ipv6Bytes(address);
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return address;
  return b[10] === 0xff && b[11] === 0xff ? `${b[12]}.${b[13]}.${b[14]}.${b[15]}` : address;
}

/**
 * The one text form of an IP address, whether a client sent it, a config named it or a resolver
 * returned it; undefined for one that must not be used.
 * - IPv4-mapped IPv6 (`::ffff:127.0.0.2`) becomes the IPv4 address the kernel connects to;
 * - IPv6 is written in RFC 5952 form (`0:0::1` → `::1`);
 * - a zone id (`fe80::1%eth0`) is refused: rules would see an address other than the one dialled.
 */
export function canonicalAddress(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6 || text.includes('%')) return undefined;
  const v4 = unmapIPv4(text);
  return v4 !== text ? v4 : new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/**
 * The address a connection to `host` reaches, for matching and the loop guard: the unspecified
 * addresses (`0.0.0.0`, `::`) are the local host (connect() sends them to loopback); anything else
 * is itself. (As a bind address, `0.0.0.0` keeps its own meaning: this is for targets only.)
 */
export function reachedAddress(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

export interface Cidr {
  family: 4 | 6;
  /** network bytes (4 or 16), host bits cleared */
  bytes: Uint8Array;
  prefix: number;
}

/** Parses `a.b.c.d/n`, `v6/n`, or a bare address (a host route). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = unmapIPv4(slash >= 0 ? text.slice(0, slash) : text);
  const family = isIP(addr);
  if (family !== 4 && family !== 6) return undefined;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined;
    prefix = Number(p);
  }
  const bytes = family === 4 ? Uint8Array.from(addr.split('.').map(Number)) : ipv6Bytes(addr);
  return { family, bytes: maskBytes(bytes, prefix), prefix };
}

export function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = bytes[i]! & ((0xff00 >> bits) & 0xff);
  }
  return out;
}

export function isLoopback(address: string): boolean {
  const a = unmapIPv4(address);
  return a === '::1' || a === 'localhost' || (isIP(a) === 4 && a.startsWith('127.'));
}

/** An address that only this host or its link can be reached at: loopback, link-local (169.254/16, fe80::/10), unspecified. */
export function isHostLocal(address: string): boolean {
  const a = unmapIPv4(address);
  if (isLoopback(a)) return true;
  if (isIP(a) === 4) return a === '0.0.0.0' || a.startsWith('169.254.');
  if (isIP(a) !== 6) return false;
  const bytes = ipv6Bytes(a);
  return bytes.every((b) => b === 0) || (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80);
}

/** The address is inside the CIDR (an IPv4-mapped one as IPv4): one CIDR at a time, for short lists (the doctor's bogons, NO_PROXY); the router has its CIDR table. */
export function cidrContains(c: Cidr, address: string): boolean {
  const a = unmapIPv4(address);
  const family = isIP(a);
  if (family !== c.family) return false;
  const bytes = family === 4 ? Uint8Array.from(a.split('.').map(Number)) : ipv6Bytes(a);
  const masked = maskBytes(bytes, c.prefix);
  return masked.every((b, i) => b === c.bytes[i]);
}
