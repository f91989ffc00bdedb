// SOCKS5 client-side wire codec (RFC 1928, RFC 1929): what proxyd sends an upstream SOCKS5 proxy,
// and strict parsers for its answers, in the shape of socks5.ts's parsers. Anything an upstream
// sends that is not exactly a SOCKS5 answer is an error: its bytes must never reach a client as
// if they came from the target.
import { isIP } from 'node:net';
import { ipv6Bytes, type Target } from '../address/index.js';
import { ATYP_DOMAIN, ATYP_IPV4, ATYP_IPV6, CMD_CONNECT, METHOD_NO_AUTH, METHOD_USER_PASS, REPLY, VERSION, type Parsed } from './socks5.js';

const INCOMPLETE = { kind: 'incomplete' } as const;
const LAST_REPLY: number = REPLY.addressTypeNotSupported;

/** Greeting: VER NMETHODS METHODS..., offering user and password only when proxyd has them. */
export function encodeGreeting(withPassword: boolean): Buffer {
  return Buffer.from(withPassword ? [VERSION, 2, METHOD_NO_AUTH, METHOD_USER_PASS] : [VERSION, 1, METHOD_NO_AUTH]);
}

/** RFC 1929 request: VER(1) ULEN UNAME PLEN PASSWD (each at most 255 bytes: the config checks). */
export function encodeUserPass(username: string, password: string): Buffer {
  const user = Buffer.from(username);
  const pass = Buffer.from(password);
  return Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]);
}

/** CONNECT request: VER CMD RSV ATYP DST.ADDR DST.PORT (a name is sent as a name). */
export function encodeConnect(target: Target): Buffer {
  const family = isIP(target.host);
  const address = family === 4 ? Buffer.from([ATYP_IPV4, ...target.host.split('.').map(Number)])
    : family === 6 ? Buffer.from([ATYP_IPV6, ...ipv6Bytes(target.host)])
      : Buffer.concat([Buffer.from([ATYP_DOMAIN, Buffer.byteLength(target.host)]), Buffer.from(target.host)]);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(target.port);
  return Buffer.concat([Buffer.from([VERSION, CMD_CONNECT, 0x00]), address, port]);
}

/** Method choice: VER METHOD. */
export function parseMethodChoice(buf: Uint8Array): Parsed<{ method: number }> {
  if (buf.length < 2) return INCOMPLETE;
  if (buf[0] !== VERSION) return { kind: 'error', reason: `version byte 0x${hex(buf[0]!)} in the method choice` };
  return { kind: 'ok', method: buf[1]!, length: 2 };
}

/** RFC 1929 status: VER STATUS (the version byte is not checked: servers send 0x01 or 0x05). */
export function parseAuthStatus(buf: Uint8Array): Parsed<{ ok: boolean }> {
  if (buf.length < 2) return INCOMPLETE;
  return { kind: 'ok', ok: buf[1] === 0x00, length: 2 };
}

/** Reply: VER REP RSV ATYP BND.ADDR BND.PORT, whatever REP says. */
export function parseReply(buf: Uint8Array): Parsed<{ reply: number }> {
  if (buf.length < 4) return INCOMPLETE;
  const version = buf[0]!, reply = buf[1]!, reserved = buf[2]!, atyp = buf[3]!;
  if (version !== VERSION) return { kind: 'error', reason: `version byte 0x${hex(version)} in the reply` };
  if (reply > LAST_REPLY) return { kind: 'error', reason: `reply code 0x${hex(reply)}` };
  if (reserved !== 0x00) return { kind: 'error', reason: `reserved byte 0x${hex(reserved)} in the reply` };
  let length: number;
  if (atyp === ATYP_IPV4) length = 4 + 4 + 2;
  else if (atyp === ATYP_IPV6) length = 4 + 16 + 2;
  else if (atyp === ATYP_DOMAIN) {
    if (buf.length < 5) return INCOMPLETE;
    length = 5 + buf[4]! + 2;
  } else return { kind: 'error', reason: `address type 0x${hex(atyp)} in the reply` };
  return buf.length < length ? INCOMPLETE : { kind: 'ok', reply, length };
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
