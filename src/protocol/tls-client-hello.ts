// The server name a TLS client asks for (RFC 8446 §4.1.2, RFC 6066 §3), read from the first
// bytes of its ClientHello without answering it: pure functions over bytes. The ClientHello may
// span several records; everything received so far is parsed each time.
//
//   record   type 22 (handshake) ‖ version (2) ‖ length (2) ‖ fragment
//   message  type 1 (client_hello) ‖ length (3) ‖ version (2) ‖ random (32) ‖ session id (1+n)
//            ‖ cipher suites (2+n) ‖ compression methods (1+n) ‖ extensions (2+n)
//   server_name (extension 0)   list length (2) ‖ name type 0 ‖ length (2) ‖ host name

export type ClientHello =
  | { kind: 'incomplete' }
  /** `sni`: the host name asked for, lower case; undefined when the client named none */
  | { kind: 'ok'; sni: string | undefined }
  /** not a TLS ClientHello (another protocol, or malformed) */
  | { kind: 'error'; reason: string };

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const SERVER_NAME = 0;
const HOST_NAME = 0;
/** a ClientHello with post-quantum key shares is about 2 KiB; one of more than this is refused */
export const MAX_CLIENT_HELLO = 16 * 1024;

export function parseClientHello(bytes: Buffer): ClientHello {
  // the handshake message, joined from the fragments of the records received so far
  const fragments: Buffer[] = [];
  let at = 0;
  let length = -1;
  let have = 0;
  while (length < 0 || have < length + 4) {
    if (bytes.length > at && bytes[at] !== HANDSHAKE) return { kind: 'error', reason: at === 0 ? 'not a TLS handshake' : 'a record that is not a handshake inside the ClientHello' };
    if (bytes.length > at + 1 && bytes[at + 1] !== 3) return { kind: 'error', reason: 'not a TLS record version' };
    if (bytes.length < at + 5) return { kind: 'incomplete' };
    const size = bytes.readUInt16BE(at + 3);
    if (size === 0) return { kind: 'error', reason: 'an empty handshake record' };
    if (bytes.length < at + 5 + size) return { kind: 'incomplete' };
    fragments.push(bytes.subarray(at + 5, at + 5 + size));
    have += size;
    at += 5 + size;
    if (length < 0 && have >= 4) {
      const head = Buffer.concat(fragments);
      if (head[0] !== CLIENT_HELLO) return { kind: 'error', reason: 'the first handshake message is not a ClientHello' };
      length = head.readUIntBE(1, 3);
      if (length > MAX_CLIENT_HELLO) return { kind: 'error', reason: `a ClientHello of ${length} bytes` };
    }
  }
  return serverName(Buffer.concat(fragments).subarray(4, 4 + length));
}

function serverName(hello: Buffer): ClientHello {
  const bad = { kind: 'error', reason: 'a malformed ClientHello' } as const;
  let at = 2 + 32; // version, random
  if (hello.length < at + 1) return bad;
  at += 1 + hello[at]!; // session id
  if (hello.length < at + 2) return bad;
  at += 2 + hello.readUInt16BE(at); // cipher suites
  if (hello.length < at + 1) return bad;
  at += 1 + hello[at]!; // compression methods
  if (hello.length === at) return { kind: 'ok', sni: undefined }; // no extensions at all
  if (hello.length < at + 2) return bad;
  const end = at + 2 + hello.readUInt16BE(at);
  if (end > hello.length) return bad;
  for (at += 2; at + 4 <= end;) {
    const type = hello.readUInt16BE(at);
    const size = hello.readUInt16BE(at + 2);
    at += 4;
    if (at + size > end) return bad;
    if (type === SERVER_NAME) {
      const ext = hello.subarray(at, at + size);
      if (ext.length < 5 || ext.readUInt16BE(0) !== ext.length - 2 || ext[2] !== HOST_NAME) return bad;
      const nameLength = ext.readUInt16BE(3);
      if (5 + nameLength > ext.length || nameLength === 0) return bad;
      const name = ext.toString('latin1', 5, 5 + nameLength);
      // RFC 6066: the host name in ASCII, no trailing dot, never an IP literal
      if (!/^[A-Za-z0-9._-]+$/.test(name)) return bad;
      return { kind: 'ok', sni: name.toLowerCase().replace(/\.$/, '') };
    }
    at += size;
  }
  return { kind: 'ok', sni: undefined };
}
