// SOCKS5 server-side wire codec (RFC 1928, RFC 1929): pure functions over bytes.
// Each parser takes everything received so far and answers one of
//   { kind: 'incomplete' }                     wait for more bytes
//   { kind: 'ok', ..., length }                a whole message of `length` bytes
//   { kind: 'error', reply?, reason }          malformed; `reply` is the code to send, if any
import { isIP } from 'node:net';
import { canonicalAddress, formatIPv6, ipv6Bytes, normalizeHost, type Target } from '../address/index.js';

export const VERSION = 0x05;
export const METHOD_NO_AUTH = 0x00;
export const METHOD_USER_PASS = 0x02;
export const METHOD_NONE_ACCEPTABLE = 0xff;
export const CMD_CONNECT = 0x01;
export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

export const REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type Parsed<T> =
  | { kind: 'incomplete' }
  | ({ kind: 'ok'; length: number } & T)
  | { kind: 'error'; reason: string; reply?: number };

const INCOMPLETE = { kind: 'incomplete' } as const;

/** Client greeting: VER NMETHODS METHODS... */
export function parseGreeting(buf: Uint8Array): Parsed<{ methods: number[] }> {
  if (buf.length < 2) return INCOMPLETE;
  if (buf[0] !== VERSION) return { kind: 'error', reason: `not SOCKS5 (version byte 0x${hex(buf[0]!)})` };
  const n = buf[1]!;
  if (n === 0) return { kind: 'error', reason: 'greeting offers no methods' };
  if (buf.length < 2 + n) return INCOMPLETE;
  return { kind: 'ok', methods: Array.from(buf.subarray(2, 2 + n)), length: 2 + n };
}

/** RFC 1929 sub-negotiation: VER(1) ULEN UNAME PLEN PASSWD */
export function parseUserPass(buf: Uint8Array): Parsed<{ username: string; password: string }> {
  if (buf.length < 2) return INCOMPLETE;
  if (buf[0] !== 0x01) return { kind: 'error', reason: `bad auth version 0x${hex(buf[0]!)}` };
  const ulen = buf[1]!;
  if (buf.length < 2 + ulen + 1) return INCOMPLETE;
  const plen = buf[2 + ulen]!;
  const length = 3 + ulen + plen;
  if (buf.length < length) return INCOMPLETE;
  const dec = new TextDecoder();
  return {
    kind: 'ok',
    username: dec.decode(buf.subarray(2, 2 + ulen)),
    password: dec.decode(buf.subarray(3 + ulen, length)),
    length,
  };
}

/** Request: VER CMD RSV ATYP DST.ADDR DST.PORT. Only CONNECT is supported. */
export function parseRequest(buf: Uint8Array): Parsed<{ target: Target }> {
  if (buf.length < 5) return INCOMPLETE;
  if (buf[0] !== VERSION) return { kind: 'error', reason: `bad request version 0x${hex(buf[0]!)}`, reply: REPLY.generalFailure };
  const cmd = buf[1]!;
  const atyp = buf[3]!;
  let addrEnd: number;
  if (atyp === ATYP_IPV4) addrEnd = 4 + 4;
  else if (atyp === ATYP_IPV6) addrEnd = 4 + 16;
  else if (atyp === ATYP_DOMAIN) addrEnd = 5 + buf[4]!;
  else return { kind: 'error', reason: `address type 0x${hex(atyp)} not supported`, reply: REPLY.addressTypeNotSupported };
  const length = addrEnd + 2;
  if (buf.length < length) return INCOMPLETE;
  if (cmd !== CMD_CONNECT) {
    const name = cmd === 0x02 ? 'BIND' : cmd === 0x03 ? 'UDP ASSOCIATE' : `0x${hex(cmd)}`;
    return { kind: 'error', reason: `command ${name} not supported`, reply: REPLY.commandNotSupported };
  }
  const port = (buf[addrEnd]! << 8) | buf[addrEnd + 1]!;
  let host: string | undefined;
  if (atyp === ATYP_IPV4) host = Array.from(buf.subarray(4, 8)).join('.');
  else if (atyp === ATYP_IPV6) host = canonicalAddress(formatIPv6(buf.subarray(4, 20)));
  else {
    host = normalizeHost(new TextDecoder().decode(buf.subarray(5, addrEnd)));
  }
  if (!host) return { kind: 'error', reason: `invalid host ${JSON.stringify(new TextDecoder().decode(buf.subarray(5, addrEnd)).slice(0, 64))}`, reply: REPLY.hostUnreachable };
  if (port === 0) return { kind: 'error', reason: 'port 0', reply: REPLY.hostUnreachable };
  return { kind: 'ok', target: { host, port }, length };
}

export function encodeMethodChoice(method: number): Buffer {
  return Buffer.from([VERSION, method]);
}

export function encodeAuthStatus(ok: boolean): Buffer {
  return Buffer.from([0x01, ok ? 0x00 : 0x01]);
}

/** A full-length reply (RFC 1928 §6). BND.ADDR defaults to 0.0.0.0:0 when there is none to tell. */
export function encodeReply(code: number, bound?: { address: string; port: number }): Buffer {
  const family = bound ? isIP(bound.address) : 0;
  if (bound && family === 6) {
    const out = Buffer.alloc(22);
    out[0] = VERSION; out[1] = code; out[3] = ATYP_IPV6;
    ipv6Bytes(bound.address).forEach((b, i) => { out[4 + i] = b; });
    out.writeUInt16BE(bound.port, 20);
    return out;
  }
  const out = Buffer.alloc(10);
  out[0] = VERSION; out[1] = code; out[3] = ATYP_IPV4;
  if (bound && family === 4) {
    bound.address.split('.').forEach((p, i) => { out[4 + i] = Number(p); });
    out.writeUInt16BE(bound.port, 8);
  }
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
