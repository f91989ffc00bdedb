// CONNECTs to the origins of a mirror with `intercept: true`, served by the mirror: the client's
// ClientHello is read first, and only when it names the host the client CONNECTed to, and our CA
// may sign that name, is TLS terminated here (a leaf for that name, ALPN http/1.1) and the
// requests inside handed to the mirror. Anything else (no server name, another name, not TLS) is
// carried to the origin untouched, ClientHello included, through the mirror's fallback.
//
//   CONNECT host:443 ─► 200 ─► ClientHello ─ names host, CA may sign ─► TLS ─► HTTP ─► mirror
//                                         └ otherwise ───────────────► fallback ─► origin (bytes as sent)
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { ProxyError } from '../errors.js';
import { MAX_CLIENT_HELLO, parseClientHello, type ClientHello } from '../protocol/tls-client-hello.js';

/** the TLS alerts of a client that does not trust our certificate */
const UNTRUSTED = /UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|DECRYPT_ERROR/;

/** What interception needs of the local CA (src/ca/): a leaf for a name it may sign, else undefined. */
export interface LeafIssuer {
  contextFor(name: string): Promise<SecureContext | undefined>;
}

type Terminated =
  /** the client's TLS, terminated with our leaf: its requests are for the mirror */
  | { tls: TLSSocket }
  /** not for us: tunnel the client (its ClientHello put back) to the origin */
  | { passOn: string };

export class Interception {
  /** the local CA now (the daemon's: made and renewed as configs come), or undefined while there is none */
  issuer: () => LeafIssuer | undefined = () => undefined;

  /** Reads the ClientHello of a client that was told its tunnel is up, and terminates its TLS when it is for `host`. */
  async terminate(client: Socket, host: string, timeoutMs: number): Promise<Terminated> {
    const { hello, bytes } = await readHello(client, timeoutMs);
    client.unshift(bytes); // TLS, or the tunnel to the origin, reads them again
    if (hello.kind === 'error') return { passOn: `not TLS (${hello.reason})` };
    if (!hello.sni) return { passOn: 'the client named no server (no SNI)' };
    if (hello.sni !== host.toLowerCase()) return { passOn: `the client asked for ${hello.sni}, not ${host}` };
    const context = await this.issuer()?.contextFor(hello.sni).catch(() => undefined);
    if (!context) return { passOn: `the local CA may not sign ${hello.sni}` };
    // the listener accepts half-open sockets (for tunnels); HTTP over TLS closes when the client does
    client.allowHalfOpen = false;
    const tls = new TLSSocket(client, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] });
    return { tls };
  }
}

/**
 * The error a TLS handshake failed with (none: the client hung up), as the client's verdict on our
 * certificate when it was one. Some clients (curl with OpenSSL) hang up without an alert when
 * they do not trust a certificate.
 */
export function handshakeFailure(err: NodeJS.ErrnoException | undefined, host: string): ProxyError {
  const fix = "trust proxyd's local CA as `proxyctl ca trust-info` says, or set intercept: false";
  if (!err || err.code === 'ECONNRESET' || err.code === 'EPIPE') {
    return new ProxyError('protocol', `the client hung up during the TLS handshake for ${host}: it may not trust proxyd's certificate; ${fix}`, 'UNTRUSTED_CA', 'client');
  }
  const code = String(err.code ?? err.message);
  if (UNTRUSTED.test(code)) return new ProxyError('protocol', `the client does not trust proxyd's certificate for ${host} (${code.replace(/^ERR_SSL_/, '')}): ${fix}`, 'UNTRUSTED_CA', 'client');
  return new ProxyError('protocol', `TLS handshake with the client for ${host} failed: ${code}`, code, 'client');
}

/** Everything the client sent until its ClientHello is whole (or is not one), within the handshake timeout. */
function readHello(client: Socket, timeoutMs: number): Promise<{ hello: Exclude<ClientHello, { kind: 'incomplete' }>; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    let bytes = Buffer.alloc(0);
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.removeListener('data', onData);
      client.removeListener('close', onClose);
      client.pause();
      if (err) reject(err);
    };
    const onData = (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      const hello = parseClientHello(bytes);
      if (hello.kind === 'incomplete' && bytes.length <= MAX_CLIENT_HELLO + 64) return;
      done();
      resolve({ hello: hello.kind === 'incomplete' ? { kind: 'error', reason: 'a ClientHello too large' } : hello, bytes });
    };
    const onClose = () => done(new ProxyError('reset', 'the client left before its TLS handshake', undefined, 'client'));
    const timer = setTimeout(() => done(new ProxyError('timeout', `no TLS ClientHello within ${timeoutMs} ms`, undefined, 'client')), timeoutMs);
    client.on('data', onData);
    client.once('close', onClose);
    client.resume();
  });
}
