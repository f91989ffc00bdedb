// TLS as a client on top of a socket proxyd dialled (through any route): the certificate is
// checked against the name or address with Node's default trust, and the handshake ends with the
// deadline. An address is no server name (RFC 6066): SNI is sent for names only.
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Cancel } from './deadline.js';
import { classify, ProxyError } from './errors.js';

/** `host`: the name or address the certificate must show (an IPv6 address without brackets) */
export function tlsOver(socket: Socket, host: string, cancel: Cancel): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, host, servername: isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'] });
    const stopWatching = cancel.onAbort(() => tls.destroy());
    tls.once('secureConnect', () => {
      stopWatching();
      tls.removeListener('error', onError);
      resolve(tls);
    });
    const onError = (err: Error) => {
      stopWatching();
      socket.destroy();
      const e = classify(err, 'origin');
      reject(new ProxyError(e.cls === 'internal' ? 'tls' : e.cls, `TLS with ${host}: ${e.message}`, e.code, 'origin'));
    };
    tls.once('error', onError);
  });
}
